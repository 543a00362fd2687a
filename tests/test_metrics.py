"""gk.metrics against tf.keras 2.x numbers, eagerly and traced into graphs.

Fixtures (``tests/fixtures/metrics``, written by
``tests/reference/make_metric_fixtures.py``) hold, per case, 3 batches of data
and tf.keras' ``result()`` after each ``update_state``, its variables at the end
and its ``get_config()``. Every metric case runs

* eagerly (numpy kernels),
* traced with static shapes through ``tests/trace_utils.run_traced`` (reference
  interpreter; the assignments are applied as a compiled step would),
* traced with a ``None`` batch dimension and run by ONNX Runtime, with the
  metric's variables fed in and their new values read back.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.compiler import Trace, ops
from graphkeras.compiler.primitive import Tensor
from helpers import run_onnx
from trace_utils import run_traced

M = gk.metrics
FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
CASES = json.loads((FIXTURES / "cases.json").read_text())
META = CASES.pop("_meta")
METRIC_CASES = sorted(k for k, v in CASES.items() if v["kind"] == "metric")
FUNCTION_CASES = sorted(k for k, v in CASES.items() if v["kind"] == "function")
RTOL, ATOL = 1e-5, 1e-6


def load(case):
    return dict(np.load(FIXTURES / f"{case}.npz"))


def make(case):
    spec = CASES[case]
    return getattr(M, spec["class_name"])(**spec["kwargs"])


def batch_args(spec, data, i):
    """The arrays one ``update_state`` call takes, in order."""
    if spec["class_name"] in ("Mean", "Sum"):
        args = [data[f"values{i}"]]
    else:
        args = [data[f"y_true{i}"], data[f"y_pred{i}"]]
    if spec["weighted"]:
        args.append(data[f"sw{i}"])
    return args


def call_update(metric, spec, args):
    if spec["weighted"]:
        *rest, sw = args
        metric.update_state(*rest, sample_weight=sw)
    else:
        metric.update_state(*args)


def run_graph_onnx(fn, arrays):
    """Trace ``fn`` with a None batch dimension, run it on ONNX Runtime with the variables
    it reads fed in, and assign the variables it updates. Returns fn's output."""
    trace = Trace("metric_step")
    with trace:
        xs = [trace.input((None,) + a.shape[1:] if a.ndim else (), a.dtype.name, f"x{k}")
              for k, a in enumerate(arrays)]
        out = fn(*xs)
        out = out if isinstance(out, Tensor) else Tensor(trace.lift(out), trace)
    updates = list(trace.updates.values())
    trace.graph.outputs = [out.value] + [t.value for _, t in updates]
    fed = {id(v): a for v, a in zip(trace.graph.inputs, arrays)}
    for var, value in trace.params.values():
        fed[id(value)] = np.asarray(var.numpy())
    feeds = [fed[id(v)] for v in trace.graph.inputs]
    results = run_onnx(trace.graph, feeds)
    for (var, _), value in zip(updates, results[1:]):
        var.assign(value)
    return results[0]


def _close(actual, expected, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol, err_msg=what)


# ================================================== fixtures: every metric case
@pytest.mark.parametrize("mode", ["eager", "traced", "onnx"])
@pytest.mark.parametrize("case", METRIC_CASES)
def test_metric_matches_tf_keras(case, mode):
    spec, data = CASES[case], load(case)
    metric = make(case)
    for i in range(spec["updates"]):
        args = batch_args(spec, data, i)
        if mode == "eager":
            call_update(metric, spec, args)
            result = metric.result()
        else:
            def step(*xs):
                call_update(metric, spec, list(xs))
                return metric.result()
            result = run_traced(step, *args) if mode == "traced" else run_graph_onnx(step, args)
        _close(result, data[f"result{i}"], f"{case} result after update {i} ({mode})")
        assert np.shape(result) == data[f"result{i}"].shape
    variables = metric.variables
    assert [[v.name[:-2], list(v.shape)] for v in variables] == spec["variables"]
    for j, v in enumerate(variables):
        scale = max(1.0, float(np.max(np.abs(data[f"var{j}"]), initial=0)))
        _close(v.numpy(), data[f"var{j}"], f"{case} variable {v.name}", atol=1e-5 * scale)


@pytest.mark.parametrize("case", METRIC_CASES)
def test_metric_config_matches_tf_keras(case):
    spec = CASES[case]
    metric = make(case)
    config = json.loads(json.dumps(metric.get_config()))
    assert config == spec["config"]
    clone = type(metric).from_config(metric.get_config())
    assert clone.get_config() == metric.get_config()
    again = M.deserialize(json.loads(json.dumps(M.serialize(metric))))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()


