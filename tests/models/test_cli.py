"""The graphkeras command line: summary and export, with one-line errors."""
import numpy as np
import onnxruntime as ort

import graphkeras as gk
from graphkeras.cli import main


def saved_model(tmp_path):
    x = gk.Input((4,))
    model = gk.Model(x, gk.layers.Dense(2, activation="relu")(x))
    (tmp_path / "m.json").write_text(model.to_json())
    np.savez(tmp_path / "w.npz", *model.get_weights())
    return model


def test_export_writes_a_runnable_graph(tmp_path, capsys):
    model = saved_model(tmp_path)
    out = tmp_path / "p.onnx"
    assert main(["export", str(tmp_path / "m.json"), "--weights", str(tmp_path / "w.npz"),
                 "-o", str(out)]) == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    data = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    np.testing.assert_allclose(session.run(None, {"input_1": data})[0],
                               model.predict(data, verbose=0), rtol=1e-6)


def test_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope.json"), "-o", str(tmp_path / "p.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphkeras: error: cannot read") and err.count("\n") == 1


def test_bad_json_and_bad_weights(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["summary", str(tmp_path / "bad.json")]) == 1
    assert "not a model JSON" in capsys.readouterr().err
    saved_model(tmp_path)
    np.savez(tmp_path / "w2.npz", np.zeros((9, 9)))
    assert main(["summary", str(tmp_path / "m.json"), "--weights", str(tmp_path / "w2.npz")]) == 1
    assert "do not fit the model" in capsys.readouterr().err
