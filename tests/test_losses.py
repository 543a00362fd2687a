"""gk.losses against tf.keras' numbers (tests/fixtures/losses, made by
tests/reference/make_loss_fixtures.py), eagerly and traced; configs, (de)serialization,
resolution of identifiers, and error cases."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import graphkeras as gk
from graphkeras import losses
from graphkeras.compiler import ops
from helpers import In, run_interpreter, run_onnx, trace
from trace_utils import run_traced

FIXTURES = Path(__file__).parent / "fixtures" / "losses"
META = json.loads((FIXTURES / "cases.json").read_text())
with np.load(FIXTURES / "losses.npz") as _packed:
    PACKED = {k: _packed[k] for k in _packed.files}
CASES = META["cases"]
RTOL, ATOL = 1e-5, 1e-6


def case_arrays(case):
    out = {}
    for key, (dtype, offset, shape) in case["arrays"].items():
        size = int(np.prod(shape)) if shape else 1
        out[key] = PACKED[dtype][offset:offset + size].reshape(shape)
    return out


def case_id(case):
    return f"{case['id']}-{case['name']}-{case['note']}".replace(" ", "_")


class _MaskedArray(np.ndarray):
    """An eager y_pred carrying ``_keras_mask``, as a Masking layer's output does."""


def build(case):
    """``f(y_true, y_pred[, sample_weight][, mask])`` computing the case with gk.losses;
    ``y_pred`` holds the logits when the case has an activation."""
    kwargs = dict(case["kwargs"])
    arrays = case_arrays(case)
    has_sw, has_mask = "sample_weight" in arrays, "mask" in arrays
    if case["kind"] == "class":
        obj = getattr(losses, case["name"])(**kwargs)
    else:
        fn = getattr(losses, case["name"])

    def f(y_true, y_pred, *rest):
        rest = list(rest)
        sw = rest.pop(0) if has_sw else None
        if case["activation"]:
            y_pred = getattr(gk.activations, case["activation"])(y_pred)
        if has_mask:
            mask = rest.pop(0)
            if isinstance(y_pred, np.ndarray):
                y_pred = y_pred.view(_MaskedArray)
            y_pred._keras_mask = mask
        if case["kind"] == "class":
            return obj(y_true, y_pred, sample_weight=sw)
        return fn(y_true, y_pred, **kwargs)

    inputs = [arrays["y_true"], arrays["y_pred"]]
    if has_sw:
        inputs.append(arrays["sample_weight"])
    if has_mask:
        inputs.append(arrays["mask"])
    return f, inputs, arrays["out"]


def check(actual, expected, what):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def test_fixtures_cover_every_loss():
    names = {c["name"] for c in CASES}
    for cls in ("MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
                "MeanSquaredLogarithmicError", "BinaryCrossentropy", "BinaryFocalCrossentropy",
                "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
                "SparseCategoricalCrossentropy", "Hinge", "SquaredHinge", "CategoricalHinge",
                "Huber", "LogCosh", "KLDivergence", "Poisson", "CosineSimilarity"):
        assert cls in names
    assert len(CASES) > 500


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", [c for c in CASES if not c["activation"]], ids=case_id)
def test_eager_matches_tf_keras(case):
    f, inputs, expected = build(case)
    check(f(*inputs), expected, "eager")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_traced_matches_tf_keras(case):
    f, inputs, expected = build(case)
    check(run_traced(f, *inputs), expected, "traced")


def _onnx_cases():
    """One case per (kind, name, note) family: traced with a dynamic batch dimension, run by
    the interpreter and by ONNX Runtime."""
    seen, out = set(), []
    for c in CASES:
        key = (c["kind"], c["name"], c["note"].split(",")[0], c["activation"])
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", _onnx_cases(), ids=case_id)
def test_dynamic_batch_and_onnx(case):
    f, inputs, expected = build(case)
    graph = trace(f, [In(x, (0,) if np.ndim(x) and np.shape(x)[0] != 1 else ()) for x in inputs])
    check(run_interpreter(graph, inputs)[0], expected, "interpreter, dynamic batch")
    np.testing.assert_allclose(run_onnx(graph, inputs)[0], expected, rtol=1e-4, atol=1e-5,
                               err_msg="onnx")


# ------------------------------------------------------------------- configs
@pytest.mark.parametrize("name", sorted(META["configs"]))
def test_config_matches_tf_keras(name):
    ref = META["configs"][name]
    cls = getattr(losses, name)
    assert cls().get_config() == ref["default"]
    assert list(cls().get_config()) == list(ref["default"])  # key order too
    if "custom" in ref:
        loss = cls(**ref["kwargs"])
        assert loss.get_config() == ref["custom"]
        assert loss.name == ref["custom"]["name"]
        assert loss.reduction == ref["custom"]["reduction"]


