"""``graphkeras bench``: predict and train-step time of a model, against the same graph in
a plain ONNX Runtime session and against the GEMM limit (:mod:`graphkeras.deploy.gemm`).

* graphkeras: ``model.predict`` / ``model.fit`` per batch (best of ``repeats`` passes
  over ``steps`` batches, after a warm-up pass that compiles);
* raw onnxruntime: the same exported graph in an ``InferenceSession`` — predict with
  ``session.run``, the train step with its state kept as OrtValues and fed back
  (``run_with_ort_values``, the fastest plain-API loop);
* GEMM limit: the graph's matrix products timed as numpy matmuls at their own shapes.
"""
from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort

from graphkeras.deploy.gemm import gemm_limit, gemm_shapes
from graphkeras.deploy.loading import has_training_config
from graphkeras.deploy.specs import example_batch, input_specs, output_specs, target_specs
from graphkeras.runtime.providers import get_providers, session_providers


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=session_providers())


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_model(model, batch_size=32, steps=20, repeats=3) -> dict:
    """``{"predict": {...}, "train": {...}}``: seconds per batch for graphkeras, raw
    onnxruntime and the GEMM limit (``train`` only for a model compiled for training)."""
    from graphkeras.export import predict_onnx
    x_specs = input_specs(model)
    model.make_predict_function()
    predict_graph = model._predict_graph
    outputs = output_specs(predict_graph.graph, model)
    n = batch_size * steps
    y_specs = target_specs(model, outputs) if has_training_config(model) else []
    xs, ys, _ = example_batch(x_specs, y_specs, [], outputs, n)
    x = xs[0] if len(xs) == 1 else xs
    results = {}

    # predict
    model.predict(x, batch_size=batch_size, verbose=0)
    gk_t = _best(lambda: model.predict(x, batch_size=batch_size, verbose=0), repeats) / steps
    session = _session(predict_onnx(model))
    names = [i.name for i in session.get_inputs()]
    batches = [{nm: a[i * batch_size:(i + 1) * batch_size] for nm, a in zip(names, xs)}
               for i in range(steps)]

    def raw_predict():
        for feeds in batches:
            session.run(None, feeds)

    raw_predict()
    results["predict"] = {"graphkeras": gk_t, "raw": _best(raw_predict, repeats) / steps,
                          "shapes": gemm_shapes(predict_graph.graph, batch_size)}

    if y_specs:
        y = ys[0] if len(ys) == 1 else ys
        fit = dict(batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        model.fit(x, y, **fit)
        gk_t = _best(lambda: model.fit(x, y, **fit), repeats) / steps
        step = [s for k, s in model._steps.items() if k[0] == "train"][-1]
        results["train"] = {"graphkeras": gk_t, "raw": _raw_step(model, xs, ys, batch_size, steps,
                                                                 repeats),
                            "shapes": gemm_shapes(step.graph, batch_size)}
    # numpy's BLAS threads keep spinning after a product and would slow what runs next,
    # so the GEMM limits are measured last
    for row in results.values():
        row["gemm"] = gemm_limit(row.pop("shapes"))
    results["providers"] = get_providers()
    return results


def _raw_step(model, xs, ys, batch_size, steps, repeats):
    from graphkeras.export import step_onnx
    graph, state = step_onnx(model)
    session = _session(graph)
    data_names = [i.name for i in session.get_inputs() if i.name not in state]
    outputs = [o.name for o in session.get_outputs()]
    device = "cuda" if session_providers()[0][0] != "CPUExecutionProvider" else "cpu"
    state = {k: ort.OrtValue.ortvalue_from_numpy(np.asarray(v), device, 0)
             for k, v in state.items()}
    feedback = {f"{k}/new": k for k in state}
    arrays = xs + [np.ascontiguousarray(a) for a in ys]
    batches = [[ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(
        a[i * batch_size:(i + 1) * batch_size])) for a in arrays] for i in range(steps)]

    def run():
        for batch in batches:
            feeds = dict(zip(data_names, batch))
            feeds.update(state)
            result = session.run_with_ort_values(outputs, feeds)
            for name, value in zip(outputs, result):
                key = feedback.get(name)
                if key is not None:
                    state[key] = value

    run()
    return _best(run, repeats) / steps


def format_results(model, results, batch_size, steps, repeats=3) -> list[str]:
    lines = [f"bench: model {model.name!r}, batch {batch_size}, {steps} steps (best of "
             f"{repeats}), providers {', '.join(results['providers'])}",
             f"{'':12}{'graphkeras':>12}{'raw ORT':>12}{'ratio':>8}{'GEMM limit':>12}{'ratio':>8}"]
    for label, key in (("predict", "predict"), ("train step", "train")):
        row = results.get(key)
        if row is None:
            continue
        g, r, lim = row["graphkeras"], row["raw"], row["gemm"]
        ratio = f"{g / lim:8.2f}" if lim > 0 else f"{'-':>8}"
        lines.append(f"{label:<12}{g * 1e3:9.3f} ms{r * 1e3:9.3f} ms{g / r:8.2f}"
                     f"{lim * 1e3:9.3f} ms{ratio}")
    if "train" not in results:
        lines.append("(no train step: the model has no training configuration)")
    return lines
