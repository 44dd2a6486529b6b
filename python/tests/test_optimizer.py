"""downhill.Optimizer: in-place numpy updates with the library's kernels."""

import numpy as np
import pytest

import downhill


def adam_reference(theta, grads_fn, steps, lr, dtype, beta1=0.9, beta2=0.999, eps=1e-8):
    """The seed article's numpy Adam, with downhill's documented precision rules: hyperparameters
    are f64, converted to the parameter type once per step (bias corrections included)."""
    cast = np.dtype(dtype).type
    theta = theta.astype(dtype).copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    b1, omb1, b2, omb2 = cast(beta1), cast(1 - beta1), cast(beta2), cast(1 - beta2)
    for t in range(1, steps + 1):
        g = grads_fn(theta)
        m = b1 * m + omb1 * g
        v = b2 * v + omb2 * (g * g)
        m_hat = m / cast(1 - beta1**t)
        v_hat = v / cast(1 - beta2**t)
        theta = theta - cast(lr) * m_hat / (np.sqrt(v_hat) + cast(eps))
    return theta


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [2, 1000, 40000])
def test_adam_equals_the_seed_formula_bit_for_bit(dtype, n):
    rng = np.random.default_rng(1)
    scale = rng.uniform(0.5, 50.0, n).astype(dtype)
    start = rng.normal(size=n).astype(dtype)

    def grads(theta):
        return (scale * theta).astype(dtype)

    params = start.copy()
    opt = downhill.Optimizer("adam:lr=0.01", params)
    address = params.__array_interface__["data"][0]
    for _ in range(25):
        opt.step(params, grads(params))
    assert params.__array_interface__["data"][0] == address  # updated in place
    expected = adam_reference(start, grads, 25, 0.01, dtype)
    np.testing.assert_array_equal(params, expected)
    assert opt.steps == 25 and opt.dtype == np.dtype(dtype).name and opt.size == n


@pytest.mark.parametrize("spec", ["gd:lr=0.005", "momentum:lr=0.002,beta=0.9", "adam:lr=0.1", "rmsprop",
                                  "lion:lr=0.01", "nadam:lr=0.05", "radam:lr=0.05", "adagrad:lr=0.5",
                                  "sf-adamw:lr=0.05", "adafactor:lr=0.05", "muon:lr=0.05",
                                  "nesterov:lr=0.002,form=pytorch"])
@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_hand_fed_gradients_follow_the_cli_trajectory(cli, spec, dtype):
    f = downhill.objective("quadratic:a=50,b=1")
    np_dtype = np.float64 if dtype == "f64" else np.float32
    theta = np.array([1.0, 1.0], dtype=np_dtype)
    opt = downhill.Optimizer(spec, theta)
    doc = cli.json("run", "--objective", "quadratic:a=50,b=1", "--optimizer", spec, "--start", "1,1",
                   "--steps", "60", "--dtype", dtype)
    assert opt.hyperparameters == {k: v for k, v in doc["optimizer"].items() if k != "name"}
    for point in doc["trajectory"][1:]:
        opt.step(theta, f.gradient(theta.astype(np.float64)).astype(np_dtype))
        assert theta.tolist() == point["params"], point["step"]


@pytest.mark.parametrize("spec", ["adam:amsgrad=true", "rmsprop:centered=true,momentum=0.9", "lion",
                                  "sf-adamw", "nadam", "radam", "adagrad", "muon", "adafactor",
                                  # state not one value per parameter, and wrappers' nested states
                                  "novograd", "lbfgs:line_search=none,lr=0.1", "yogi",
                                  "lookahead(adam:lr=0.01):k=3", "accumulate(sgd:lr=0.1):k=4",
                                  "skip-nonfinite(ema(adam):decay=0.9)"])
def test_a_reloaded_state_continues_bit_for_bit(spec):
    rng = np.random.default_rng(7)
    n = 12 * 5
    layout = [(12, 5)] if spec in ("muon", "adafactor") else None
    target = rng.normal(size=n)

    def grads(x):
        return 3.0 * (x - target) + 0.1 * np.sin(x)

    straight = rng.normal(size=n)
    resumed = straight.copy()
    a = downhill.Optimizer(spec, straight, layout=layout)
    b = downhill.Optimizer(spec, resumed, layout=layout)
    for _ in range(10):
        a.step(straight, grads(straight))
        b.step(resumed, grads(resumed))
    saved = b.state_dict()
    assert saved["step"] == 10 and saved["optimizer"] == a.name
    del b
    c = downhill.Optimizer(spec, resumed, layout=layout)
    c.load_state_dict(saved)
    for _ in range(15):
        a.step(straight, grads(straight))
        c.step(resumed, grads(resumed))
    np.testing.assert_array_equal(straight, resumed)


