"""`graphkeras compile`: artefacts, manifest, state file, and the self-check that guards them."""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphkeras as gk
from graphkeras.cli import main
from graphkeras.compiler.primitive import PRIMITIVES
from graphkeras.deploy import DeployError, compile_artifacts, read_state
from graphkeras.deploy.check import check_onnx


def small_model(dropout=True):
    layers = [gk.layers.Dense(6, activation="relu", input_shape=(4,))]
    if dropout:
        layers += [gk.layers.Dropout(0.2), gk.layers.BatchNormalization()]
    model = gk.Sequential(layers + [gk.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def compile_file(tmp_path, model, *extra, name="m.h5"):
    model.save(tmp_path / name)
    out = tmp_path / "out"
    rc = main(["compile", str(tmp_path / name), "-o", str(out), *extra])
    return rc, out


def manifest_of(out):
    with open(out / "manifest.json") as f:
        return json.load(f)


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("graphkeras: error: ") and err.count("\n") == 1, err
    return err


def test_compile_writes_checked_artefacts_and_manifest(tmp_path, capsys):
    model = small_model()
    rc, out = compile_file(tmp_path, model)
    assert rc == 0
    assert "self-check passed" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["manifest.json", "predict.onnx",
                                      "predict_from_state.onnx", "state.bin", "test_step.onnx",
                                      "train_step.onnx"]
    manifest = manifest_of(out)
    assert manifest["format"] == "graphkeras-deploy"
    assert manifest["checked"]["batch_sizes"] == [1, 3]
    train = manifest["graphs"]["train_step"]
    inputs = {t["name"]: t for t in train["inputs"]}
    assert inputs["dense_input"]["role"] == "x" and inputs["dense_input"]["shape"] == [None, 4]
    assert inputs["y"] == {"name": "y", "shape": [None], "dtype": "int64", "kind": "data",
                           "role": "y"}  # sparse cross-entropy: integer class targets
    roles = {t["role"] for t in train["inputs"] + train["outputs"]}
    assert roles == {"x", "y", "weight", "optimizer", "counter", "metric", "rng", "log"}
    assert [t["name"] for t in train["outputs"] if t["kind"] == "log"] == ["loss", "accuracy"]
    # each state output feeds an input of the same graph, and that input reads that state
    for t in train["outputs"]:
        if t["kind"] == "state":
            assert t["feeds"] in inputs and inputs[t["feeds"]]["state"] == t["state"]
            assert train["feedback"][t["name"]] == t["feeds"]
    # the state file holds every state tensor the steps read, with the model's values
    state = read_state(out / "state.bin", manifest["state"]["tensors"])
    for graph in ("train_step", "test_step"):
        for t in manifest["graphs"][graph]["inputs"]:
            if t["kind"] == "state":
                assert state[t["state"]].shape == tuple(t["shape"])
    assert all(t["offset"] % 64 == 0 for t in manifest["state"]["tensors"])
    fresh = gk.models.load_model(tmp_path / "m.h5")
    for var in fresh.weights:
        np.testing.assert_array_equal(state[var.path], var.numpy())
    assert state["iteration"].shape == () and int(state["iteration"]) == 0


def test_predict_graph_has_a_dynamic_batch_axis(tmp_path):
    model = small_model()
    rc, out = compile_file(tmp_path, model)
    assert rc == 0
    proto = onnx.load(str(out / "predict.onnx"))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(str(out / "predict.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"dense_input": x})[0],
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # predict's initializers are named after the state tensors they come from
    weights = manifest_of(out)["graphs"]["predict"]["weights"]
    assert {w["name"] for w in weights} >= {"dense/kernel", "dense_1/bias"}
    assert all(w["state"] == w["name"] for w in weights)


def test_fixed_batch_size_pins_the_batch_axis(tmp_path):
    rc, out = compile_file(tmp_path, small_model(dropout=False), "--batch-size", "4")
    assert rc == 0
    manifest = manifest_of(out)
    assert manifest["checked"]["batch_sizes"] == [4]
    for name in ("predict", "predict_from_state", "train_step", "test_step"):
        proto = onnx.load(str(out / f"{name}.onnx"))
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_value == 4 and not dims[0].dim_param
        assert manifest["graphs"][name]["inputs"][0]["shape"] == [4, 4]


def test_sample_weight_input_on_request(tmp_path):
    rc, out = compile_file(tmp_path, small_model(dropout=False), "--sample-weight",
                           "--target", "train")
    assert rc == 0
    data = [t for t in manifest_of(out)["graphs"]["train_step"]["inputs"] if t["kind"] == "data"]
    assert [(t["name"], t["role"], t["shape"]) for t in data] == [
        ("dense_input", "x", [None, 4]), ("y", "y", [None]),
        ("sample_weight", "sample_weight", [None])]
    assert not os.path.exists(out / "predict.onnx")


def test_model_json_gives_predict_only(tmp_path, capsys):
    model = small_model(dropout=False)
    (tmp_path / "m.json").write_text(model.to_json())
    np.savez(tmp_path / "w.npz", *model.get_weights())
    args = ["compile", str(tmp_path / "m.json"), "--weights", str(tmp_path / "w.npz"), "-o",
            str(tmp_path / "out")]
    assert main(args) == 1
    assert "no training configuration" in one_line_error(capsys)
    assert main(args + ["--target", "predict"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["manifest.json", "predict.onnx"]


def test_wrong_lowering_fails_the_self_check_and_keeps_the_old_artefacts(tmp_path, capsys,
                                                                         monkeypatch):
    rc, out = compile_file(tmp_path, small_model(dropout=False))
    assert rc == 0
    before = (out / "train_step.onnx").read_bytes()
    capsys.readouterr()
    # a relu lowered as a leaky relu: ONNX Runtime and the numpy reference now disagree
    monkeypatch.setattr(PRIMITIVES["relu"], "onnx",
                        lambda b, node, x: b.op("LeakyRelu", [x], alpha=0.5))
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(out)]) == 1
    err = one_line_error(capsys)
    assert "self-check failed" in err and "max abs error" in err and ".onnx output" in err
    assert (out / "train_step.onnx").read_bytes() == before
    assert not [n for n in os.listdir(out) if n.startswith(".tmp")]


def test_onnx_checker_runs_full_shape_inference(tmp_path):
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2, 3])])  # inferred: [2, 2]
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)  # the plain check does not see it
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(DeployError, match="bad.onnx: onnx.checker failed"):
        check_onnx(str(tmp_path / "bad.onnx"))


