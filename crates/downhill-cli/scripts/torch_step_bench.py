"""PyTorch (and optax) reference for `downhill bench step --vs-torch`: one optimizer step on a
large tensor.

Usage: python3 torch_step_bench.py OPTIMIZER SIZE THREADS DTYPE REPS
OPTIMIZER is downhill's name (adam, adamw, gd, momentum, rmsprop, adagrad, nadam, radam). Prints one
JSON object with the best time in ms of each implementation PyTorch offers on the CPU:
"for_loop" (foreach=False, the per-tensor default path), "foreach", and "fused" where supported;
and, when JAX and optax are installed, "optax": the optax transformation and apply_updates under one
jax.jit (XLA fuses them into one loop), with the parameters and state donated so that it updates in
place.
"""
import json
import os
import sys
import time

if len(sys.argv) > 3 and hasattr(os, "sched_setaffinity"):
    # XLA sizes its thread pool by the CPUs it may use and ignores thread-count flags for fused
    # loops: confine the whole process to THREADS CPUs so that every implementation gets the
    # thread count downhill gets.
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cpus[: max(1, int(sys.argv[3]))])

import torch


def make(name, params, **impl):
    lr = 1e-3
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **impl)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, **impl)
    if name == "gd":
        return torch.optim.SGD(params, lr=lr, **impl)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, **impl)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, **impl)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, **impl)
    if name == "nadam":
        return torch.optim.NAdam(params, lr=lr, **impl)
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, **impl)
    raise SystemExit(f"no PyTorch counterpart for {name}")


def main():
    name, size, threads, dtype, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    torch.set_num_threads(threads)
    dt = torch.float32 if dtype == "f32" else torch.float64
    out = {"torch": torch.__version__, "threads": threads}
    for label, impl in [("for_loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})]:
        p = torch.nn.Parameter(torch.linspace(-0.5, 0.5, size, dtype=dt))
        p.grad = torch.linspace(-0.05, 0.05, size, dtype=dt)
        try:
            opt = make(name, [p], **impl)
            opt.step()  # allocate state
        except (RuntimeError, TypeError, ValueError):
            continue  # this implementation does not exist for this optimizer on the CPU
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            opt.step()
            best = min(best, time.perf_counter() - t)
        out[label] = best * 1e3
    out.update(optax_step(name, size, dtype, reps))
    print(json.dumps(out))


def optax_step(name, size, dtype, reps):
    try:
        import jax
        import jax.numpy as jnp
        import optax
    except ImportError:
        return {}
    make = {"adam": lambda: optax.adam(1e-3), "adamw": lambda: optax.adamw(1e-3, weight_decay=0.01),
            "gd": lambda: optax.sgd(1e-3), "momentum": lambda: optax.sgd(1e-3, momentum=0.9),
            "rmsprop": lambda: optax.rmsprop(1e-3, decay=0.99, eps=1e-8),
            "adagrad": lambda: optax.adagrad(1e-2)}.get(name)
    if make is None:
        return {}
    if dtype == "f64":
        jax.config.update("jax_enable_x64", True)
    dt = jnp.float32 if dtype == "f32" else jnp.float64
    tx = make()
    p = jnp.linspace(-0.5, 0.5, size, dtype=dt)
    g = jnp.linspace(-0.05, 0.05, size, dtype=dt)
    state = tx.init(p)

    def step(p, state, g):
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    step = jax.jit(step, donate_argnums=(0, 1))
    p, state = step(p, state, g)
    jax.block_until_ready(p)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        p, state = step(p, state, g)
        jax.block_until_ready(p)
        best = min(best, time.perf_counter() - t)
    return {"optax": best * 1e3, "jax": jax.__version__, "optax_version": optax.__version__}


if __name__ == "__main__":
    main()
