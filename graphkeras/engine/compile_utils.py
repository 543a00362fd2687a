"""What ``compile(loss=..., metrics=...)`` builds: the loss and metric containers.

``LossesContainer`` turns the ``loss`` and ``loss_weights`` arguments into one
scalar per step (per-output losses, weighted, plus regularization penalties)
and keeps tf.keras' loss trackers (``loss``, and ``<output>_loss`` when the
model has several outputs), weighted by batch size. ``MetricsContainer``
resolves metric names per output (``"accuracy"`` to the binary, sparse or
categorical variant from the shapes of targets and predictions, as tf.keras 2.x does) and names them as
tf.keras does (``out_1_mae``).
"""
from __future__ import annotations

from graphkeras import losses as losses_mod
from graphkeras import metrics as metrics_mod
from graphkeras.compiler import ops


def _per_output(spec, output_names, what):
    """``spec`` (one, list or dict) as a list aligned with the outputs."""
    n = len(output_names)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(output_names))
        if unknown:
            raise ValueError(f"Found unexpected {what} keys {unknown}. Expected keys are the "
                             f"model's output names: {output_names}.")
        return [spec.get(name) for name in output_names]
    if isinstance(spec, (list, tuple)) and what != "metrics":
        if len(spec) != n:
            raise ValueError(f"When passing a list as `{what}`, it should have one entry per model "
                             f"output. The model has {n} outputs, but you passed "
                             f"{what}={list(spec)}")
        return list(spec)
    return [spec] * n


class LossesContainer:
    def __init__(self, loss, loss_weights, output_names):
        self.output_names = list(output_names)
        specs = _per_output(loss, self.output_names, "loss")
        weights = _per_output(loss_weights, self.output_names, "loss_weights") \
            if loss_weights is not None else [None] * len(self.output_names)
        self.losses = [None if s is None else _loss_object(s) for s in specs]
        self.weights = [1.0 if w is None else float(w) for w in weights]
        self.loss_metric = metrics_mod.Mean(name="loss")
        multi = len(self.output_names) > 1
        self.per_output_metrics = [metrics_mod.Mean(name=f"{name}_loss") if multi and fn is not None
                                   else None for name, fn in zip(self.output_names, self.losses)]

        self._built = False  # as tf.keras: no loss trackers until a loss was computed

    @property
    def metrics(self):
        if not self._built:
            return []
        return [self.loss_metric] + [m for m in self.per_output_metrics if m is not None]

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        """The total loss of a batch; updates the loss trackers."""
        self._built = True
        y_true, y_pred = align(y_true, self.output_names), align(y_pred, self.output_names)
        sample_weight = align(sample_weight, self.output_names, replicate=True)
        total = None
        batch = None
        for i, fn in enumerate(self.losses):
            if fn is None:
                continue
            yt, yp, sw = y_true[i], y_pred[i], None if sample_weight is None else sample_weight[i]
            if yt is None:
                raise ValueError(f"The model output {self.output_names[i]!r} has a loss, but no "
                                 "target (y) was given for it.")
            yt, yp, sw = match_dtype_and_rank(yt, yp, sw)
            sw = apply_mask(yp, sw, getattr(yp, "_keras_mask", None))  # a masked output
            value = fn(yt, yp, sample_weight=sw)
            batch = ops.cast(_batch_size(yp), "float32")
            if self.per_output_metrics[i] is not None:
                self.per_output_metrics[i].update_state(value, sample_weight=batch)
            weighted = ops.multiply(value, self.weights[i]) if self.weights[i] != 1.0 else value
            total = weighted if total is None else ops.add(total, weighted)
        if regularization_losses:
            penalty = regularization_losses[0]
            for r in regularization_losses[1:]:
                penalty = ops.add(penalty, r)
            total = penalty if total is None else ops.add(total, ops.cast(penalty, "float32"))
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        self.loss_metric.update_state(total, sample_weight=batch if batch is not None else 1.0)
        return total

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()


def align(structure, output_names, replicate=False):
    """Targets, predictions or sample weights as a list in output order: from one
    value (a single-output model; ``replicate`` repeats it for every output), a
    list or tuple in output order, or a dict keyed by output name."""
    if structure is None:
        return None if replicate else [None] * len(output_names)
    if isinstance(structure, dict):
        return [structure.get(name) for name in output_names]
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure] * len(output_names) if replicate else [structure]


def _loss_object(spec):
    """A ``Loss`` for ``spec``; plain functions are wrapped as tf.keras does."""
    loss = losses_mod.get(spec)
    if isinstance(loss, losses_mod.Loss):
        return loss
    name = spec if isinstance(spec, str) else getattr(loss, "__name__", "loss")
    return losses_mod.LossFunctionWrapper(loss, name=name)


def match_dtype_and_rank(y_t, y_p, sw):
    """tf.keras' alignment before losses and metrics: rank-1 targets and weights of a
    rank-2 prediction get a trailing axis; float targets take the prediction's dtype."""
    from graphkeras.compiler.ir import is_float
    if len(y_t.shape) == 1 and len(y_p.shape) == 2:
        y_t = ops.expand_dims(y_t, -1)
    if sw is not None and len(sw.shape) == 1 and len(y_p.shape) == 2:
        sw = ops.expand_dims(sw, -1)
    if (is_float(y_t.dtype) and is_float(y_p.dtype)) or \
            (not is_float(y_t.dtype) and not is_float(y_p.dtype) and y_t.dtype != "bool"):
        y_t = ops.cast(y_t, y_p.dtype)
    if sw is not None:
        sw = ops.cast(sw, y_p.dtype)
    return y_t, y_p, sw


