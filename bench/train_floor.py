"""How fast can W1's Adam step be on ONNX Runtime's CPU provider? A floor, measured.

Run: `.venv/bin/python bench/train_floor.py` (about a minute on 2 cores).

ONNX Runtime runs a graph one node at a time and fuses no chains of elementwise
nodes on the CPU, so each elementwise node is one pass over its tensors. Adam's
update as tf.keras writes it is 12 such nodes per variable (3 for m, 4 for v, 5 for
the weight); no standard ONNX op does more of it per pass. This script measures, in
one run:

  fit step      W1 (issue 4) inside `fit`, with Adam and with plain SGD
  GEMMs alone   the step's 8 matrix products as Gemm nodes in one session
  Adam alone    the 12-node update over W1's six variables, and over one flat
                buffer of all 269,322 parameters (fewer, bigger nodes)
  GEMM limit    bench/train.py's: numpy matmuls at the step's shapes

The floor is GEMMs alone + the faster Adam alone: what a step would cost if the
loss, the backward pass' other nodes and the Python loop were free.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

sys.path.insert(0, ".")
sys.path.insert(0, "bench")
import graphkeras as gk  # noqa: E402
import train  # noqa: E402

BATCH = 128
SHAPES = [(784, 256), (256,), (256, 256), (256,), (256, 10), (10,)]


def _session(nodes, inputs, outputs, inits=()):
    model = helper.make_model(helper.make_graph(nodes, "floor", inputs, outputs, list(inits)),
                              opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _time(session, repeats=200, rounds=7):
    feeds = {i.name: ort.OrtValue.ortvalue_from_numpy(
        np.random.default_rng(0).random(i.shape, dtype=np.float32) + 0.5)
        for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    for _ in range(50):
        session.run_with_ort_values(names, feeds)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeats):
            session.run_with_ort_values(names, feeds)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def gemms_alone():
    """x@W0, h1@W1, h2@W2, then dW2, dh2, dW1, dh1, dW0 with the step's transposes."""
    products = [("x", "W0", 0, 0, "h1"), ("h1", "W1", 0, 0, "h2"), ("h2", "W2", 0, 0, "o"),
                ("h2", "o", 1, 0, "dW2"), ("o", "W2", 0, 1, "dh2"), ("h1", "dh2", 1, 0, "dW1"),
                ("dh2", "W1", 0, 1, "dh1"), ("x", "dh1", 1, 0, "dW0")]
    nodes = [helper.make_node("Gemm", [a, b], [out], transA=ta, transB=tb)
             for a, b, ta, tb, out in products]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in
              (("x", (BATCH, 784)), ("W0", (784, 256)), ("W1", (256, 256)), ("W2", (256, 10)))]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
               for n in ("dW2", "dW1", "dW0")]
    return _time(_session(nodes, inputs, outputs))


def adam_alone(shapes):
    """tf.keras' update: m += (g - m)(1 - b1); v += (g*g - v)(1 - b2);
    w -= m * alpha / (sqrt(v) + eps), for every shape in ``shapes``."""
    nodes, inputs, outputs = [], [], []
    for i, shape in enumerate(shapes):
        p = f"w{i}/"

        def node(op, ins, out):
            nodes.append(helper.make_node(op, [x if x in CONSTS else p + x for x in ins], [p + out]))
        node("Sub", ["g", "m"], "a"), node("Mul", ["a", "c1"], "b"), node("Add", ["m", "b"], "m2")
        node("Mul", ["g", "g"], "gg"), node("Sub", ["gg", "v"], "c"), node("Mul", ["c", "c2"], "d")
        node("Add", ["v", "d"], "v2"), node("Mul", ["m2", "alpha"], "e"), node("Sqrt", ["v2"], "f")
        node("Add", ["f", "eps"], "h"), node("Div", ["e", "h"], "u"), node("Sub", ["w", "u"], "w2")
        inputs += [helper.make_tensor_value_info(p + k, TensorProto.FLOAT, shape) for k in "gmvw"]
        outputs += [helper.make_tensor_value_info(p + k, TensorProto.FLOAT, shape)
                    for k in ("m2", "v2", "w2")]
    inits = [helper.make_tensor(k, TensorProto.FLOAT, [], [v]) for k, v in CONSTS.items()]
    return _time(_session(nodes, inputs, outputs, inits))


CONSTS = {"c1": 0.1, "c2": 0.001, "alpha": 1e-3, "eps": 1e-7}


def fit_step(optimizer):
    model = train.w1()
    model.compile(optimizer=optimizer,
                  loss=gk.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = train.data("w1", BATCH * 40)
    return train.fit_step_time(model, x, y, BATCH)


def main():
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}")
    fit_adam = fit_step(gk.optimizers.Adam(1e-3))
    fit_sgd = fit_step(gk.optimizers.SGD(0.01))
    gemms = gemms_alone()
    size = sum(int(np.prod(s)) for s in SHAPES)
    adam_vars, adam_flat = adam_alone(SHAPES), adam_alone([(size,)])
    # last: numpy's BLAS threads spin afterwards; the faster of two tries (a conservative ratio)
    limit = min(train.gemm_limit("w1", BATCH) for _ in range(2))
    floor = gemms + min(adam_vars, adam_flat)
    ms = 1e3
    print(f"W1 fit step, Adam      {fit_adam * ms:7.3f} ms  {fit_adam / limit:5.2f}x GEMM limit")
    print(f"W1 fit step, SGD       {fit_sgd * ms:7.3f} ms  {fit_sgd / limit:5.2f}x")
    print(f"GEMMs alone (ORT)      {gemms * ms:7.3f} ms  {gemms / limit:5.2f}x")
    print(f"Adam alone, 6 tensors  {adam_vars * ms:7.3f} ms")
    print(f"Adam alone, flat       {adam_flat * ms:7.3f} ms  ({size:,} parameters)")
    print(f"floor (GEMMs + Adam)   {floor * ms:7.3f} ms  {floor / limit:5.2f}x")
    print(f"GEMM limit (numpy)     {limit * ms:7.3f} ms; 1.3x of it: {1.3 * limit * ms:.3f} ms")


if __name__ == "__main__":
    main()
