"""The 10,000-configuration x 1,000-step Adam sweep on Rosenbrock (a=1, b=100) from (-1.2, 1),
vectorized over configurations, in numpy (f64 and f32) and, when installed, PyTorch and JAX.

The same sweep as `downhill sweep --objective rosenbrock --optimizer
'adam:lr=1e-4..1e-1:log:100,beta1=0.8..0.99:100' --start -1.2,1 --steps 1000`. Prints one JSON
line per implementation with the best of 3 timings (JAX: compile time reported separately).
Set up: python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy torch jax
"""
import json
import time

import numpy as np

import sys

STEPS = 1000
# Default: 100 learning rates x 100 beta1 values. With the argument "lr": 10,000 learning rates,
# beta1 = 0.9 (downhill: --optimizer 'adam:lr=1e-4..1e-1:log:10000').
if sys.argv[1:] == ["lr"]:
    LR = np.logspace(-4, -1, 10000)
    B1 = np.full(10000, 0.9)
else:
    LR = np.repeat(np.logspace(-4, -1, 100), 100)
    B1 = np.tile(np.linspace(0.8, 0.99, 100), 100)
B2, EPS = 0.999, 1e-8


def numpy_sweep(dtype):
    lr, b1 = LR.astype(dtype), B1.astype(dtype)
    x = np.full(lr.shape, -1.2, dtype)
    y = np.full(lr.shape, 1.0, dtype)
    mx = np.zeros_like(x); my = np.zeros_like(x); vx = np.zeros_like(x); vy = np.zeros_like(x)
    for t in range(1, STEPS + 1):
        q = y - x * x
        gx = -2 * (1 - x) - 400 * x * q
        gy = 200 * q
        mx = b1 * mx + (1 - b1) * gx; my = b1 * my + (1 - b1) * gy
        vx = B2 * vx + (1 - B2) * gx * gx; vy = B2 * vy + (1 - B2) * gy * gy
        c1 = 1 - b1 ** t if b1.min() != b1.max() else 1 - float(b1[0]) ** t
        c2 = 1 - B2 ** t
        x = x - lr * (mx / c1) / (np.sqrt(vx / c2) + EPS)
        y = y - lr * (my / c1) / (np.sqrt(vy / c2) + EPS)
    return x, y


def best(f, reps=3):
    out = float("inf")
    for _ in range(reps):
        t = time.perf_counter(); f(); out = min(out, time.perf_counter() - t)
    return out


print(json.dumps({"impl": "numpy f64", "seconds": best(lambda: numpy_sweep(np.float64))}))
print(json.dumps({"impl": "numpy f32", "seconds": best(lambda: numpy_sweep(np.float32))}))
try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

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
        z = jnp.zeros(())
        s, _ = jax.lax.scan(step, (jnp.asarray(-1.2), jnp.asarray(1.0), z, z, z, z), jnp.arange(1, STEPS + 1, dtype=jnp.float64))
        return s[0], s[1]

    f = jax.jit(jax.vmap(run))
    lr, b1 = jnp.asarray(LR), jnp.asarray(B1)
    t = time.perf_counter(); jax.block_until_ready(f(lr, b1)); compile_s = time.perf_counter() - t
    print(json.dumps({"impl": "jax f64 jit(vmap(scan))", "seconds": best(lambda: jax.block_until_ready(f(lr, b1))), "compile_seconds": compile_s}))
except ImportError:
    print(json.dumps({"impl": "jax", "seconds": None, "note": "not installed"}))