def apply_mask(y_pred, sample_weight, mask):
    """tf.keras' ``apply_mask``: the output mask (as ``y_pred``'s dtype) times the sample
    weights (their rank matched to the mask's)."""
    if mask is None:
        return sample_weight
    from graphkeras.losses.base import squeeze_or_expand_dimensions
    mask = ops.cast(mask, y_pred.dtype)
    if sample_weight is None:
        return mask
    sample_weight = ops.cast(sample_weight, mask.dtype)
    mask, _, sample_weight = squeeze_or_expand_dimensions(mask, sample_weight=sample_weight)
    return ops.multiply(sample_weight, mask)


def _batch_size(y):
    """The batch dimension as a scalar (known now, or read at run time)."""
    from graphkeras.compiler.ops.reduce import dim_size
    return dim_size(y, (0,), "float32")


class MetricsContainer:
    def __init__(self, metrics, weighted_metrics, output_names):
        self.output_names = list(output_names)
        self._metric_specs = _metric_lists(metrics, self.output_names)
        self._weighted_specs = _metric_lists(weighted_metrics, self.output_names)
        self._built = False
        self.metrics_per_output: list[list] = []
        self.weighted_per_output: list[list] = []

    def build(self, y_true, y_pred):
        if self._built:
            return
        multi = len(self.output_names) > 1
        taken = set()
        for i, name in enumerate(self.output_names):
            row, weighted_row = [], []
            for spec, dest, weighted in [(s, row, False) for s in self._metric_specs[i]] + \
                    [(s, weighted_row, True) for s in self._weighted_specs[i]]:
                metric = _resolve_metric(spec, y_true[i], y_pred[i])
                base = _metric_name(spec, metric)
                full = f"{name}_{base}" if multi else base
                if full in taken and weighted:
                    full = f"{name}_weighted_{base}" if multi else f"weighted_{base}"
                if full in taken:
                    raise ValueError(f"Found two metrics with the same name: {full}. All the "
                                     "metrics added to the model need to have unique names.")
                taken.add(full)
                metric._name = full
                dest.append(metric)
            self.metrics_per_output.append(row)
            self.weighted_per_output.append(weighted_row)
        self._built = True

    @property
    def metrics(self):
        out = []
        for row, weighted in zip(self.metrics_per_output, self.weighted_per_output):
            out += row + weighted
        return out

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = align(y_true, self.output_names), align(y_pred, self.output_names)
        sample_weight = align(sample_weight, self.output_names, replicate=True)
        self.build(y_true, y_pred)
        for i in range(len(self.output_names)):
            yt, yp = y_true[i], y_pred[i]
            if yt is None:
                continue
            sw = None if sample_weight is None else sample_weight[i]
            yt, yp, sw = match_dtype_and_rank(yt, yp, sw)
            mask = getattr(yp, "_keras_mask", None)  # tf.keras: the mask weighs every metric
            sw = apply_mask(yp, sw, mask)
            for metric in self.metrics_per_output[i]:
                metric.update_state(yt, yp, sample_weight=mask)
            for metric in self.weighted_per_output[i]:
                metric.update_state(yt, yp, sample_weight=sw)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()


def _metric_lists(spec, output_names):
    n = len(output_names)
    if spec is None:
        return [[] for _ in range(n)]
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(output_names))
        if unknown:
            raise ValueError(f"Found unexpected metrics keys {unknown}. Expected keys are the "
                             f"model's output names: {output_names}.")
        return [_as_list(spec.get(name)) for name in output_names]
    if isinstance(spec, (list, tuple)) and n > 1 and spec and all(
            isinstance(s, (list, tuple)) or s is None for s in spec):
        if len(spec) != n:
            raise ValueError(f"When passing a list of lists as `metrics`, it should have one entry "
                             f"per model output ({n}); received {len(spec)}.")
        return [_as_list(s) for s in spec]
    return [_as_list(spec) for _ in range(n)]


def _as_list(spec):
    if spec is None:
        return []
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


def _resolve_metric(spec, y_true, y_pred):
    """A fresh metric object for ``spec``; 'accuracy'/'crossentropy' chosen by shapes."""
    if isinstance(spec, str) and spec in ("accuracy", "acc", "crossentropy", "ce"):
        y_t_rank, y_p_rank = len(y_true.shape), len(y_pred.shape)
        y_t_last = y_true.shape[-1] if y_t_rank else None
        y_p_last = y_pred.shape[-1] if y_p_rank else None
        is_binary = y_p_last == 1
        is_sparse = y_t_rank < y_p_rank or (y_t_last == 1 and y_p_last is not None and y_p_last > 1)
        if spec in ("accuracy", "acc"):
            if is_binary:
                return metrics_mod.BinaryAccuracy(name=spec)
            if is_sparse:
                return metrics_mod.SparseCategoricalAccuracy(name=spec)
            return metrics_mod.CategoricalAccuracy(name=spec)
        if is_binary:
            return metrics_mod.BinaryCrossentropy(name=spec)
        if is_sparse:
            return metrics_mod.SparseCategoricalCrossentropy(name=spec)
        return metrics_mod.CategoricalCrossentropy(name=spec)
    if isinstance(spec, metrics_mod.Metric):
        return spec
    metric = metrics_mod.get(spec)
    if isinstance(metric, metrics_mod.Metric):
        return metric
    name = spec if isinstance(spec, str) else getattr(metric, "__name__", "metric")
    return metrics_mod.MeanMetricWrapper(metric, name=name)


def _metric_name(spec, metric):
    if isinstance(spec, str):
        return spec
    return metric.name
