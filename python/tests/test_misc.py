"""schedule, objective, analyze, theory, figures and the listings against the command line and
closed forms."""

import json
import math

import numpy as np
import pytest

import downhill


def test_schedule_equals_the_cli_and_the_seed_formula(cli):
    spec = "warmup-cosine:max=1e-3,min=1e-5,warmup=100,total=1000"
    lrs = downhill.schedule(spec, 1000)
    assert isinstance(lrs, np.ndarray) and lrs.dtype == np.float64 and lrs.shape == (1000,)
    assert lrs.tolist() == cli.json("schedule", spec, "--steps", 1000)["lr"]
    # The seed's formula, operation for operation.
    for t in [0, 1, 50, 99, 100, 101, 500, 999]:
        if t < 100:
            expected = 1e-3 * t / 100
        else:
            expected = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * (t - 100) / (1000 - 100)))
        assert lrs[t] == expected


def test_schedule_errors_are_the_cli_messages(cli):
    for spec, steps in [("cosine:max=1", 10), ("warmup-cosine:max=1,warmup=10,total=5", 10), ("cosin:max=1", 10),
                        ("constant:lr=1", 0)]:
        with pytest.raises(ValueError) as info:
            downhill.schedule(spec, steps)
        code, _, err = cli("schedule", spec, "--steps", steps)
        assert code == 2
        assert err.strip() == "error: " + str(info.value)


def test_objective_derivatives_are_exact():
    f = downhill.objective("rosenbrock:a=1,b=10")
    x, y = -1.5, 2.5
    assert f.value([x, y]) == (1 - x) ** 2 + 10 * (y - x**2) ** 2
    np.testing.assert_allclose(f.gradient([x, y]), [-2 * (1 - x) - 40 * x * (y - x**2), 20 * (y - x**2)], rtol=1e-15)
    np.testing.assert_allclose(f.hessian([x, y]), [[2 - 40 * y + 120 * x**2, -40 * x], [-40 * x, 20]], rtol=1e-15)
    assert f.dim == 2 and f.name == "rosenbrock:a=1,b=10" and f.default_start == [-1.5, 2.5]
    assert f.minima == [{"point": [1.0, 1.0], "value": 0.0}]
    with pytest.raises(ValueError, match=r"^x: expected 2 values"):
        f.value([1.0])


def test_a_formula_matches_central_differences():
    f = downhill.objective(expr="x^2*y + 3*sin(y) + exp(x*y/4)")
    point = np.array([0.7, -0.3])
    h = 1e-5
    grad = f.gradient(point)
    hess = f.hessian(point)
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        assert grad[i] == pytest.approx((f.value(point + e) - f.value(point - e)) / (2 * h), rel=1e-8)
        np.testing.assert_allclose(hess[i], (f.gradient(point + e) - f.gradient(point - e)) / (2 * h), rtol=1e-7)
    with pytest.raises(ValueError, match=r"^expr: "):
        downhill.objective(expr="x +* y")
    with pytest.raises(ValueError, match=r"^objective: unknown objective 'rosenbrok'"):
        downhill.objective("rosenbrok")


def test_analyze_equals_the_cli(cli):
    ours = downhill.analyze("quadratic:a=50,b=1", at=[1, 1])
    assert ours == cli.json("analyze", "--objective", "quadratic:a=50,b=1", "--at", "1,1")
    assert ours["point"]["condition_number"] == pytest.approx(50.0, rel=1e-12)
    himmelblau = downhill.analyze("himmelblau", box=[-5, 5, -5, 5], grid=21)
    assert himmelblau == cli.json("analyze", "--objective", "himmelblau", "--box", "-5,5,-5,5", "--grid", "21")
    with pytest.raises(ValueError, match=r"^box: "):
        downhill.analyze("himmelblau", box=[1, 2])


def test_theory_equals_the_cli(cli):
    ours = downhill.theory("momentum-window")
    theirs = cli.json("theory", "--check", "momentum-window")["checks"]
    assert ours == theirs and ours[0]["verdict"] in ("holds", "holds-with-caveat", "fails")
    two = downhill.theory(["adam-bias-correction", "optimal-lr-quadratic"])
    assert [c["id"] for c in two] == ["adam-bias-correction", "optimal-lr-quadratic"]
    with pytest.raises(ValueError, match="^check: "):
        downhill.theory("no-such-check")


def test_listings_equal_the_cli(cli):
    assert downhill.optimizers() == cli.json("optimizers")
    assert downhill.objectives() == cli.json("objectives")
    assert "lion" in [o["name"] for o in downhill.optimizers()]


def test_figures_write_what_the_cli_writes(cli, tmp_path):
    out = downhill.figures(tmp_path / "py")
    code, _, err = cli("figures", "--out", tmp_path / "cli")
    assert code == 0, err
    names = sorted(p.split("/")[-1] for p in out["files"])
    assert names == sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert len(names) == 9
    for name in names:
        ours = (tmp_path / "py" / name).read_bytes()
        if name.endswith(".png"):
            assert ours[:8] == b"\x89PNG\r\n\x1a\n"
        if name.endswith(".json"):
            assert json.loads(ours) == json.loads((tmp_path / "cli" / name).read_bytes())
    assert set(out["notes"]) == {"gd_learning_rate", "optimizer_comparison", "lr_schedules"}