@pytest.mark.parametrize("mode", ["eager", "traced"])
@pytest.mark.parametrize("case", FUNCTION_CASES)
def test_function_matches_tf_keras(case, mode):
    spec, data = CASES[case], load(case)
    fn = M.get(spec["function"])
    assert callable(fn) and not isinstance(fn, M.Metric)
    call = lambda yt, yp: fn(yt, yp, **spec["kwargs"])  # noqa: E731
    out = call(data["y_true"], data["y_pred"]) if mode == "eager" else \
        run_traced(call, data["y_true"], data["y_pred"])
    assert np.shape(out) == data["out"].shape
    _close(out, data["out"], case)


# ========================================================== state behaviour
@pytest.mark.parametrize("case", ["mean_2d_wbatch", "auc_pr", "auc_multi_label",
                                  "precision_top_k", "false_negatives_w", "mean_iou_w",
                                  "scce_ignore_w", "rmse_w", "sum_3d_wbatch"])
def test_reset_state(case):
    spec, data = CASES[case], load(case)
    metric = make(case)
    for i in range(2):
        call_update(metric, spec, batch_args(spec, data, i))
    metric.reset_state()
    for v in metric.variables:
        assert not np.any(v.numpy()), v.name
    call_update(metric, spec, batch_args(spec, data, 0))
    _close(metric.result(), data["result0"], "after reset")
    metric.reset_states()  # tf.keras' older name
    assert all(not np.any(v.numpy()) for v in metric.variables)


def test_reset_state_traced_metric_then_eager():
    data = load("auc_roc_w")
    m = M.AUC()
    run_traced(lambda a, b, c: (m.update_state(a, b, sample_weight=c), m.result())[1],
               data["y_true0"], data["y_pred0"], data["sw0"])
    _close(m.result(), data["result0"], "traced update, eager result")
    m.reset_state()
    assert float(m.result()) == 0.0


