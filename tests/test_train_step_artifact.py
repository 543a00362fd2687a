"""The saved train-step graph keeps training in a bare onnxruntime session."""
import numpy as np
import onnx
import onnxruntime as ort

import graphkeras as gk


def test_bare_onnxruntime_continues_training(tmp_path, rng):
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x @ rng.standard_normal((5, 1)) > 0).astype(np.float32)
    model = gk.Sequential([gk.layers.Dense(8, activation="relu", input_shape=(5,)),
                           gk.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=gk.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.train_on_batch(x[:16], y[:16])
    path = gk.export.save_step_onnx(model, str(tmp_path / "train_step.onnx"))
    graph = onnx.load(path)
    assert {o.domain for o in graph.opset_import} <= {"", "ai.onnx"}
    assert all(n.domain in ("", "ai.onnx") for n in graph.graph.node)
    state = dict(np.load(str(tmp_path / "train_step.state.npz")))

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    data_names = [i.name for i in session.get_inputs() if i.name not in state]
    assert data_names == ["dense_input", "y"]
    losses = []
    for step in range(6):
        batch = slice(16 * (step % 4), 16 * (step % 4) + 16)
        result = dict(zip(outputs, session.run(None, {"dense_input": x[batch], "y": y[batch], **state})))
        losses.append(float(result["loss"]))
        for name in state:  # feed the new state back
            state[name] = result[f"{name}/new"] if f"{name}/new" in result else state[name]
        model.train_on_batch(x[batch], y[batch], reset_metrics=False)
    # the same steps in graphkeras give the same weights
    for var in model.trainable_weights:
        np.testing.assert_allclose(state[var.path], var.numpy(), rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]
