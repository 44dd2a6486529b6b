"""downhill.torch.Optimizer against torch.optim on a small MLP in float64."""

import copy
import io

import numpy as np
import pytest
import torch
from torch import nn

import downhill
import downhill.torch as dt

# (downhill spec, torch.optim constructor with the same hyperparameters)
CASES = {
    "adam": ("adam:lr=0.01", lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adamw": ("adamw:lr=0.01,weight_decay=0.1", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    "sgd-momentum": ("momentum:lr=0.05,beta=0.9", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "nadam": ("nadam:lr=0.01", lambda ps: torch.optim.NAdam(ps, lr=0.01)),
    "radam": ("radam:lr=0.01", lambda ps: torch.optim.RAdam(ps, lr=0.01)),
    "rmsprop": ("rmsprop:lr=0.01", lambda ps: torch.optim.RMSprop(ps, lr=0.01)),
    "adagrad": ("adagrad:lr=0.1", lambda ps: torch.optim.Adagrad(ps, lr=0.1)),
    "adafactor": ("adafactor:lr=0.01", lambda ps: torch.optim.Adafactor(ps, lr=0.01)),
}

STEPS = 60
TOL = 1e-9


@pytest.fixture(autouse=True)
def float64_scalars():
    # torch.optim keeps scalar state (NAdam's mu product, step counts) in the default dtype: float32
    # unless it is set, which costs torch ~1e-8 relative accuracy. The comparison is in float64.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


X = torch.randn(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
Y = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def mlp():
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def scheduler(opt):
    # Warmup then cosine: the rate changes at every step.
    return torch.optim.lr_scheduler.SequentialLR(
        opt,
        [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=10),
         torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS - 10, eta_min=1e-4)],
        milestones=[10],
    )


def train(model, opt, sched, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(X) - Y) ** 2).mean()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()


