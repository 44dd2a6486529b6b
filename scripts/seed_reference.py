"""Runs the seed article's figure code (copied verbatim, plotting removed) and writes every
trajectory and the warmup-cosine schedule to crates/downhill/tests/fixtures/seed_figures.json.

The Rust tests compare downhill's runs against this file, so the expected numbers come from the
seed's own numpy code, not from downhill. Regenerate with:  pip install numpy && python3 scripts/seed_reference.py
"""
import json
import os

import numpy as np

out = {"numpy": np.__version__}

# ---- Visualization 1 (verbatim functions) ----
def loss_fn(theta):
    x, y = theta
    return (1 - x)**2 + 10 * (y - x**2)**2

def grad_fn(theta):
    x, y = theta
    dx = -2*(1-x) + 10*2*(y - x**2)*(-2*x)
    dy = 10*2*(y - x**2)
    return np.array([dx, dy])

def run_gd(lr, n_steps=200, start=np.array([-1.5, 2.5])):
    path = [start.copy()]
    theta = start.copy()
    for _ in range(n_steps):
        g = grad_fn(theta)
        theta = theta - lr * g
        path.append(theta.copy())
        if np.any(np.abs(theta) > 10):
            break
    return np.array(path)

fig1 = {}
for lr in [0.001, 0.005, 0.02]:
    path = run_gd(lr)
    fig1[repr(lr)] = {"path": path.tolist(), "loss": [float(loss_fn(p)) for p in path]}
out["fig1"] = fig1

# ---- Visualization 2 (verbatim functions) ----
def loss_fn(theta):
    return 50*theta[0]**2 + theta[1]**2

def grad_fn(theta):
    return np.array([100*theta[0], 2*theta[1]])

start = np.array([1.0, 1.0])
n_steps = 100

def run_gd(lr):
    path = [start.copy()]
    theta = start.copy()
    for _ in range(n_steps):
        theta = theta - lr * grad_fn(theta)
        path.append(theta.copy())
    return np.array(path)

def run_momentum(lr, beta=0.9):
    path = [start.copy()]
    theta = start.copy()
    v = np.zeros(2)
    for _ in range(n_steps):
        g = grad_fn(theta)
        v = beta * v + g
        theta = theta - lr * v
        path.append(theta.copy())
    return np.array(path)

def run_adam(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):
    path = [start.copy()]
    theta = start.copy()
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, n_steps + 1):
        g = grad_fn(theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(theta.copy())
    return np.array(path)

out["fig2"] = {
    "gd": {"path": run_gd(lr=0.005).tolist(), "loss": [float(loss_fn(p)) for p in run_gd(lr=0.005)]},
    "momentum": {"path": run_momentum(lr=0.002, beta=0.9).tolist()},
    "adam": {"path": run_adam(lr=0.1).tolist()},
}

# ---- Visualization 3 (verbatim) ----
def f(x): return x**2
def grad_f(x): return 2*x

fig3 = {}
for lr in [0.01, 0.1, 0.5, 0.9, 1.05]:
    x = 2.5
    xs = [x]
    for _ in range(30):
        x = x - lr * grad_f(x)
        xs.append(x)
        if abs(x) > 10:
            break
    fig3[repr(lr)] = {"path": xs, "loss": [f(xi) for xi in xs]}

T_warmup = 1000
T_total = 10000
eta_max = 1e-3
eta_min = 1e-5
t = np.arange(T_total)
eta = np.zeros(T_total)
warmup_mask = t < T_warmup
eta[warmup_mask] = eta_max * t[warmup_mask] / T_warmup
cos_mask = ~warmup_mask
t_cos = t[cos_mask] - T_warmup
T_cos = T_total - T_warmup
eta[cos_mask] = eta_min + 0.5*(eta_max - eta_min)*(1 + np.cos(np.pi * t_cos / T_cos))
out["fig3"] = {"paths": fig3, "schedule": eta.tolist()}

here = os.path.dirname(os.path.abspath(__file__))
target = os.path.join(here, "..", "crates", "downhill", "tests", "fixtures", "seed_figures.json")
tmp = target + ".tmp"
with open(tmp, "w") as fh:
    json.dump(out, fh)
os.replace(tmp, target)
print("wrote", os.path.normpath(target))
