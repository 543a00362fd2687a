"""Record real tf.keras 2.x ``model.summary()`` text for tests/models/test_summary.py.

The models are built by the builders in ``tests/models/summary_cases.py`` (the
same code the test runs on graphkeras). For each entry of ``CASES`` this writes
``tests/fixtures/summary/<case>.txt``: every line tf.keras passed to ``print_fn``,
each followed by a newline. ``meta.json`` holds, per case, ``count_params()``,
the trainable / non-trainable counts and whether ``print_fn`` ever received more
than one positional argument or any keyword argument; ``errors.json`` holds the
exception type and message of each entry of ``ERROR_CASES``.

Run from the repository root, in the reference environment::

    .venv-ref/bin/python tests/reference/make_summary_fixtures.py

(the script sets ``TF_USE_LEGACY_KERAS=1`` itself and imports ``tf_keras``).
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "models"))
from summary_cases import CASES, ERROR_CASES  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "summary"


def _count(weights):
    unique = {id(w): w for w in weights}.values()
    return int(sum(int(tf.size(w)) for w in unique))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.txt"):
        old.unlink()
    meta = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__, "cases": {}}
    for name, (builder, kwargs) in CASES.items():
        keras.backend.clear_session()
        model = builder(keras)
        lines, extra_args = [], []

        def print_fn(*args, **kw):
            if len(args) != 1 or kw:
                extra_args.append([len(args), sorted(kw)])
            lines.append(args[0])

        model.summary(print_fn=print_fn, **kwargs)
        (OUT / f"{name}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        meta["cases"][name] = {
            "count_params": int(model.count_params()),
            "trainable": _count(model.trainable_weights),
            "non_trainable": _count(model.non_trainable_weights),
            "print_fn_extra_args": extra_args,
        }
        print(f"{name}: {len(lines)} lines")
    errors = {}
    for name, (builder, kwargs) in ERROR_CASES.items():
        keras.backend.clear_session()
        model = builder(keras)
        try:
            model.summary(print_fn=lambda line: None, **kwargs)
        except Exception as err:  # noqa: BLE001 - the type is what we record
            errors[name] = {"type": type(err).__name__, "message": str(err)}
        else:
            errors[name] = None
        print(f"{name}: {errors[name]}")
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    (OUT / "errors.json").write_text(json.dumps(errors, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