@pytest.mark.parametrize("name", sorted(META["configs"]))
def test_config_round_trip(name):
    ref = META["configs"][name]
    cls = getattr(losses, name)
    loss = cls(**ref.get("kwargs", {}))
    config = loss.get_config()
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    for spec in (losses.serialize(loss), losses.serialize(loss, use_legacy_format=True)):
        again = losses.deserialize(spec)
        assert type(again) is cls and again.get_config() == config
        assert losses.get(json.loads(json.dumps(spec))).get_config() == config
    # a tf.keras config (with its "fn" key) loads
    assert cls.from_config(dict(ref.get("custom", ref["default"]))).get_config() == \
        ref.get("custom", ref["default"])


def test_serialize_formats():
    assert losses.serialize(losses.MeanSquaredError()) == {
        "module": "keras.losses", "class_name": "MeanSquaredError",
        "config": {"reduction": "auto", "name": "mean_squared_error", "fn": "mean_squared_error"},
        "registered_name": None}
    assert losses.serialize(losses.mse) == {"module": "builtins", "class_name": "function",
                                            "config": "mean_squared_error",
                                            "registered_name": "function"}
    assert losses.serialize(losses.mse, use_legacy_format=True) == "mean_squared_error"
    assert losses.serialize(None) is None
    assert losses.deserialize(losses.serialize(losses.mse)) is losses.mean_squared_error


# --------------------------------------------------------------- resolution
ALIASES = {
    "mse": "mean_squared_error", "MSE": "mean_squared_error", "mae": "mean_absolute_error",
    "MAE": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
    "MAPE": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error",
    "MSLE": "mean_squared_logarithmic_error", "logcosh": "log_cosh", "kld": "kl_divergence",
    "KLD": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
    "huber_loss": "huber",
}


@pytest.mark.parametrize("alias,name", sorted(ALIASES.items()))
def test_function_aliases(alias, name):
    fn = getattr(losses, name)
    assert getattr(losses, alias) is fn
    assert losses.get(alias) is fn
    assert fn.__name__ == name


@pytest.mark.parametrize("name", [
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "binary_crossentropy", "binary_focal_crossentropy",
    "categorical_crossentropy", "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "huber",
    "log_cosh", "kl_divergence", "poisson", "cosine_similarity"])
def test_get_function_names(name):
    assert losses.get(name) is getattr(losses, name)


def test_get_identifiers():
    loss = losses.get("BinaryCrossentropy")
    assert isinstance(loss, losses.BinaryCrossentropy) and loss.get_config()["from_logits"] is False
    loss = losses.get({"class_name": "BinaryCrossentropy",
                       "config": {"from_logits": True, "label_smoothing": 0.1,
                                  "reduction": "sum", "name": "b", "axis": -1,
                                  "fn": "binary_crossentropy"}})
    assert isinstance(loss, losses.BinaryCrossentropy)
    assert (loss.from_logits, loss.reduction, loss.name) == (True, "sum", "b")
    assert losses.get({"module": "builtins", "class_name": "function",
                       "config": "categorical_crossentropy", "registered_name": "function"}) \
        is losses.categorical_crossentropy
    instance = losses.Huber(delta=3.0)
    assert losses.get(instance) is instance
    assert isinstance(losses.get(losses.Poisson), losses.Poisson)

    def user_fn(y_true, y_pred):
        return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)

    assert losses.get(user_fn) is user_fn
    assert losses.get(None) is None
    assert gk.losses is losses


def test_unknown_identifiers():
    with pytest.raises(ValueError, match="Unknown loss function: 'no_such_loss'"):
        losses.get("no_such_loss")
    with pytest.raises(ValueError, match="Unknown loss function: 'NoSuchLoss'"):
        losses.get({"class_name": "NoSuchLoss", "config": {}})
    with pytest.raises(ValueError, match="Could not interpret loss function identifier: 3"):
        losses.get(3)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Invalid Reduction Key: bad"):
        losses.MeanSquaredError(reduction="bad")
    with pytest.raises(ValueError, match="`axis` must be of type `int`"):
        losses.CategoricalCrossentropy(axis=True)(np.eye(3, dtype="float32"),
                                                  np.eye(3, dtype="float32"))
    with pytest.raises(ValueError, match="incompatible"):
        losses.categorical_crossentropy(np.ones((2, 3), "float32"), np.ones((2, 4), "float32"))
    with pytest.raises(TypeError):
        losses.MeanSquaredError(from_logits=True)


# ------------------------------------------------- user functions and classes
def _user_loss(y_true, y_pred, scale=1.0):
    return ops.multiply(ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1), scale)