def assert_close(a, b):
    start = mlp()
    moved = 0.0
    for p, q, s in zip(a.parameters(), b.parameters(), start.parameters()):
        assert (p - q).abs().max().item() <= TOL
        moved = max(moved, (p - s).abs().max().item())
    assert moved > 1e-3  # they trained


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("variant", ["plain", "scheduler", "reload"])
def test_equals_torch_optim(case, variant):
    spec, reference = CASES[case]
    ours, theirs = mlp(), mlp()
    with_scheduler = variant != "plain"
    opt_t = reference(theirs.parameters())
    sched_t = scheduler(opt_t) if with_scheduler else None
    train(theirs, opt_t, sched_t, STEPS)

    opt = dt.Optimizer(ours.parameters(), spec)
    sched = scheduler(opt) if with_scheduler else None
    if variant == "reload":
        train(ours, opt, sched, STEPS // 2)
        buffer = io.BytesIO()
        torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buffer)
        del opt, sched
        buffer.seek(0)
        saved = torch.load(buffer, weights_only=True)
        opt = dt.Optimizer(ours.parameters(), spec)
        sched = scheduler(opt)
        sched.load_state_dict(saved["scheduler"])
        opt.load_state_dict(saved["optimizer"])
        train(ours, opt, sched, STEPS - STEPS // 2)
    else:
        train(ours, opt, sched, STEPS)
    assert_close(ours, theirs)


def groups(model, lr_bias=None):
    weights = [p for p in model.parameters() if p.dim() == 2]
    biases = [p for p in model.parameters() if p.dim() == 1]
    bias_group = {"params": biases, "weight_decay": 0.0}
    if lr_bias is not None:
        bias_group["lr"] = lr_bias
    return [{"params": weights, "weight_decay": 0.2}, bias_group]


@pytest.mark.parametrize("case", ["adamw", "sgd-momentum", "adam"])
def test_per_group_overrides_equal_torch(case):
    spec, reference = CASES[case]
    ours, theirs = mlp(), mlp()
    opt_t = reference(groups(theirs, lr_bias=0.003))
    train(theirs, opt_t, torch.optim.lr_scheduler.StepLR(opt_t, 7, 0.5), STEPS)
    opt = dt.Optimizer(groups(ours, lr_bias=0.003), spec)
    assert opt.param_groups[0]["weight_decay"] == 0.2 and opt.param_groups[1]["lr"] == 0.003
    train(ours, opt, torch.optim.lr_scheduler.StepLR(opt, 7, 0.5), STEPS)
    assert_close(ours, theirs)


def test_torch_style_keys_and_changed_groups():
    ours, theirs = mlp(), mlp()
    opt_t = torch.optim.Adam(theirs.parameters(), lr=0.01, betas=(0.8, 0.99))
    opt = dt.Optimizer(ours.parameters(), "adam", lr=0.01, betas=(0.8, 0.99))
    assert opt.defaults["beta1"] == 0.8 and opt.defaults["beta2"] == 0.99
    train(theirs, opt_t, None, 20)
    train(ours, opt, None, 20)
    # A hyperparameter changed in the middle of training takes effect at the next step, state kept.
    opt_t.param_groups[0]["betas"] = (0.7, 0.99)
    opt.param_groups[0]["beta1"] = 0.7
    train(theirs, opt_t, None, 20)
    train(ours, opt, None, 20)
    assert_close(ours, theirs)
    with pytest.raises(ValueError, match="unknown key"):
        dt.Optimizer([{"params": list(mlp().parameters()), "weight_decya": 0.1}], "adamw")


def test_the_state_dict_has_torch_layout_and_round_trips():
    model = mlp()
    opt = dt.Optimizer(model.parameters(), "adam:lr=0.01")
    train(model, opt, None, 5)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == list(range(6))
    first = sd["state"][0]
    assert first["step"] == 5 and first["m"].shape == model[0].weight.shape
    assert sd["param_groups"][0]["params"] == list(range(6)) and sd["param_groups"][0]["lr"] == 0.01
    assert len(opt.state) == 0  # the state lives in Rust between calls
    again = dt.Optimizer(model.parameters(), "adam:lr=0.01")
    again.load_state_dict(copy.deepcopy(sd))
    sd2 = again.state_dict()
    for k in sd["state"]:
        for key in ("m", "v"):
            assert torch.equal(sd["state"][k][key], sd2["state"][k][key])
    with pytest.raises(ValueError, match=r"parameter param_groups\[0\]\['params'\]\[0\]"):
        dt.Optimizer(model.parameters(), "lion").load_state_dict(sd)


def test_updates_happen_in_place_without_copies():
    model = mlp()
    opt = dt.Optimizer(model.parameters(), "lion:lr=1e-3")
    pointers = [p.data_ptr() for p in model.parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    train(model, opt, None, 1)
    assert pointers == [p.data_ptr() for p in model.parameters()]
    for p, b in zip(model.parameters(), before):
        # Lion's first step moves every coordinate by exactly lr (the sign of the gradient).
        np.testing.assert_allclose((p - b).abs().detach().numpy(), 1e-3, rtol=1e-12)


def test_lion_equals_its_equations():
    ours, ref = mlp(), mlp()
    opt = dt.Lion(ours.parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1)
    state = [torch.zeros_like(p) for p in ref.parameters()]
    for _ in range(30):
        train(ours, opt, None, 1)
        ref.zero_grad()
        ((ref(X) - Y) ** 2).mean().backward()
        with torch.no_grad():
            for p, m in zip(ref.parameters(), state):
                p.mul_(1 - 3e-3 * 0.1)
                p.sub_(3e-3 * torch.sign(0.9 * m + 0.1 * p.grad))
                m.mul_(0.99).add_(0.01 * p.grad)
    assert_close(ours, ref)


def test_schedule_free_train_and_eval():
    model = mlp()
    opt = dt.ScheduleFreeAdamW(model.parameters(), lr=0.01)
    train(model, opt, None, 10)
    y = [p.detach().clone() for p in model.parameters()]
    z = [opt.state_dict()["state"][i]["z"] for i in range(6)]
    opt.eval()
    for p, yi, zi in zip(model.parameters(), y, z):
        assert torch.equal(p.detach(), yi + (1 - 1 / 0.9) * (zi - yi))
    with pytest.raises(RuntimeError, match="train"):
        opt.step()
    opt.train()
    for p, yi in zip(model.parameters(), y):
        assert torch.equal(p.detach(), yi)


def newton_schulz(g, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + 1e-7)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if tall else x


def test_muon_equals_the_reference_equations():
    # The reference Muon with its auxiliary AdamW (MuonWithAuxAdam), written out in float64:
    # matrices get Nesterov momentum orthogonalized by Newton-Schulz and scaled by
    # sqrt(max(1, fan_out / fan_in)); vectors get AdamW at lr * 0.015 with betas (0.9, 0.95).
    lr, wd, beta = 0.02, 0.1, 0.95
    ours, ref = mlp(), mlp()
    opt = dt.Muon(ours.parameters(), lr=lr, weight_decay=wd)
    state = {p: {"b": torch.zeros_like(p), "m": torch.zeros_like(p), "v": torch.zeros_like(p)} for p in ref.parameters()}
    for step in range(1, 31):
        train(ours, opt, None, 1)
        ref.zero_grad()
        ((ref(X) - Y) ** 2).mean().backward()
        with torch.no_grad():
            for p in ref.parameters():
                g, st = p.grad, state[p]
                if p.dim() == 2:
                    st["b"] = beta * st["b"] + (1 - beta) * g
                    u = (1 - beta) * g + beta * st["b"]
                    o = newton_schulz(u) * max(1.0, p.size(0) / p.size(1)) ** 0.5
                    p.mul_(1 - lr * wd).sub_(lr * o)
                else:
                    st["m"] = 0.9 * st["m"] + 0.1 * g
                    st["v"] = 0.95 * st["v"] + 0.05 * g * g
                    m_hat = st["m"] / (1 - 0.9**step)
                    v_hat = st["v"] / (1 - 0.95**step)
                    p.mul_(1 - lr * 0.015 * wd).sub_(lr * 0.015 * m_hat / (v_hat.sqrt() + 1e-10))
    assert_close(ours, ref)
    # The first and last layers are not square (16x4 and 3x16): their scales differ.
    assert opt._layout(ours[0].weight) == [(4, 16)] and opt._layout(ours[0].bias) == [16]


def test_clear_errors_name_the_parameter():
    meta = nn.Linear(3, 2, device="meta")
    with pytest.raises(TypeError, match=r"parameter param_groups\[0\]\['params'\]\[0\] of shape \(2, 3\) is on meta"):
        opt = dt.Optimizer(meta.parameters(), "adam")
        for p in meta.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
    emb = nn.Embedding(10, 3, sparse=True).double()
    opt = dt.Optimizer(emb.parameters(), "adam")
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match=r"parameter .* has a sparse gradient"):
        opt.step()
    z = torch.zeros(3, dtype=torch.complex128, requires_grad=True)
    z.grad = torch.zeros_like(z)
    with pytest.raises(TypeError, match=r"is complex"):
        dt.Optimizer([z], "adam").step()
    h = torch.zeros(3, dtype=torch.float16, requires_grad=True)
    h.grad = torch.zeros_like(h)
    with pytest.raises(TypeError, match=r"has dtype torch.float16"):
        dt.Optimizer([h], "adam").step()
    with pytest.raises(ValueError, match="^clip_norm: "):
        dt.Optimizer(mlp().parameters(), "adam:clip_norm=1")
    with pytest.raises(ValueError, match=r"^optimizer: adam.beta1: 1 is not in \[0, 1\)"):
        dt.Optimizer(mlp().parameters(), "adam:beta1=1")


def test_is_a_torch_optimizer():
    opt = dt.Optimizer(mlp().parameters(), "lion:lr=1e-4")
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.param_groups[0]["lr"] == 1e-4
    assert downhill.torch.Optimizer is dt.Optimizer


def test_aliased_keys_reach_the_kernel():
    # `momentum=` is downhill's alias of `beta` for the momentum optimizer, as torch's SGD names it.
    ours, theirs = mlp(), mlp()
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.5)
    opt = dt.Optimizer(ours.parameters(), "momentum", lr=0.05, momentum=0.5)
    assert opt.defaults["beta"] == 0.5
    train(theirs, opt_t, None, 30)
    train(ours, opt, None, 30)
    assert_close(ours, theirs)
