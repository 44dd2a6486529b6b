"""downhill.run against `downhill run --format json`: the same keys and values, bit for bit."""

import math

import numpy as np
import pytest

import downhill

SEED_FIG2 = dict(objective="quadratic:a=50,b=1", start=[1.0, 1.0], steps=100)

OPTIMIZERS = [
    "gd:lr=0.005",
    "momentum:lr=0.002,beta=0.9",
    "nesterov:lr=0.002",
    "nesterov:lr=0.002,form=pytorch",
    "rmsprop:lr=0.01",
    "adam:lr=0.1",
    "adamw:lr=0.1,weight_decay=0.1",
    "adagrad:lr=0.5",
    "lion:lr=0.01",
    "nadam:lr=0.05",
    "radam:lr=0.05",
    "sf-adamw:lr=0.05",
    "adafactor:lr=0.05",
    "muon:lr=0.05",
    "newton:lr=0.5",
]


def cli_args(objective=None, optimizer=None, start=None, steps=None, **more):
    args = ["run", "--optimizer", optimizer, "--steps", steps]
    if objective is not None:
        args += ["--objective", objective]
    if start is not None:
        args += ["--start", ",".join(repr(float(x)) for x in start)]
    for key, value in more.items():
        args += ["--" + key.replace("_", "-"), value]
    return args


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_run_equals_the_cli_json(cli, optimizer):
    ours = downhill.run(optimizer=optimizer, **SEED_FIG2)
    theirs = cli.json(*cli_args(optimizer=optimizer, **SEED_FIG2))
    assert list(ours) == list(theirs)
    assert ours == theirs  # floats compare exactly: the trajectories are bit-identical
    assert len(ours["trajectory"]) == 101


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(objective="rosenbrock:a=1,b=10", optimizer="gd:lr=0.02", start=[-1.5, 2.5], steps=200, bound=10.0),
        dict(objective="rosenbrock", optimizer="adamw:weight_decay=0", steps=300, dtype="f32",
             schedule="warmup-cosine:max=0.05,min=1e-4,warmup=50,total=300"),
        dict(objective="quadratic:a=1", optimizer="gd:lr=1.05", start=[2.5], steps=30, bound=10.0),
        dict(objective="himmelblau", optimizer="adam:lr=0.05", steps=500, tol=1e-6, every=7),
        dict(objective="rastrigin:dim=5", optimizer="lion:lr=1e-3", steps=50, loss_tol=1e-12),
    ],
)
def test_run_options_equal_the_cli(cli, kwargs):
    ours = downhill.run(**kwargs)
    theirs = cli.json(*cli_args(**kwargs))
    assert ours == theirs


def test_a_formula_equals_the_cli(cli):
    ours = downhill.run(expr="x^2 + 3*sin(y)^2", vars=["y", "x"], optimizer="newton", start=[1, 1], steps=10)
    theirs = cli.json("run", "--expr", "x^2 + 3*sin(y)^2", "--vars", "y,x", "--optimizer", "newton",
                      "--start", "1,1", "--steps", "10")
    assert ours == theirs
    assert ours["objective"]["dim"] == 2


def test_the_seed_figure_2_adam_run_has_the_seed_numbers():
    # Independent of the CLI: Adam on 50x^2 + y^2 written out as the seed's numpy code.
    run = downhill.run("quadratic:a=50,b=1", "adam:lr=0.1", start=[1, 1], steps=100)
    theta = np.array([1.0, 1.0])
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, 101):
        g = np.array([100.0, 2.0]) * theta
        m = 0.9 * m + (1 - 0.9) * g
        v = 0.999 * v + (1 - 0.999) * g**2
        m_hat = m / (1 - 0.9**t)
        v_hat = v / (1 - 0.999**t)
        theta = theta - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
        assert run["trajectory"][t]["params"] == pytest.approx(list(theta), rel=1e-14, abs=1e-300)
    assert run["stop"] == "max_steps" and run["steps"] == 100


BAD = [
    (dict(objective="rosenbrock", optimizer="adam:beta1=1"), ["--objective", "rosenbrock", "--optimizer", "adam:beta1=1"]),
    (dict(objective="rosenbrock", optimizer="adma"), ["--objective", "rosenbrock", "--optimizer", "adma"]),
    (dict(objective="rosenbrok", optimizer="adam"), ["--objective", "rosenbrok", "--optimizer", "adam"]),
    (dict(objective="quadratic:a=x", optimizer="adam"), ["--objective", "quadratic:a=x", "--optimizer", "adam"]),
    (dict(objective="rosenbrock", optimizer="gd", schedule="cosine:max=1"),
     ["--objective", "rosenbrock", "--optimizer", "gd", "--schedule", "cosine:max=1"]),
    (dict(objective="rosenbrock", optimizer="gd:lr=0.1", schedule="constant:lr=0.1"),
     ["--objective", "rosenbrock", "--optimizer", "gd:lr=0.1", "--schedule", "constant:lr=0.1"]),
    (dict(expr="(x + ", optimizer="gd"), ["--expr", "(x + ", "--optimizer", "gd"]),
    (dict(objective="rosenbrock", optimizer="gd", start=[1, 2, 3]),
     ["--objective", "rosenbrock", "--optimizer", "gd", "--start", "1,2,3"]),
]


@pytest.mark.parametrize("kwargs,args", BAD)
def test_a_bad_spec_raises_the_cli_message(cli, kwargs, args):
    with pytest.raises(ValueError) as info:
        downhill.run(**kwargs)
    code, _, err = cli("run", *args, "--steps", "5")
    assert code == 2
    assert err.rstrip("\n") == "error: --" + str(info.value)
    if "expr" not in kwargs:
        assert "\n" not in str(info.value)  # one line (a formula's message adds a caret line)


def test_bad_values_name_the_field():
    with pytest.raises(ValueError, match=r"^dtype: unknown dtype 'f16'"):
        downhill.run("rosenbrock", "adam", dtype="f16")
    with pytest.raises(ValueError, match="every"):
        downhill.run("rosenbrock", "adam", every=0)
    with pytest.raises(ValueError, match="tol"):
        downhill.run("rosenbrock", "adam", tol=-1.0)


def test_a_non_finite_run_reports_it_like_the_cli(cli):
    kwargs = dict(expr="log(x)", optimizer="gd:lr=1", start=[0.5], steps=5)
    ours = downhill.run(**kwargs)
    theirs = cli.json("run", "--expr", "log(x)", "--optimizer", "gd:lr=1", "--start", "0.5", "--steps", "5")
    assert ours["stop"] == "non_finite" and ours == theirs
    assert all(math.isfinite(p["loss"]) for p in ours["trajectory"])