def test_lr_set_per_step_matches_a_schedule_bit_for_bit():
    # Warmup from 0: the first rate is 0, which a setter must accept too.
    schedule = "warmup-cosine:max=0.1,min=0.001,warmup=5,total=30"
    lrs = downhill.schedule(schedule, 30)
    assert lrs[0] == 0
    x = np.linspace(-1, 1, 50)
    y = x.copy()
    scheduled = downhill.Optimizer("adamw", x, schedule=schedule)
    driven = downhill.Optimizer("adamw", y)
    for t in range(30):
        driven.lr = float(lrs[t])
        scheduled.step(x, 2 * x + np.cos(x))
        driven.step(y, 2 * y + np.cos(y))
    np.testing.assert_array_equal(x, y)


def test_wrong_arrays_raise_errors_naming_the_argument():
    params = np.zeros(4)
    opt = downhill.Optimizer("adam", params)
    with pytest.raises(TypeError, match="^params: expected a float64 array, got float32"):
        opt.step(params.astype(np.float32), np.zeros(4))
    with pytest.raises(TypeError, match="^grads: expected a float64 array, got float32"):
        opt.step(params, np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="^grads: expected a float32 or float64 array, got dtype int64"):
        opt.step(params, np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="^params: expected a float32 or float64 numpy array, got list"):
        opt.step([0.0] * 4, np.zeros(4))
    with pytest.raises(ValueError, match=r"^grads: expected 4 values \(as params\), got 3"):
        opt.step(params, np.zeros(3))
    with pytest.raises(ValueError, match=r"^params: expected 4 values"):
        opt.step(np.zeros(5), np.zeros(5))
    strided = np.zeros(8)[::2]
    with pytest.raises(TypeError, match="^params: the array is not C-contiguous"):
        opt.step(strided, np.zeros(4))
    with pytest.raises(TypeError, match="^grads: the array is not C-contiguous"):
        opt.step(params, np.zeros(8)[::2])
    with pytest.raises(ValueError, match="^grads: .*must not be params itself"):
        opt.step(params, params)  # the gradient cannot be the parameters being written
    with pytest.raises(ValueError, match=r"^lr: -1 is not in \[0, inf\)"):
        opt.lr = -1.0
    assert opt.steps == 0


def test_a_bad_spec_raises_the_cli_message(cli):
    for spec in ["adam:beta1=1", "adma", "adam:lr=-1", "lion:foo=1", "muon:ns_steps=x"]:
        with pytest.raises(ValueError) as info:
            downhill.Optimizer(spec, np.zeros(2))
        code, _, err = cli("run", "--objective", "rosenbrock", "--optimizer", spec, "--steps", "1")
        assert code == 2 and err.strip() == "error: --" + str(info.value)


def test_hyperparameters_and_state_dict_shapes():
    opt = downhill.Optimizer("adam:lr=0.1,beta1=0.8", np.zeros(3, dtype=np.float32))
    assert opt.hyperparameters == {"lr": 0.1, "beta1": 0.8, "beta2": 0.999, "eps": 1e-8, "eps_root": 0.0,
                                   "amsgrad": False, "weight_decay": 0.0}
    assert opt.state_dict() == {"optimizer": "adam", "step": 0, "buffers": {}}
    p = np.ones(3, dtype=np.float32)
    opt.step(p, np.ones(3, dtype=np.float32))
    s = opt.state_dict()
    assert sorted(s["buffers"]) == ["m", "v"] and s["buffers"]["m"].dtype == np.float32
    other = downhill.Optimizer("lion", np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="saved by 'adam'"):
        other.load_state_dict(s)
    wrong = downhill.Optimizer("adam", np.zeros(3))
    with pytest.raises(TypeError, match="float64"):
        wrong.load_state_dict(s)
    short = downhill.Optimizer("adam", np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match="3 values"):
        short.load_state_dict(s)


def test_layout_must_cover_the_parameters():
    with pytest.raises(ValueError, match="^layout: the blocks hold 6 values, params has 7"):
        downhill.Optimizer("muon", np.zeros(7), layout=[(2, 3)])
    with pytest.raises(TypeError, match="^layout: "):
        downhill.Optimizer("muon", np.zeros(6), layout=["x"])


def test_schedule_free_eval_params_is_the_average():
    y = np.array([1.0, -2.0, 0.5])
    opt = downhill.Optimizer("sf-adamw:lr=0.1", y)
    assert opt.eval_params(y) is None
    for _ in range(5):
        opt.step(y, 2 * y)
    z = opt.state_dict()["buffers"]["z"]
    np.testing.assert_array_equal(opt.eval_params(y), y + (1 - 1 / 0.9) * (z - y))


def test_large_updates_release_the_gil():
    import threading

    n = 2_000_000
    params = np.zeros(n, dtype=np.float32)
    grads = np.ones(n, dtype=np.float32)
    opt = downhill.Optimizer("adam", params)
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=count)
    t.start()
    before = len(ticks)
    for _ in range(20):
        opt.step(params, grads)
    during = len(ticks) - before
    stop.set()
    t.join()
    # With the GIL held for the whole update the counter thread could only run between steps.
    assert during > 200
    assert np.all(params < 0)