def test_call_updates_and_returns_result():
    m = M.Mean()
    assert float(m([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert float(m(np.float32(7.0), sample_weight=3.0)) == pytest.approx(4.5)
    assert float(m.result()) == pytest.approx(4.5)
    assert float(m.total.numpy()) == pytest.approx(27.0)
    assert float(m.count.numpy()) == pytest.approx(6.0)


def test_standalone_examples_from_tf_docs():
    m = M.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert float(m.result()) == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert float(m.result()) == pytest.approx(0.5)

    m = M.SparseCategoricalAccuracy()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    assert float(m.result()) == pytest.approx(0.5)

    m = M.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert float(m.result()) == pytest.approx(0.75)

    m = M.Precision(top_k=2)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert float(m.result()) == pytest.approx(0.0)

    m = M.Recall()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert float(m.result()) == pytest.approx(1.0)

    m = M.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert float(m.result()) == pytest.approx(0.5)

    m = M.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert float(m.result()) == pytest.approx(0.23809524, rel=1e-5)

    m = M.TruePositives(thresholds=[0.2, 0.8])
    m.update_state([0, 1, 1, 1], [0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(m.result(), [3.0, 2.0])


def test_results_are_float32_and_variables_are_named_as_tf_keras():
    m = M.Precision(thresholds=[0.3, 0.7])
    m.update_state([[1, 0]], [[0.9, 0.1]])
    assert np.asarray(m.result()).dtype == np.float32 and np.shape(m.result()) == (2,)
    assert [v.name for v in m.variables] == ["true_positives:0", "false_positives:0"]
    assert m.trainable_weights == [] and len(m.non_trainable_weights) == 2
    m64 = M.Mean(dtype="float64")
    m64.update_state([1.0, 2.0])
    assert m64.dtype == "float64" and np.asarray(m64.result()).dtype == np.float64


def test_unique_default_names_like_tf_keras():
    assert M.AUC().name == "auc" and M.AUC().name == "auc_1"
    assert M.Precision().name == "precision"
    assert M.Mean().name == "mean" and M.Mean().name == "mean"  # fixed default names
    assert M.MeanMetricWrapper(M.mse).name == "mean_metric_wrapper"
    assert M.MeanIoU(3).name == "mean_io_u"


# ============================================================ custom metrics
class _CountPositives(M.Metric):
    def __init__(self, name="count_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positives = self.add_weight(name="positives", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits = ops.cast(ops.greater(ops.multiply(y_true, y_pred), 0.0), "float32")
        self.positives.assign_add(ops.sum(hits))

    def result(self):
        return self.positives


def test_custom_metric_subclass_eager_and_traced():
    m = _CountPositives()
    y_true = np.float32([1, 1, 0, 1])
    y_pred = np.float32([0.5, -1, 3, 2])
    assert float(m(y_true, y_pred)) == 2.0
    out = run_traced(lambda a, b: m(a, b), y_true, y_pred)
    assert float(out) == 4.0 and float(m.positives.numpy()) == 4.0
    assert m.get_config() == {"name": "count_positives", "dtype": "float32"}
    m.reset_state()
    assert float(m.result()) == 0.0


def test_mean_metric_wrapper_with_custom_function():
    def doubled_error(y_true, y_pred, factor=2.0):
        return ops.multiply(ops.abs(ops.subtract(y_pred, y_true)), factor)

    m = M.MeanMetricWrapper(doubled_error, name="de", factor=3.0)
    m.update_state([[1.0, 2.0]], [[2.0, 2.0]])
    assert float(m.result()) == pytest.approx(1.5)
    config = m.get_config()
    assert config["fn"] is doubled_error and config["factor"] == 3.0
    clone = M.MeanMetricWrapper.from_config({"name": "mae_clone", "dtype": "float32",
                                             "fn": "mae"})
    clone.update_state([[1.0, 2.0]], [[2.0, 2.0]])
    assert float(clone.result()) == pytest.approx(0.5)
    spec = M.serialize(M.MeanMetricWrapper(M.mse, name="w"))
    assert spec["config"]["fn"] == "mean_squared_error"
    rebuilt = M.deserialize(spec)
    assert rebuilt._fn is M.mean_squared_error and rebuilt.name == "w"
    # tf.keras' own form of a serialized function
    tf_form = {"module": "keras.metrics", "class_name": "MeanMetricWrapper",
               "registered_name": None,
               "config": {"name": "w", "dtype": "float32",
                          "fn": {"module": "builtins", "class_name": "function",
                                 "config": "mean_squared_error", "registered_name": "function"}}}
    assert M.deserialize(tf_form)._fn is M.mean_squared_error


# ======================================================================= get
@pytest.mark.parametrize("name, expected", [
    ("accuracy", "accuracy"), ("acc", "accuracy"), ("mae", "mean_absolute_error"),
    ("mse", "mean_squared_error"), ("MSE", "mean_squared_error"),
    ("mape", "mean_absolute_percentage_error"), ("msle", "mean_squared_logarithmic_error"),
    ("binary_accuracy", "binary_accuracy"), ("categorical_accuracy", "categorical_accuracy"),
    ("sparse_categorical_accuracy", "sparse_categorical_accuracy"),
    ("top_k_categorical_accuracy", "top_k_categorical_accuracy"),
    ("logcosh", "log_cosh"), ("kld", "kl_divergence"), ("poisson", "poisson"),
    ("hinge", "hinge"), ("binary_crossentropy", "binary_crossentropy"),
    ("cosine_similarity", "cosine_similarity"),
])
def test_get_function_names(name, expected):
    fn = M.get(name)
    assert callable(fn) and fn.__name__ == expected and fn is getattr(M, expected)


@pytest.mark.parametrize("name, cls", [
    ("auc", M.AUC), ("AUC", M.AUC), ("Precision", M.Precision), ("precision", M.Precision),
    ("recall", M.Recall), ("BinaryAccuracy", M.BinaryAccuracy),
    ("root_mean_squared_error", M.RootMeanSquaredError), ("true_positives", M.TruePositives),
    ("CategoricalCrossentropy", M.CategoricalCrossentropy),
])
def test_get_class_names_give_instances(name, cls):
    m = M.get(name)
    assert type(m) is cls


def test_get_dicts_callables_and_errors():
    m = M.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(m, M.CategoricalCrossentropy) and m.get_config()["from_logits"] is True
    m = M.get({"module": "keras.metrics", "class_name": "AUC",
               "config": {"num_thresholds": 7, "curve": "PR"}, "registered_name": None})
    assert m.num_thresholds == 7 and m.curve == "PR"
    inst = M.Mean()
    assert M.get(inst) is inst and M.get(len) is len
    with pytest.raises(ValueError, match="Could not interpret metric identifier: 42"):
        M.get(42)
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        M.get(None)
    with pytest.raises(ValueError, match="Unknown metric function: 'no_such_metric'"):
        M.get("no_such_metric")
    assert M.serialize(M.mse) == "mean_squared_error"
    assert M.serialize(None) is None


def test_custom_objects_in_deserialize():
    spec = {"class_name": "_CountPositives", "config": {"name": "cp", "dtype": "float32"}}
    m = M.deserialize(spec, custom_objects={"_CountPositives": _CountPositives})
    assert isinstance(m, _CountPositives) and m.name == "cp"


# ==================================================================== errors
def test_constructor_errors():
    with pytest.raises(ValueError, match="`num_thresholds` must be an integer > 1"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match='Invalid AUC curve value: "XY"'):
        M.AUC(curve="XY")
    with pytest.raises(ValueError, match="Invalid AUC summation method value"):
        M.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="`num_labels` is needed only when `multi_label` is True"):
        M.AUC(num_labels=3)
    with pytest.raises(ValueError, match="must be non-negative"):
        M.AUC(multi_label=True, label_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]"):
        M.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]"):
        M.TruePositives(thresholds=-0.1)
    with pytest.raises(TypeError):
        M.Mean(foo=1)
    with pytest.raises(TypeError, match="Keyword argument not understood"):
        M.Metric(name="m", foo=1)


def test_update_errors():
    with pytest.raises(ValueError, match=r"Shapes \(2, 3\) and \(2, 2\) are incompatible"):
        M.Accuracy().update_state(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="must have rank 2 when `multi_label=True`"):
        M.AUC(multi_label=True).update_state(np.zeros((2, 3, 1)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="Number of labels is not consistent"):
        M.AUC(multi_label=True, num_labels=3).update_state(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="are incompatible"):
        M.Precision().update_state(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(RuntimeError, match="can only be a single Tensor"):
        M.Mean().update_state({"a": 1.0})
    with pytest.raises(NotImplementedError):
        M.Metric().result()


def test_weights_that_cannot_broadcast_average_the_trailing_axes():
    # values (2, 2, 3) with weights (2,): tf.keras averages each sample first
    values = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    m = M.Mean()
    m.update_state(values, sample_weight=[1.0, 3.0])
    expected = (values[0].mean() * 1 + values[1].mean() * 3) / 4
    assert float(m.result()) == pytest.approx(expected)
    s = M.Sum()
    s.update_state(values, sample_weight=[1.0, 3.0])
    assert float(s.result()) == pytest.approx(values[0].sum() + 3 * values[1].sum())


# ============================================================ traced extras
def test_bce_uses_keras_logits_of_a_traced_sigmoid_output():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=(6, 2)).astype(np.float32)
    logits = rng.normal(0, 8, size=(6, 2)).astype(np.float32)  # saturating sigmoid
    m = M.BinaryCrossentropy()
    out = run_traced(lambda t, z: m(t, gk.activations.sigmoid(z)), y_true, logits)
    ref = M.BinaryCrossentropy(from_logits=True)
    _close(out, ref(y_true, logits), "bce on a sigmoid output == bce from logits")
    m2 = M.CategoricalCrossentropy()
    out = run_traced(lambda t, z: m2(t, gk.activations.softmax(z)), y_true, logits)
    _close(out, M.CategoricalCrossentropy(from_logits=True)(y_true, logits), "cce logits")


def test_metric_step_graph_has_state_outputs():
    m = M.AUC(num_thresholds=5)
    trace = Trace("step")
    with trace:
        yt = trace.input((None, 2), "float32", "y_true")
        yp = trace.input((None, 2), "float32", "y_pred")
        m.update_state(yt, yp)
        m.result()
    assert {id(v) for v, _ in trace.updates.values()} == {id(v) for v in m.variables}
    assert all(tuple(t.shape) == (5,) for _, t in trace.updates.values())


@pytest.mark.parametrize("case", METRIC_CASES)
def test_fresh_metric_result_is_zero(case):
    result = np.asarray(make(case).result())
    assert result.shape == load(case)["result0"].shape and not np.any(result)


def test_integer_labels_and_rank_alignment_traced():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=(6,))
    probs = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    for cls in (M.SparseCategoricalAccuracy, M.SparseCategoricalCrossentropy,
                M.SparseTopKCategoricalAccuracy):
        eager = cls()(labels.astype(np.float32), probs)
        traced = run_traced(lambda t, p, m=cls(): m(t, p), labels, probs)  # int64 labels
        column = run_traced(lambda t, p, m=cls(): m(t, p), labels[:, None].astype(np.int32),
                            probs)
        _close(traced, eager, f"{cls.__name__} int labels")
        _close(column, eager, f"{cls.__name__} (batch, 1) labels")
    y = rng.integers(0, 2, size=(6,)).astype(np.float32)
    p = rng.uniform(size=(6, 1)).astype(np.float32)
    for cls in (M.BinaryAccuracy, M.AUC, M.Precision, M.MeanSquaredError):
        _close(cls()(y, p), cls()(y[:, None], p), f"{cls.__name__} squeezable y_pred")
        _close(cls()(y[:, None], p[:, 0]), cls()(y, p[:, 0]), f"{cls.__name__} squeezable y_true")


def test_merge_state():
    a, b, both = M.Mean(), M.Mean(), M.Mean()
    a.update_state([1.0, 2.0])
    b.update_state([5.0], sample_weight=[3.0])
    both.update_state([1.0, 2.0])
    both.update_state([5.0], sample_weight=[3.0])
    a.merge_state([b])
    assert float(a.result()) == pytest.approx(float(both.result()))


def test_name_is_settable_like_a_keras_layer():
    m = M.MeanAbsoluteError()
    m._name = "out_mae"  # what compile's metric container does
    assert m.name == "out_mae" and m.get_config()["name"] == "out_mae"
