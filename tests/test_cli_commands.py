"""The other `graphkeras` commands (summary, predict, bench, doctor), help, usage and exit codes."""
import importlib.metadata
import subprocess
import sys

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.cli import build_parser, main
from graphkeras.compiler.primitive import PRIMITIVES

COMMANDS = ["compile", "summary", "predict", "bench", "doctor", "export"]


def saved(tmp_path, name="m.h5"):
    model = gk.Sequential([gk.layers.Dense(5, activation="relu", input_shape=(3,)),
                           gk.layers.Dropout(0.5), gk.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / name)
    return model, str(tmp_path / name)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: graphkeras {command}")


def test_top_level_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS)


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["compile", "m.h5"],
                                  ["compile", "m.h5", "-o", "x", "--target", "serve"],
                                  ["compile", "m.h5", "-o", "x", "--batch-size", "0"],
                                  ["bench", "m.h5", "--steps", "many"]])
def test_usage_errors_exit_2_in_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "--help" in err


@pytest.mark.parametrize("command", [["summary"], ["doctor"], ["bench"], ["compile", "-o", "o"],
                                     ["predict", "d.npy", "-o", "o.npy"]])
def test_bad_files_are_one_line_errors(tmp_path, command, capsys):
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # HDF5 magic, no file
    for path, message in ((tmp_path / "missing.h5", "cannot read"),
                          (tmp_path / "junk.h5", "is not a HDF5 model graphkeras can read")):
        assert main([command[0], str(path)] + command[1:]) == 1
        err = capsys.readouterr().err
        assert err.startswith("graphkeras: error: ") and err.count("\n") == 1
        assert message in err


def test_console_script_entry_point():
    scripts = importlib.metadata.entry_points(group="console_scripts")
    entry = [e for e in scripts if e.name == "graphkeras"]
    assert entry and entry[0].value == "graphkeras.cli:main" and entry[0].load() is main
    proc = subprocess.run([sys.executable, "-m", "graphkeras.cli", "doctor", "nope.h5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_summary_of_an_h5_file(tmp_path, capsys):
    _, path = saved(tmp_path)
    assert main(["summary", path]) == 0
    out = capsys.readouterr().out
    assert "dense (Dense)" in out and "Total params: 32" in out


def test_predict_npy_and_npz(tmp_path, capsys):
    model, path = saved(tmp_path, "m.keras")
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", path, str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                 "--batch-size", "2"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.savez(tmp_path / "x.npz", dense_input=x)
    assert main(["predict", path, str(tmp_path / "x.npz"), "-o", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as out:
        np.testing.assert_allclose(out["dense_1"], model.predict(x, verbose=0), rtol=1e-5,
                                   atol=1e-6)
    np.savez(tmp_path / "bad.npz", a=x, b=x)
    capsys.readouterr()
    assert main(["predict", path, str(tmp_path / "bad.npz"), "-o", str(tmp_path / "z.npy")]) == 1
    assert "name the arrays after them" in capsys.readouterr().err


def test_bench_reports_ratios(tmp_path, capsys):
    _, path = saved(tmp_path)
    assert main(["bench", path, "--batch-size", "4", "--steps", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bench: model 'sequential', batch 4, 2 steps")
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"predict", "train"}
    for line in rows.values():
        numbers = [float(w) for w in line.replace("ms", "").split()[1:] if w != "step"]
        assert len(numbers) == 5 and all(n > 0 for n in numbers)


def test_doctor_lists_ops_per_layer(tmp_path, capsys):
    _, path = saved(tmp_path)
    assert main(["doctor", path]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith("dense (Dense)"))
    assert row.split()[2:5] == ["add", "1", "yes"]
    assert any("matmul" in line and "yes" in line for line in lines)
    dropout = [line for line in lines if "hash_uniform" in line]
    assert dropout and dropout[0].rstrip().endswith("n/a")  # random draws: no gradient needed
    assert "(train step: loss, gradients, optimizer)" in out
    assert lines[-1] == "no problems found"


def test_doctor_flags_a_missing_lowering(tmp_path, capsys, monkeypatch):
    _, path = saved(tmp_path)
    monkeypatch.setattr(PRIMITIVES["relu"], "onnx", None)
    monkeypatch.setattr(PRIMITIVES["relu"], "vjp", None)
    assert main(["doctor", path]) == 1
    out = capsys.readouterr().out
    relu = next(line for line in out.splitlines() if " relu " in f" {line} ")
    assert " NO " in relu and relu.rstrip().endswith("MISSING")
    assert out.splitlines()[-1].startswith(
        "3 problem(s): relu has no ONNX lowering; relu has no gradient rule; cannot trace the "
        "train step")


def test_parser_keeps_export_options():
    args = build_parser().parse_args(["export", "m.json", "-o", "p.onnx", "--weights", "w.npz"])
    assert (args.model, args.output, args.weights) == ("m.json", "p.onnx", "w.npz")
