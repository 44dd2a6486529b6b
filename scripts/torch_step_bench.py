"""PyTorch reference for `downhill bench step --vs-torch`: one optimizer step on a large tensor.

Usage: python3 torch_step_bench.py OPTIMIZER SIZE THREADS DTYPE REPS
OPTIMIZER is downhill's name (adam, adamw, gd, momentum, rmsprop, adagrad, nadam, radam). Prints one
JSON object with the best time in ms of each implementation PyTorch offers on the CPU:
"for_loop" (foreach=False, the per-tensor default path), "foreach", and "fused" where supported.
"""
import json
import sys
import time

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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