def test_recompiling_replaces_artefacts_of_the_earlier_target(tmp_path):
    rc, out = compile_file(tmp_path, small_model(dropout=False))
    assert rc == 0 and os.path.exists(out / "train_step.onnx")
    assert main(["compile", str(tmp_path / "m.h5"), "-o", str(out), "--target", "predict"]) == 0
    assert sorted(os.listdir(out)) == ["manifest.json", "predict.onnx"]


def test_tvm_without_tvm_says_how_to_install_in_one_line(tmp_path, capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tvm", None)  # `import tvm` raises ImportError
    small_model(dropout=False).save(tmp_path / "m.h5")
    for extra in (["--tvm"], ["--tvm", "--tune", "8"], ["--tune", "8"]):
        assert main(["compile", str(tmp_path / "m.h5"), "-o", str(tmp_path / "o"), *extra]) == 1
        err = one_line_error(capsys)
        assert err.startswith("graphkeras: error: --tvm: ") and "pip install graphkeras[tvm]" in err
    assert not os.path.exists(tmp_path / "o")


def test_api_reuses_the_models_own_step(tmp_path, rng):
    """A trained model's step keeps the targets it was trained with: (n, 1) integer labels."""
    model = small_model(dropout=False)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    model.train_on_batch(x, rng.integers(0, 3, (8, 1)))
    manifest = compile_artifacts(model, tmp_path / "out", target="train")
    y = [t for t in manifest["graphs"]["train_step"]["inputs"] if t["role"] == "y"]
    assert y[0]["shape"] == [None, 1] and y[0]["dtype"] == "int64"
    state = read_state(tmp_path / "out" / "state.bin", manifest["state"]["tensors"])
    assert int(state["iteration"]) == 1  # the state as training left it
    with pytest.raises(DeployError, match="unknown target"):
        compile_artifacts(model, tmp_path / "o2", target="serve")


def test_multi_output_targets_follow_each_loss(tmp_path):
    inp = gk.Input((3,), name="features")
    h = gk.layers.Dense(4, activation="relu")(inp)
    model = gk.Model(inp, [gk.layers.Dense(3, name="cls")(h), gk.layers.Dense(2, name="reg")(h)])
    model.compile("sgd", loss={"cls": gk.losses.SparseCategoricalCrossentropy(from_logits=True),
                               "reg": "mse"})
    rc, out = compile_file(tmp_path, model, name="m.keras")
    assert rc == 0
    data = [(t["name"], t["shape"], t["dtype"]) for t in
            manifest_of(out)["graphs"]["test_step"]["inputs"] if t["kind"] == "data"]
    assert data == [("features", [None, 3], "float32"), ("y0", [None], "int64"),
                    ("y1", [None, 2], "float32")]
