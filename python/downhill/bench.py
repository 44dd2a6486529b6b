"""Times one optimizer step on a large float32 parameter through ``downhill.torch`` against
``torch.optim.Adam`` (fused, foreach and the default single-tensor loop), all in the same process
and on the same threads, interleaved round by round so that a busy machine slows them alike::

    python -m downhill.bench                      # 1e7 parameters, Adam, 30 timed steps
    python -m downhill.bench --size 1e6 --format json

It also times ``downhill.Optimizer`` on the numpy view (the Rust update without PyTorch) to show
what the adapter adds. Ratios are speeds relative to ``torch.optim.Adam(fused=True)``: above 1 is
faster. Nothing here is asserted by the tests; the numbers belong to the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def measure(size: int, steps: int, warmup: int, lr: float = 1e-3):
    import numpy as np
    import torch

    import downhill
    import downhill.torch as dt

    gen = torch.Generator().manual_seed(0)
    start = torch.randn(size, dtype=torch.float32, generator=gen)
    grad = torch.randn(size, dtype=torch.float32, generator=gen)

    def torch_param():
        p = torch.nn.Parameter(start.clone())
        p.grad = grad.clone()
        return p

    variants = {}

    def add(name, make):
        p = torch_param()
        variants[name] = (p, make([p]))

    add("downhill.torch", lambda ps: dt.Optimizer(ps, f"adam:lr={lr}"))
    add("torch fused", lambda ps: torch.optim.Adam(ps, lr=lr, fused=True))
    add("torch foreach", lambda ps: torch.optim.Adam(ps, lr=lr, foreach=True))
    add("torch default", lambda ps: torch.optim.Adam(ps, lr=lr))

    class NumpyStep:
        def __init__(self):
            self.params = start.numpy().copy()
            self.grads = grad.numpy().copy()
            self.opt = downhill.Optimizer(f"adam:lr={lr}", self.params)

        def step(self):
            self.opt.step(self.params, self.grads)

    numpy_step = NumpyStep()
    variants["downhill (numpy)"] = (None, numpy_step)

    times = {name: [] for name in variants}
    for round_ in range(warmup + steps):
        for name, (_, opt) in variants.items():
            t0 = time.perf_counter()
            opt.step()
            elapsed = time.perf_counter() - t0
            if round_ >= warmup:
                times[name].append(elapsed)
    # Same trajectory check: every variant ran the same number of Adam steps on the same data.
    ref = variants["torch fused"][0].detach()
    ours = variants["downhill.torch"][0].detach()
    max_diff = float((ref - ours).abs().max())
    fused = statistics.median(times["torch fused"])
    rows = []
    for name, ts in times.items():
        median = statistics.median(ts)
        rows.append(
            {
                "variant": name,
                "median_ms": median * 1e3,
                "min_ms": min(ts) * 1e3,
                "speed_vs_fused": fused / median,
                "gb_per_s": 7 * 4 * size / median / 1e9,  # reads p, g, m, v; writes p, m, v
            }
        )
    return {
        "size": size,
        "dtype": "float32",
        "optimizer": "adam",
        "steps": steps,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "max_abs_diff_vs_fused": max_diff,
        "rows": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m downhill.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1e7, help="number of float32 parameters (default 1e7)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    args = parser.parse_args(argv)
    if args.size < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--size and --steps must be at least 1, --warmup at least 0")
    result = measure(int(args.size), args.steps, args.warmup)
    if args.format == "json":
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"Adam step on {result['size']:,} float32 parameters, {result['steps']} steps, "
        f"{result['threads']} threads, torch {result['torch']}"
    )
    print(f"{'variant':18} {'median ms':>10} {'min ms':>8} {'vs fused':>9} {'GB/s':>6}")
    for r in result["rows"]:
        print(
            f"{r['variant']:18} {r['median_ms']:10.2f} {r['min_ms']:8.2f} "
            f"{r['speed_vs_fused']:9.2f} {r['gb_per_s']:6.1f}"
        )
    print(f"max |downhill - fused| after the same steps: {result['max_abs_diff_vs_fused']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
