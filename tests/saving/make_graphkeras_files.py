"""Write the .h5 files of ``tests/fixtures/saving/from_graphkeras/`` with graphkeras.

tests/reference/make_saving_fixtures.py then loads them with tf.keras and records in
``tf_keras_check.json`` whether they load, predict the same and keep their optimizer
state; tests/saving/test_hdf5.py asserts on that record and checks that graphkeras still
writes these files the same way. Run from the repository root::

    .venv/bin/python tests/saving/make_graphkeras_files.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "fixtures" / "saving" / "from_graphkeras"
sys.path.insert(0, str(HERE))

import saving_cases as cases  # noqa: E402


def train(gk, case):
    """The graphkeras model of ``case``, compiled and trained as its fixture is."""
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    model = cases.build(gk, case)
    model.compile(**cases.compile_args(gk, case))
    x, y = cases.data(case)
    model.fit(x, y, epochs=cases.FIT_CASES[case][0], batch_size=cases.BATCH_SIZE,
              shuffle=False, verbose=0)
    return model, x


def write(out_dir=OUT):
    import graphkeras as gk
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for case in cases.GK_FILES:
        model, x = train(gk, case)
        model.save(out_dir / f"{case}.h5")
        arrays[f"{case}/predict"] = np.asarray(model.predict(x, verbose=0))
        if case == "mlp":
            model.save_weights(out_dir / "mlp_weights.h5")
    np.savez_compressed(out_dir / "predictions.npz", **arrays)
    return arrays


if __name__ == "__main__":
    write()
    print("wrote", OUT)
