"""gk.optimizers against tf.keras 2.x (2.11+ optimizers, not legacy).

The numbers come from ``tests/fixtures/optimizers/`` (written by
``tests/reference/make_optimizer_fixtures.py`` in the tf.keras environment): for each
optimizer and option, two variables updated over 5 gradient steps, the optimizer's
variables (names, order, values) at the end, the learning rate after each step and
the config. Every case runs eagerly (numpy) and traced (tracer + interpreter, as a
compiled training step runs it); a few also run on ONNX Runtime.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.compiler import Trace
from graphkeras.compiler.interpreter import evaluate
from graphkeras.compiler.lower_onnx import lower
from helpers import check_onnx_model, run_onnx
from trace_utils import run_traced

FIX = Path(__file__).parent / "fixtures" / "optimizers"
CASES = sorted(p.stem for p in FIX.glob("*.npz") if p.stem != "schedules")
TOL = dict(rtol=1e-5, atol=1e-6)
O = gk.optimizers


def load(case):
    data = np.load(FIX / f"{case}.npz")
    return data, json.loads(str(data["meta"]))


def make(meta):
    kwargs = dict(meta["kwargs"])
    if isinstance(kwargs.get("learning_rate"), dict):
        kwargs["learning_rate"] = O.schedules.deserialize(kwargs["learning_rate"])
    return getattr(O, meta["class_name"])(**kwargs)


def two_variables(data):
    return [gk.Variable(data["init0"], name="dense/kernel"),
            gk.Variable(data["init1"], name="dense/bias")]


def run_onnx_traced(fn, *args):
    """Like ``run_traced`` but the graph runs on ONNX Runtime (checked against the
    interpreter); returns nothing."""
    args = [np.asarray(a) for a in args]
    trace = Trace("opt_step")
    with trace:
        symbolic = [trace.input(a.shape, a.dtype.name, f"arg{i}") for i, a in enumerate(args)]
        fn(*symbolic)
    updates = list(trace.updates.values())
    trace.graph.outputs = [t.value for _, t in updates]
    feeds = args + [np.asarray(var.numpy()) for var, _ in trace.params.values()]
    model = lower(trace.graph)
    check_onnx_model(model)
    results = run_onnx(trace.graph, feeds, model)
    for got, want in zip(results, evaluate(trace.graph, feeds)):
        np.testing.assert_allclose(got, want, **TOL)
    for (var, _), value in zip(updates, results):
        var.assign(value)


def step_fn(opt, variables, present):
    def fn(*grads):
        it = iter(grads)
        opt.apply_gradients([(next(it) if present[i] else None, v)
                             for i, v in enumerate(variables)])
        return []
    return fn


def run_case(case, mode):
    data, meta = load(case)
    opt = make(meta)
    variables = two_variables(data)
    for s in range(5):
        present = [bool(p) for p in data["has_grad"][s]]
        grads = [data[f"grad{s}_{i}"] for i in range(2) if present[i]]
        fn = step_fn(opt, variables, present)
        {"eager": fn, "traced": lambda *g: run_traced(fn, *g),
         "onnx": lambda *g: run_onnx_traced(fn, *g)}[mode](*grads)
        for i, v in enumerate(variables):
            np.testing.assert_allclose(v.numpy(), data[f"step{s}_{i}"], **TOL,
                                       err_msg=f"{case} ({mode}): variable {i} after step {s}")
        np.testing.assert_allclose(float(opt.learning_rate.numpy()), data[f"lr{s}"], rtol=1e-6)
    return data, meta, opt


@pytest.mark.parametrize("mode", ["eager", "traced"])
@pytest.mark.parametrize("case", CASES)
def test_matches_tf_keras(case, mode):
    data, meta, opt = run_case(case, mode)
    assert [v.name for v in opt.variables] == meta["slot_names"]
    for j, v in enumerate(opt.variables):
        np.testing.assert_allclose(v.numpy(), data[f"slot{j}"], **TOL, err_msg=v.name)
    assert opt.iterations.numpy() == 5 and opt.iterations.dtype == "int64"


@pytest.mark.parametrize("case", ["sgd_nesterov", "rmsprop_centered_momentum", "adam_amsgrad",
                                  "adamw_schedule", "adagrad_lr", "adadelta_lr", "adamax_lr",
                                  "nadam_none_grad", "ftrl_shrinkage", "sgd_ema",
                                  "adam_global_clipnorm", "sgd_clipnorm"])
def test_onnx_runtime_step(case):
    run_case(case, "onnx")


@pytest.mark.parametrize("case", CASES)
def test_config_matches_tf_keras(case):
    _, meta = load(case)
    opt = make(meta)
    config = json.loads(json.dumps(O.serialize(opt)["config"]))
    want = dict(meta["config"])
    # tf.keras reports jit_compile=False when it finds no GPU; graphkeras keeps the argument
    assert config.pop("jit_compile") is True
    want.pop("jit_compile")
    assert list(config) == list(want)
    assert config == want
    clone = O.deserialize(O.serialize(opt))
    assert type(clone) is type(opt) and clone.get_config() == opt.get_config()


def test_tf_keras_serialized_config_loads():
    _, meta = load("adam_schedule")
    tf_spec = {"module": "keras.optimizers", "class_name": "Adam", "config": meta["config"],
               "registered_name": None}
    opt = O.deserialize(tf_spec)
    assert isinstance(opt, O.Adam)
    assert isinstance(opt._learning_rate, O.schedules.PiecewiseConstantDecay)
    assert opt._learning_rate.get_config() == meta["config"]["learning_rate"]["config"]


# ------------------------------------------------------------------ schedules
def schedule_cases():
    data = np.load(FIX / "schedules.npz")
    return data, json.loads(str(data["meta"]))


@pytest.mark.parametrize("name", sorted(schedule_cases()[1]))
def test_schedule_matches_tf_keras(name):
    data, meta = schedule_cases()
    schedule = O.schedules.deserialize(meta[name])
    assert O.schedules.serialize(schedule) == meta[name]
    steps, want = data[f"{name}_steps"], data[f"{name}_values"]
    eager = np.array([schedule(int(s)) for s in steps], np.float32)
    np.testing.assert_allclose(eager, want, **TOL)
    traced = run_traced(lambda s: [schedule(s)], steps[:, None])  # elementwise over a batch
    np.testing.assert_allclose(np.asarray(traced[0]).ravel(), want, **TOL)
    clone = type(schedule).from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()


def test_schedule_errors():
    with pytest.raises(ValueError, match="length of boundaries should be 1 less"):
        O.schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="Unknown learning rate schedule: 'Nope'"):
        O.schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(NotImplementedError):
        O.schedules.LearningRateSchedule()(0)


def test_schedule_on_iterations_variable():
    opt = O.SGD(O.schedules.ExponentialDecay(0.1, 1, 0.5))
    v = gk.Variable(np.zeros(2, np.float32), name="w")
    for k in range(3):
        opt.apply_gradients([(np.ones(2, np.float32), v)])
        assert float(opt.learning_rate.numpy()) == pytest.approx(0.1 * 0.5 ** k)
    np.testing.assert_allclose(v.numpy(), -(0.1 + 0.05 + 0.025) * np.ones(2), rtol=1e-6)


# ----------------------------------------------------------- learning rate
@pytest.mark.parametrize("traced", [False, True])
def test_set_learning_rate_between_steps(traced):
    opt = O.SGD(learning_rate=0.1)
    v = gk.Variable(np.zeros(3, np.float32), name="w")
    g = np.ones(3, np.float32)

    def step(grad):
        opt.apply_gradients([(grad, v)])
        return []

    run = (lambda: run_traced(step, g)) if traced else (lambda: step(g))
    run()
    opt.learning_rate = 0.5
    assert float(opt.lr.numpy()) == 0.5
    run()
    opt.lr = np.float32(0.25)
    run()
    np.testing.assert_allclose(v.numpy(), -(0.1 + 0.5 + 0.25) * g, rtol=1e-6)
    assert opt.get_config()["learning_rate"] == 0.25
    assert opt.learning_rate.dtype == "float32" and opt.learning_rate is opt.lr


def test_learning_rate_is_a_graph_input_not_a_constant():
    """A traced step reads the learning rate Variable, so changing it needs no re-trace."""
    opt = O.Adam(0.01)
    v = gk.Variable(np.ones(2, np.float32), name="w")
    opt.build([v])
    trace = Trace("step")
    with trace:
        g = trace.input((2,), "float32", "g")
        opt.apply_gradients([(g, v)])
    assert any(var is opt.learning_rate for var, _ in trace.params.values())
    assert {id(var) for var, _ in trace.updates.values()} >= {id(v), id(opt.iterations)}
    updates = list(trace.updates.values())
    trace.graph.outputs = [t.value for _, t in updates]

    def run(lr):
        feeds = [np.ones(2, np.float32)] + [np.float32(lr) if var is opt.learning_rate
                                            else var.numpy() for var, _ in trace.params.values()]
        return dict(zip([var.name for var, _ in updates], evaluate(trace.graph, feeds)))

    small, big = run(0.01)["w:0"], run(0.1)["w:0"]
    np.testing.assert_allclose(1 - small, 0.01, rtol=1e-4)
    np.testing.assert_allclose(1 - big, 0.1, rtol=1e-4)


def test_schedule_learning_rate_not_settable():
    opt = O.Adam(O.schedules.ExponentialDecay(0.1, 10, 0.9))
    with pytest.raises(TypeError, match="learning rate is not settable"):
        opt.learning_rate = 0.01
    opt = O.Adam(0.1)
    opt.learning_rate = O.schedules.InverseTimeDecay(0.2, 1, 1.0)
    v = gk.Variable(np.zeros(2, np.float32), name="w")
    opt.apply_gradients([(np.ones(2, np.float32), v)])
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.2)
    assert O.serialize(opt)["config"]["learning_rate"]["class_name"] == "InverseTimeDecay"


# ---------------------------------------------------------------- mechanics
def test_iterations_and_none_gradients():
    opt = O.Adam()
    a = gk.Variable(np.ones((2, 2), np.float32), name="a")
    b = gk.Variable(np.ones(2, np.float32), name="b")
    assert opt.iterations.numpy() == 0 and opt.iterations.name == "iteration:0"
    opt.apply_gradients([])  # no-op
    assert opt.iterations.numpy() == 0
    opt.apply_gradients([(np.ones((2, 2), np.float32), a), (None, b)])
    assert opt.iterations.numpy() == 1
    np.testing.assert_array_equal(b.numpy(), np.ones(2))  # skipped, but its slots exist
    assert [v.name for v in opt.variables] == ["iteration:0", "Adam/m/a:0", "Adam/v/a:0",
                                               "Adam/m/b:0", "Adam/v/b:0"]
    assert opt.variables() == opt.variables
    run_traced(lambda g: (opt.apply_gradients([(g, a), (g[0], b)]), [])[1],
               np.ones((2, 2), np.float32))
    assert opt.iterations.numpy() == 2
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply_gradients([(None, a), (None, b)])
    with pytest.raises(KeyError, match="cannot recognize variable c:0"):
        opt.apply_gradients([(np.ones(1, np.float32), gk.Variable(np.ones(1, np.float32), "c"))])


def test_float64_and_list_gradients_are_cast():
    opt = O.SGD(1.0)
    v = gk.Variable(np.zeros(2, np.float32), name="w")
    opt.apply_gradients([([1.0, 2.0], v)])
    opt.apply_gradients([(np.array([1.0, 1.0]), v)])
    np.testing.assert_array_equal(v.numpy(), [-2.0, -3.0])
    assert v.dtype == "float32"


def test_weights_round_trip_and_set_weights():
    data, meta = load("adam_lr")
    _, _, opt = run_case("adam_lr", "eager")
    clone = make(meta)
    with pytest.raises(ValueError, match="has not yet been built"):
        clone.set_weights(opt.get_weights())
    clone.build(two_variables(data))
    clone.set_weights(opt.get_weights())
    for a, b in zip(clone.variables, opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="not compatible with provided weight shape"):
        clone.set_weights([np.zeros(3)] * len(clone.variables))


def test_ema_finalize_and_exclude_from_weight_decay():
    opt = O.SGD(0.5, use_ema=True, ema_momentum=0.5)
    v = gk.Variable(np.ones(2, np.float32), name="w")
    opt.apply_gradients([(np.ones(2, np.float32), v)])  # v = 0.5, average = 0.75
    average = opt.variables[1]
    assert average.name == "SGD/average/w:0"
    np.testing.assert_allclose(average.numpy(), [0.75, 0.75])
    opt.finalize_variable_values([v])
    np.testing.assert_allclose(v.numpy(), [0.75, 0.75])

    opt = O.AdamW(0.1, weight_decay=0.5)
    w = gk.Variable(np.ones(2, np.float32), name="dense/kernel")
    b = gk.Variable(np.ones(2, np.float32), name="dense/bias")
    opt.exclude_from_weight_decay(var_names=["bias"])
    zero = np.zeros(2, np.float32)
    opt.apply_gradients([(zero, w), (zero, b)])
    np.testing.assert_allclose(w.numpy(), 1 - 0.1 * 0.5)
    np.testing.assert_allclose(b.numpy(), 1.0)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["x"])


def test_clip_helpers_match_tf_formulas():
    from graphkeras.optimizers.optimizer import clip_by_global_norm, clip_by_norm
    g = np.array([3.0, 4.0], np.float32)
    np.testing.assert_allclose(clip_by_norm(g, 1.0), [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(clip_by_norm(g, 10.0), g)
    np.testing.assert_array_equal(clip_by_norm(np.zeros(2, np.float32), 1.0), [0, 0])
    out = clip_by_global_norm([g, np.array([12.0], np.float32)], 6.5)  # global norm 13
    np.testing.assert_allclose(out[0], g / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], [6.0], rtol=1e-6)
    with np.errstate(invalid="ignore"):
        out = clip_by_global_norm([np.array([np.inf, 1.0], np.float32)], 1.0)
    assert np.isnan(out[0]).all()


def test_nadam_u_product_is_not_an_optimizer_variable():
    opt = O.Nadam()
    v = gk.Variable(np.ones(2, np.float32), name="w")
    opt.apply_gradients([(np.ones(2, np.float32), v)])
    assert [x.name for x in opt.variables] == ["iteration:0", "Nadam/m/w:0", "Nadam/v/w:0"]
    np.testing.assert_allclose(opt._u_product.numpy(), 0.9 * (1 - 0.5 * 0.96), rtol=1e-6)


# ----------------------------------------------------------- get / config
@pytest.mark.parametrize("name, cls", [
    ("sgd", "SGD"), ("SGD", "SGD"), ("rmsprop", "RMSprop"), ("RMSprop", "RMSprop"),
    ("adam", "Adam"), ("Adam", "Adam"), ("adamw", "AdamW"), ("adagrad", "Adagrad"),
    ("adadelta", "Adadelta"), ("adamax", "Adamax"), ("nadam", "Nadam"), ("ftrl", "Ftrl")])
def test_get_by_name(name, cls):
    opt = O.get(name)
    assert type(opt) is getattr(O, cls) and opt.name == cls
    assert O.get(opt) is opt


def test_defaults_match_tf_keras():
    for case in ("sgd_default", "rmsprop_default", "adam_default", "adamw_default",
                 "adagrad_default", "adadelta_default", "adamax_default", "nadam_default",
                 "ftrl_default"):
        _, meta = load(case)
        config = getattr(O, meta["class_name"])().get_config()
        config.pop("jit_compile")
        want = {k: v for k, v in meta["config"].items() if k != "jit_compile"}
        assert config == want, case


def test_get_errors():
    with pytest.raises(ValueError, match="Unknown optimizer: 'nope'"):
        O.get("nope")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 3"):
        O.get(3)
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: None"):
        O.get(None)


def test_legacy_config_loads():
    legacy = {"class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.01,
                                               "decay": 0.0, "beta_1": 0.8, "beta_2": 0.99,
                                               "epsilon": 1e-7, "amsgrad": False}}
    opt = O.deserialize(legacy)
    assert isinstance(opt, O.Adam) and opt.beta_1 == 0.8
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.01)
    legacy["config"].update(decay=0.5, lr=0.3)
    del legacy["config"]["learning_rate"]
    opt = O.deserialize(legacy)
    assert isinstance(opt._learning_rate, O.schedules.InverseTimeDecay)
    assert float(opt._learning_rate(2)) == pytest.approx(0.3 / (1 + 0.5 * 2))


def test_argument_errors():
    with pytest.raises(ValueError, match="At most one of `clipnorm` and `global_clipnorm`"):
        O.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="decay is deprecated in the new Keras optimizer"):
        O.SGD(decay=0.1)
    with pytest.raises(TypeError, match="foo is not a valid argument"):
        O.Adam(foo=1)
    with pytest.raises(ValueError, match="Missing value of `weight_decay`"):
        O.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match=r"`momentum` must be between \[0, 1\]"):
        O.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="`ema_momentum` must be in the range"):
        O.Adam(use_ema=True, ema_momentum=2.0)
    with pytest.raises(ValueError, match="`ema_overwrite_frequency` must be an integer"):
        O.Adam(use_ema=True, ema_overwrite_frequency=0.5)
    with pytest.raises(ValueError, match="learning_rate_power` needs to be negative or zero. "
                                         "Received: learning_rate_power=0.5"):
        O.Ftrl(learning_rate_power=0.5)
    for arg in ("initial_accumulator_value", "l1_regularization_strength",
                "l2_regularization_strength", "l2_shrinkage_regularization_strength"):
        with pytest.raises(ValueError, match=f"`{arg}` needs to be positive or zero"):
            O.Ftrl(**{arg: -0.1})
    with pytest.raises(RuntimeError, match="Cannot set `iterations`"):
        opt = O.SGD()
        opt.build([gk.Variable(np.ones(1, np.float32), "w")])
        opt.iterations = gk.Variable(np.int64(3), "it", trainable=False)