def test_loss_function_wrapper(rng):
    y_true = rng.normal(size=(5, 3)).astype("float32")
    y_pred = rng.normal(size=(5, 3)).astype("float32")
    sw = rng.uniform(size=(5,)).astype("float32")
    wrapper = losses.LossFunctionWrapper(_user_loss, name="user", scale=2.0)
    per_sample = 2.0 * np.mean((y_true - y_pred) ** 2, axis=-1)
    expected = np.sum(per_sample * sw) / 5
    np.testing.assert_allclose(wrapper(y_true, y_pred, sw), expected, rtol=1e-6)
    traced = run_traced(lambda a, b, w: wrapper(a, b, sample_weight=w), y_true, y_pred, sw)
    np.testing.assert_allclose(traced, expected, rtol=1e-6)
    config = wrapper.get_config()
    assert config == {"reduction": "auto", "name": "user", "scale": 2.0, "fn": "_user_loss"}
    with gk.utils.custom_object_scope({"_user_loss": _user_loss}):
        clone = losses.LossFunctionWrapper.from_config(config)
    assert clone.fn is _user_loss and clone._fn_kwargs == {"scale": 2.0}
    assert losses.LossFunctionWrapper.from_config(
        {"reduction": "sum", "name": None, "fn": "mae"}).fn is losses.mean_absolute_error
    # y_pred (N, 1) against y_true (N,): squeezed before the user function sees them
    seen = []
    losses.LossFunctionWrapper(lambda a, b: seen.append((a.shape, b.shape)) or ops.sum(b))(
        y_true[:, 0], y_pred[:, :1])
    assert seen == [((5,), (5,))]


def test_custom_loss_subclass(rng):
    @gk.utils.register_keras_serializable(package="Test")
    class ScaledAbs(losses.Loss):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, y_true, y_pred):
            return ops.multiply(ops.abs(ops.subtract(y_true, y_pred)), self.factor)

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    y_true = rng.normal(size=(4, 2)).astype("float32")
    y_pred = rng.normal(size=(4, 2)).astype("float32")
    loss = ScaledAbs(factor=3.0, reduction="sum", name="scaled")
    expected = 3.0 * np.abs(y_true - y_pred).sum()
    np.testing.assert_allclose(loss(y_true, y_pred), expected, rtol=1e-6)
    np.testing.assert_allclose(run_traced(loss, y_true, y_pred), expected, rtol=1e-6)
    spec = losses.serialize(loss)
    assert spec["registered_name"] == "Test>ScaledAbs"
    clone = losses.deserialize(spec)
    assert isinstance(clone, ScaledAbs) and clone.get_config() == loss.get_config()
    assert losses.get("ScaledAbs").reduction == "auto"
    with pytest.raises(NotImplementedError):
        losses.Loss()(y_true, y_pred)


# ------------------------------------------------------------ specific rules
def test_sparse_ignore_class_function_masks_and_zeros():
    labels = np.array([0, -1, 2, 1])
    probs = np.full((4, 3), 1 / 3, "float32")
    out = losses.sparse_categorical_crossentropy(labels, probs, ignore_class=-1)
    np.testing.assert_allclose(out, [np.log(3), 0.0, np.log(3), np.log(3)], rtol=1e-6)
    np.testing.assert_array_equal(out._keras_mask, [True, False, True, True])
    # sum_over_batch_size averages over valid entries only
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(ignore_class=-1)(labels, probs), np.log(3),
        rtol=1e-6)


def test_sum_over_batch_size_divides_by_element_count():
    y_true = np.zeros((2, 3, 1), "float32")
    y_pred = np.ones((2, 3, 1), "float32")
    sw = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], "float32")
    # per-sample losses (2, 3) all 1, one weighted in: 1 / 6, not 1 / sum(sw)
    np.testing.assert_allclose(losses.MeanSquaredError()(y_true, y_pred, sw), 1 / 6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(y_true, y_pred, sw), 1.0)
    assert losses.MeanSquaredError(reduction="none")(y_true, y_pred, sw).shape == (2, 3)


def test_logits_on_symbolic_outputs_only(rng):
    y = np.array([[1.0, 0.0]], "float32")
    logits = np.array([[-40.0, 40.0]], "float32")
    bce = losses.BinaryCrossentropy()
    # eager arrays carry no logits: probabilities are clipped to [eps, 1 - eps]
    eager = bce(y, gk.activations.sigmoid(logits))
    lo, hi = np.float32(1e-7), np.float32(1 - 1e-7)
    np.testing.assert_allclose(eager, -(np.log(lo + lo) + np.log(1 - hi + lo)) / 2, rtol=1e-5)
    traced = run_traced(lambda a, x: bce(a, gk.activations.sigmoid(x)), y, logits)
    np.testing.assert_allclose(traced, 40.0, rtol=1e-6)
    with pytest.warns(UserWarning, match="from_logits=True"):
        run_traced(lambda a, x: losses.BinaryCrossentropy(from_logits=True)(
            a, gk.activations.sigmoid(x)), y, logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_traced(lambda a, x: bce(a, gk.activations.sigmoid(x)), y, logits)


def test_categorical_one_class_warns():
    with pytest.warns(SyntaxWarning, match="binary_crossentropy"):
        losses.categorical_crossentropy(np.ones((2, 1), "float32"), np.ones((2, 1), "float32"))


def test_python_inputs():
    np.testing.assert_allclose(losses.MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]]), 0.5)
    assert np.asarray(losses.mse([[0.0, 1.0]], [[1.0, 1.0]])).dtype == np.float32
