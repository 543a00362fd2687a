"""Record tf.keras 2.x callback behaviour for tests/test_callbacks.py.

Runs every scenario of ``tests/callback_cases.py`` on ``tf_keras.callbacks`` (fake
model, synthetic logs, fake clock) and writes the results to
``tests/fixtures/callbacks/reference.json``. It also records the hook order of a
real tf.keras ``fit`` (2 epochs, 2 steps, validation), ``evaluate`` and
``predict``, checks that the scenarios' simulated fit calls hooks in that same
order, and prints it (tests/test_callbacks.py hard-codes it).

Run from the repository root, in the reference environment::

    .venv-ref/bin/python tests/reference/make_callback_fixtures.py
"""
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras.src.utils import generic_utils  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import callback_cases  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "callbacks"


@contextlib.contextmanager
def patch_clock(clock):
    saved = generic_utils.time
    generic_utils.time = clock
    try:
        yield
    finally:
        generic_utils.time = saved


def real_hook_order():
    calls = []
    tf.random.set_seed(0)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=["mae"])
    x = np.random.rand(8, 3).astype("float32")
    y = np.random.rand(8, 1).astype("float32")
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x[:8], y[:8]), verbose=0,
              callbacks=callback_cases.make_recorders(keras.callbacks, calls))
    fit = list(calls)
    calls.clear()
    model.evaluate(x, y, batch_size=4, verbose=0,
                   callbacks=callback_cases.make_recorders(keras.callbacks, calls))
    evaluate = list(calls)
    calls.clear()
    model.predict(x, batch_size=4, verbose=0,
                  callbacks=callback_cases.make_recorders(keras.callbacks, calls))
    return {"fit": fit, "evaluate": evaluate, "predict": calls}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, case in callback_cases.CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            env = callback_cases.Env(keras.callbacks,
                                     lambda v: tf.Variable(v, dtype=tf.float32),
                                     patch_clock, tmp)
            results[name] = case(env)
    real = real_hook_order()
    assert real == results["hook_order"], (real, results["hook_order"])
    with open(OUT / "reference.json", "w") as f:
        json.dump({"tf_keras_version": keras.__version__, "cases": results}, f, indent=1)
        f.write("\n")
    for kind, calls in real.items():
        print(kind)
        for call in calls:
            print("   ", tuple(call))
    print(f"wrote {len(results)} cases to {OUT / 'reference.json'}")


if __name__ == "__main__":
    main()
