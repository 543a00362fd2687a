"""Reductions on the driver of what the workers' graphs returned: shard-weighted means,
summed metric accumulators, and the step's logs."""
from __future__ import annotations

import numpy as np


def shard_weights(results):
    total = sum(n for n, _ in results)
    return [np.float32(n / total) for n, _ in results]


def weighted_sum(results, i, weights):
    if len(results) == 1:
        return np.ascontiguousarray(results[0][1][i])
    acc = results[0][1][i] * weights[0]
    for (_, outs), w in zip(results[1:], weights[1:]):
        acc += outs[i] * w
    return acc


def apply_state(graph, results, weights):
    """The state a graph wrote, reduced over the workers, into the driver's variables."""
    for i, (_, kind, var) in enumerate(graph.outputs):
        if kind == "sum":
            total = np.array(var.numpy(), copy=True)
            for _, outs in results:
                total = total + outs[i]
            var.assign(total)
        elif kind == "mean":
            var.assign(weighted_sum(results, i, weights))
        elif kind in ("first", "rng"):
            var.assign(results[0][1][i])


def step_logs(model, graph, results, weights):
    """Logs of a step: metric results from the reduced (global) metric state; other
    logs (a ``train_step`` override's own values) as the shard-weighted mean."""
    by_name = {m.name: m for m in model.metrics}
    logs = {}
    for j, name in zip(graph.indices("log"), graph.log_names):
        metric = by_name.get(name)
        if metric is not None:
            value = metric.result()
        else:
            value = weighted_sum(results, j, weights)
        logs[name] = scalar(value)
    return logs


def scalar(value):
    if isinstance(value, dict):
        return {k: scalar(v) for k, v in value.items()}
    value = np.array(value)
    return float(value) if value.size == 1 else value
