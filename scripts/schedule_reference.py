"""Writes crates/downhill/tests/fixtures/torch_schedules.json: learning rates from PyTorch's own
schedulers, stepped once per optimizer step from step 0, for downhill's schedules to be checked
against (crates/downhill/tests/schedules.rs), and a ReduceLROnPlateau trace on a made-up sequence of
validation losses.

    python3 -m venv venv && venv/bin/pip install torch
    venv/bin/python scripts/schedule_reference.py

The file records the torch version that produced it.
"""

import json
import math
import os

import torch


def lrs(spec, make, steps):
    """The rate of each of `steps` optimizer steps: read before the step, then scheduler.step()."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"spec": spec, "lr": out}


S = torch.optim.lr_scheduler


def set_lr(lr):
    def wrap(make):
        def inner(opt):
            for g in opt.param_groups:
                g["lr"] = lr
                g["initial_lr"] = lr
            return make(opt)

        return inner

    return wrap


cases = [
    lrs("cosine-restarts:max=0.1,period=10", set_lr(0.1)(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=10)), 45),
    lrs(
        "cosine-restarts:max=0.5,min=0.01,period=3,mult=2",
        set_lr(0.5)(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)),
        100,
    ),
    lrs(
        "cosine-restarts:max=1,min=0.001,period=1,mult=3",
        set_lr(1.0)(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=3, eta_min=0.001)),
        130,
    ),
    lrs(
        "cyclic:base=0.001,max=0.1,up=4",
        lambda o: S.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=4, cycle_momentum=False),
        30,
    ),
    lrs(
        "cyclic:base=0.01,max=0.2,up=3,down=7,mode=triangular2",
        lambda o: S.CyclicLR(
            o, base_lr=0.01, max_lr=0.2, step_size_up=3, step_size_down=7, mode="triangular2", cycle_momentum=False
        ),
        55,
    ),
    lrs(
        "cyclic:base=0.001,max=0.006,up=5,down=2,mode=exp_range,gamma=0.97",
        lambda o: S.CyclicLR(
            o,
            base_lr=0.001,
            max_lr=0.006,
            step_size_up=5,
            step_size_down=2,
            mode="exp_range",
            gamma=0.97,
            cycle_momentum=False,
        ),
        60,
    ),
    lrs("linear:lr=0.05,total=5", set_lr(0.05)(lambda o: S.LinearLR(o)), 12),
    lrs(
        "linear:lr=0.3,start_factor=0.1,end_factor=0.7,total=17",
        set_lr(0.3)(lambda o: S.LinearLR(o, start_factor=0.1, end_factor=0.7, total_iters=17)),
        25,
    ),
    lrs(
        "linear:lr=1,start_factor=1,end_factor=0,total=9",
        set_lr(1.0)(lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=9)),
        14,
    ),
]

# optax's piecewise_constant_schedule, written from its definition (optax is not a dependency):
# v = init; for each (boundary, scale) in order: v = v if count < boundary else scale * v.
def piecewise(spec, init, boundaries, scales, steps):
    out = []
    for t in range(steps):
        v = init
        for b, s in zip(boundaries, scales):
            indicator = max(0.0, math.copysign(1.0, b - t) if b != t else 0.0)
            v = v * indicator + (1 - indicator) * s * v
        out.append(v)
    return {"spec": spec, "lr": out, "reference": "optax piecewise_constant_schedule's formula"}


piecewise_cases = [
    piecewise("piecewise:lr=0.1,boundaries=5,12,factors=0.5,0.1", 0.1, [5, 12], [0.5, 0.1], 20),
    piecewise("piecewise:lr=2,boundaries=0/3/4,factors=0.25/3/0", 2.0, [0, 3, 4], [0.25, 3.0, 0.0], 8),
]

# ReduceLROnPlateau on a sequence of validation losses: a plateau, an improvement smaller than the
# threshold, cooldown and the floor.
losses = [1.0, 0.9, 0.95, 0.9, 0.91, 0.8999, 0.7, 0.72, 0.71, 0.70, 0.705, 0.69999, 0.7, 0.7,
          0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, float("nan"), 0.6, 0.5]
plateau = []
for kwargs, spec in [
    (dict(factor=0.5, patience=2), "factor=0.5,patience=2"),
    (dict(factor=0.1, patience=1, cooldown=2, min_lr=0.0015), "patience=1,cooldown=2,min_lr=0.0015"),
    (dict(factor=0.5, patience=0, threshold=0.05, threshold_mode="abs"), "factor=0.5,patience=0,threshold=0.05,threshold_mode=abs"),
]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = S.ReduceLROnPlateau(opt, mode="min", **kwargs)
    out = []
    for loss in losses:
        sched.step(loss)
        out.append(opt.param_groups[0]["lr"])
    plateau.append({"spec": spec, "lr0": 0.1, "lr_after": out})

path = os.path.join(os.path.dirname(__file__), "..", "crates", "downhill", "tests", "fixtures", "torch_schedules.json")
with open(path, "w") as f:
    json.dump(
        {
            "torch": torch.__version__,
            "schedules": cases + piecewise_cases,
            "plateau_losses": [None if math.isnan(x) else x for x in losses],
            "plateau": plateau,
        },
        f,
        indent=1,
    )
    f.write("\n")
print("wrote", os.path.normpath(path))
