"""Runs torch.optim's Adamax, Adadelta, Rprop and ASGD and optax's AdaBelief, Adan, LAMB, LARS, Yogi
and NovoGrad themselves, in float64, on a small coupled objective, and writes every iterate to
crates/downhill/tests/fixtures/first_order_reference.json.

The Rust test crates/downhill/tests/first_order.rs runs downhill's optimizers on the same objective
and compares, so the expected numbers come from the reference libraries, not from downhill.
Regenerate with:

    python3 -m venv venv && venv/bin/pip install numpy torch jax optax
    venv/bin/python scripts/first_order_reference.py
"""
import json
import os

import numpy as np
import torch

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

torch.set_default_dtype(torch.float64)

START = [1.0, -0.7, 0.4, 1.3, -1.1]
STEPS = 30
H = [3.0, 1.0, 2.0, 0.5, 4.0]


def grad(x):
    """Gradient of f(x) = sum_i (h_i/2 x_i^2 + 0.1/4 x_i^4) + 0.3 sum_i x_i x_(i+1) - sum_i 0.2 i x_i,
    written operation for operation as the Rust test writes it."""
    n = len(x)
    g = []
    for i in range(n):
        gi = H[i] * x[i] + 0.1 * (x[i] * x[i] * x[i]) - 0.2 * i
        if i > 0:
            gi = gi + 0.3 * x[i - 1]
        if i + 1 < n:
            gi = gi + 0.3 * x[i + 1]
        g.append(gi)
    return g


def run_torch(make, steps=STEPS, average=False):
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = make([p])
    path, avg = [list(START)], []
    for _ in range(steps):
        p.grad = torch.tensor(grad(p.detach().tolist()), dtype=torch.float64)
        opt.step()
        path.append(p.detach().tolist())
        if average:
            avg.append(opt.state[p]["ax"].tolist())
    return path, avg


def run_optax(tx, blocks, steps=STEPS):
    x = list(START)

    def split(v):
        out, start = [], 0
        for b in blocks:
            out.append(jnp.asarray(v[start:start + b], dtype=jnp.float64))
            start += b
        return tuple(out)

    params = split(x)
    state = tx.init(params)
    path = [list(START)]
    for _ in range(steps):
        flat = [float(v) for leaf in params for v in np.asarray(leaf)]
        g = split(grad(flat))
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        path.append([float(v) for leaf in params for v in np.asarray(leaf)])
    return path


cases = []


def torch_case(spec, make, average=False):
    path, avg = run_torch(make, average=average)
    case = {"library": "torch", "spec": spec, "blocks": [len(START)], "trajectory": path}
    if average:
        case["average"] = avg
    cases.append(case)


def optax_case(spec, tx, blocks=(len(START),)):
    cases.append({"library": "optax", "spec": spec, "blocks": list(blocks), "trajectory": run_optax(tx, blocks)})


# torch.optim, defaults except where the spec says otherwise.
torch_case("adamax", lambda p: torch.optim.Adamax(p))
torch_case("adamax:lr=0.05,beta1=0.8,weight_decay=0.1", lambda p: torch.optim.Adamax(p, lr=0.05, betas=(0.8, 0.999), weight_decay=0.1))
torch_case("adadelta", lambda p: torch.optim.Adadelta(p))
torch_case("adadelta:lr=0.5,rho=0.8,weight_decay=0.05", lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, weight_decay=0.05))
torch_case("rprop", lambda p: torch.optim.Rprop(p))
torch_case("rprop:lr=0.3,etaminus=0.3,etaplus=1.5,step_min=0.01,step_max=0.4",
           lambda p: torch.optim.Rprop(p, lr=0.3, etas=(0.3, 1.5), step_sizes=(0.01, 0.4)))
torch_case("asgd", lambda p: torch.optim.ASGD(p), average=True)
torch_case("asgd:lr=0.05,lambd=0.01,alpha=0.6,t0=5,weight_decay=0.02",
           lambda p: torch.optim.ASGD(p, lr=0.05, lambd=0.01, alpha=0.6, t0=5, weight_decay=0.02), average=True)

# optax; its optimizers have no default rate, so every spec names one.
optax_case("adabelief:lr=0.05", optax.adabelief(0.05))
# optax 0.2.8's adabelief has no weight_decay yet; later releases build exactly this chain.
optax_case("adabelief:lr=0.02,beta1=0.8,eps=1e-8,eps_root=0,weight_decay=0.1",
           optax.chain(optax.scale_by_belief(b1=0.8, eps=1e-8, eps_root=0.0),
                       optax.add_decayed_weights(0.1), optax.scale_by_learning_rate(0.02)))
optax_case("adan:lr=0.05", optax.adan(0.05))
optax_case("adan:lr=0.02,beta1=0.9,beta2=0.8,beta3=0.95,weight_decay=0.05",
           optax.adan(0.02, b1=0.9, b2=0.8, b3=0.95, weight_decay=0.05))
optax_case("lamb:lr=0.05", optax.lamb(0.05))
optax_case("lamb:lr=0.05,weight_decay=0.1", optax.lamb(0.05, weight_decay=0.1), blocks=(3, 2))
optax_case("lars:lr=5", optax.lars(5.0))
optax_case("lars:lr=3,weight_decay=0.1,momentum=0.8,eps=1e-3", optax.lars(3.0, weight_decay=0.1, momentum=0.8, eps=1e-3), blocks=(3, 2))
optax_case("lars:lr=3,nesterov=true", optax.lars(3.0, nesterov=True), blocks=(2, 3))
optax_case("yogi:lr=0.05", optax.yogi(0.05))
optax_case("yogi:lr=0.1,beta1=0.5,eps=1e-6", optax.yogi(0.1, b1=0.5, eps=1e-6))
# optax's yogi() does not pass eps_root or initial_accumulator_value; scale_by_yogi takes them.
optax_case("yogi:lr=0.05,eps_root=1e-4,initial_accumulator_value=0.5",
           optax.chain(optax.scale_by_yogi(eps_root=1e-4, initial_accumulator_value=0.5),
                       optax.scale_by_learning_rate(0.05)))
optax_case("novograd:lr=0.05", optax.novograd(0.05))
optax_case("novograd:lr=0.05,beta2=0.5,weight_decay=0.1", optax.novograd(0.05, b2=0.5, weight_decay=0.1), blocks=(3, 2))

out = {
    "generator": "scripts/first_order_reference.py",
    "torch": torch.__version__,
    "jax": jax.__version__,
    "optax": optax.__version__,
    "start": START,
    "steps": STEPS,
    "cases": cases,
}
path = os.path.join(os.path.dirname(__file__), "..", "crates", "downhill", "tests", "fixtures", "first_order_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
