"""The Adam sweep on Rosenbrock (a=1, b=100) from (-1.2, 1), vectorized over configurations, in
numpy (f64 and f32) and, when installed, JAX (jit(vmap(scan)), f64 and f32).

    python3 crates/downhill-cli/scripts/sweep_reference.py [lr|grid] [CONFIGS] [STEPS]

lr (default): CONFIGS learning rates log-spaced over 1e-4..1e-1 with beta1 = 0.9, the same sweep as
    downhill sweep --objective rosenbrock --optimizer 'adam:lr=1e-4..1e-1:log:10000' --start -1.2,1
grid: sqrt(CONFIGS) learning rates x sqrt(CONFIGS) beta1 values over 0.8..0.99, the same as
    --optimizer 'adam:lr=1e-4..1e-1:log:100,beta1=0.8..0.99:100'

Every implementation computes the seed's operations in the seed's order. Prints one JSON object:
the best of 3 timings of each (Python start-up and, for JAX, compilation excluded; compile time is
reported separately). `downhill bench sweep --python P` runs this script and prints the ratios.
Set up: python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy jax
"""
import json
import sys
import time

import numpy as np

KIND = sys.argv[1] if len(sys.argv) > 1 else "lr"
CONFIGS = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
if KIND == "grid":
    side = int(round(CONFIGS ** 0.5))
    LR = np.repeat(np.logspace(-4, -1, side), side)
    B1 = np.tile(np.linspace(0.8, 0.99, side), side)
else:
    LR = np.logspace(-4, -1, CONFIGS)
    B1 = np.full(CONFIGS, 0.9)
B2, EPS = 0.999, 1e-8


def numpy_sweep(dtype):
    lr, b1 = LR.astype(dtype), B1.astype(dtype)
    x = np.full(lr.shape, -1.2, dtype)
    y = np.full(lr.shape, 1.0, dtype)
    mx = np.zeros_like(x); my = np.zeros_like(x); vx = np.zeros_like(x); vy = np.zeros_like(x)
    uniform = b1.min() == b1.max()
    for t in range(1, STEPS + 1):
        q = y - x * x
        gx = -2 * (1 - x) - 400 * x * q
        gy = 200 * q
        mx = b1 * mx + (1 - b1) * gx; my = b1 * my + (1 - b1) * gy
        vx = B2 * vx + (1 - B2) * gx * gx; vy = B2 * vy + (1 - B2) * gy * gy
        c1 = 1 - float(b1[0]) ** t if uniform else 1 - b1 ** t
        c2 = 1 - B2 ** t
        x = x - lr * (mx / c1) / (np.sqrt(vx / c2) + EPS)
        y = y - lr * (my / c1) / (np.sqrt(vy / c2) + EPS)
    return x, y


def best(f, reps=3):
    out = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); f(); out = min(out, time.perf_counter() - t)
    return out


result = {"kind": KIND, "configs": int(LR.size), "steps": STEPS, "numpy": np.__version__,
          "numpy_f64": best(lambda: numpy_sweep(np.float64)),
          "numpy_f32": best(lambda: numpy_sweep(np.float32))}
try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def make(dtype):
        def run(lr, b1):
            def step(s, t):
                x, y, mx, my, vx, vy = s
                q = y - x * x
                gx = -2 * (1 - x) - 400 * x * q; gy = 200 * q
                mx = b1 * mx + (1 - b1) * gx; my = b1 * my + (1 - b1) * gy
                vx = B2 * vx + (1 - B2) * gx * gx; vy = B2 * vy + (1 - B2) * gy * gy
                c1 = 1 - b1 ** t; c2 = 1 - B2 ** t
                x = x - lr * (mx / c1) / (jnp.sqrt(vx / c2) + EPS)
                y = y - lr * (my / c1) / (jnp.sqrt(vy / c2) + EPS)
                return (x, y, mx, my, vx, vy), None
            z = jnp.zeros((), dtype)
            s0 = (jnp.asarray(-1.2, dtype), jnp.asarray(1.0, dtype), z, z, z, z)
            s, _ = jax.lax.scan(step, s0, jnp.arange(1, STEPS + 1, dtype=dtype))
            return s[0], s[1]
        return jax.jit(jax.vmap(run))

    result["jax"] = jax.__version__
    for name, dtype in [("f64", jnp.float64), ("f32", jnp.float32)]:
        f = make(dtype)
        lr, b1 = jnp.asarray(LR, dtype), jnp.asarray(B1, dtype)
        t = time.perf_counter(); jax.block_until_ready(f(lr, b1)); compile_s = time.perf_counter() - t
        result[f"jax_{name}"] = best(lambda: jax.block_until_ready(f(lr, b1)))
        result[f"jax_{name}_compile"] = compile_s
except ImportError:
    result["jax"] = None
print(json.dumps(result))
