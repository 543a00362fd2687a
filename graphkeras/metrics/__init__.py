"""``gk.metrics``: stateful metrics as in tf.keras 2.x, and the metric functions.

    m = gk.metrics.AUC()
    m.update_state(y_true, y_pred, sample_weight=w)
    m.result()
    m.reset_state()

Metrics are written on ``gk.ops`` with variable ``assign_add`` updates, so they
run eagerly on numpy and inside compiled train/test steps (their variables
become state of the step graph).

``get(identifier)`` resolves names as tf.keras does: function names
(``"accuracy"``, ``"acc"``, ``"mse"``, ``"binary_accuracy"`` ...) give the
function, class names (``"AUC"``, ``"Precision"``) a new instance; snake-case
class names that are not function names (``"auc"``, ``"precision"``,
``"recall"``, ``"root_mean_squared_error"`` ...) give an instance too.
"""
from __future__ import annotations

from graphkeras import backend, serialization
from graphkeras.metrics.base import (Mean, MeanMetricWrapper, Metric, Reduce, Sum,  # noqa: F401
                                     register)
from graphkeras.metrics.confusion import (AUC, FalseNegatives, FalsePositives,  # noqa: F401
                                          Precision, Recall, TrueNegatives, TruePositives)
from graphkeras.metrics.functions import (  # noqa: F401
    KLD, MAE, MAPE, MSE, MSLE, accuracy, binary_accuracy, binary_crossentropy,
    categorical_accuracy, categorical_crossentropy, categorical_hinge, cosine_similarity, hinge,
    kl_divergence, kld, kullback_leibler_divergence, log_cosh, logcosh, mae, mape,
    mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
    mean_squared_logarithmic_error, mse, msle, poisson, sparse_categorical_accuracy,
    sparse_categorical_crossentropy, sparse_top_k_categorical_accuracy, squared_hinge,
    top_k_categorical_accuracy)
from graphkeras.metrics.iou import MeanIoU  # noqa: F401
from graphkeras.metrics.wrappers import (  # noqa: F401
    Accuracy, BinaryAccuracy, BinaryCrossentropy, CategoricalAccuracy, CategoricalCrossentropy,
    CategoricalHinge, CosineSimilarity, Hinge, KLDivergence, LogCoshError, MeanAbsoluteError,
    MeanAbsolutePercentageError, MeanSquaredError, MeanSquaredLogarithmicError, Poisson,
    RootMeanSquaredError, SparseCategoricalAccuracy, SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy, SquaredHinge, TopKCategoricalAccuracy)

_WHAT = "metric function"


def _register_snake_case_aliases():
    table = serialization._REGISTRY.get("metric", {})
    for name, obj in list(table.items()):
        if isinstance(obj, type) and name == obj.__name__:
            alias = backend.snake_case(name)
            if alias not in table:
                table[alias] = obj


_register_snake_case_aliases()


def _function_name(fn):
    """The registered name of a metric function (what tf.keras writes for ``fn``)."""
    name = getattr(fn, "__name__", None)
    if name is not None and serialization.lookup("metric", name) is fn:
        return name
    registered = getattr(fn, "_registered_name", None)
    return registered or name


def serialize(metric):
    """A metric as ``{"class_name", "config", ...}``; a metric function as its name."""
    if metric is None:
        return None
    if not isinstance(metric, Metric):
        return _function_name(metric)
    spec = serialization.serialize(metric, "keras.metrics")
    config = dict(spec["config"])
    if callable(config.get("fn")):
        config["fn"] = _function_name(config["fn"])
    spec["config"] = config
    return spec


def deserialize(config, custom_objects=None):
    """A metric instance (or function) from ``serialize``'s output or a name."""
    if isinstance(config, dict) and config.get("class_name") == "function":
        config = config.get("config")  # tf.keras' form of a serialized function
    return serialization.deserialize("metric", config, custom_objects, what=_WHAT)


def get(identifier):
    """A metric function or ``Metric`` instance from a name, a config dict, a callable."""
    if isinstance(identifier, (dict, str)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier}")
