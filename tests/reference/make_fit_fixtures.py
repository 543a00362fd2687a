"""Record tf.keras training results for the scenarios of ``tests/fit_cases.py``.

For every scenario (optimizers, losses, metrics, ``*_on_batch``, multi-output
models, ``fit`` options, custom ``train_step``/``compute_loss``) this runs the
scenario on ``tf_keras`` with seeded initial weights and writes

``tests/fixtures/fit/reference.json``  case -> the JSON-able results (History
                                        dicts, evaluate results, metrics_names ...)
                                        plus ``"_meta"`` (versions);
``tests/fixtures/fit/arrays.npz``      ``data``: every distinct float32 array the
                                        scenarios return (initial weights ``init``, final
                                        ``weights``, ...), flattened back to back;
                                        ``reference.json["_arrays"][case][key]`` lists
                                        ``[offset, shape]`` in it for each array.

Run from the repository root in the reference environment::

    TF_USE_LEGACY_KERAS=1 .venv-ref/bin/python tests/reference/make_fit_fixtures.py [CASE ...]

(naming cases re-records only those).
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
import fit_cases  # noqa: E402

OUT_DIR = TESTS / "fixtures" / "fit"


class _TfOps:
    mean = staticmethod(tf.reduce_mean)
    square = staticmethod(tf.square)
    add = staticmethod(tf.add)
    multiply = staticmethod(tf.multiply)


def main(only=None):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    env = fit_cases.Env(keras, "tf", tf.GradientTape, _TfOps)
    results, arrays = {}, {}
    if only:  # re-record some cases, keep the others
        results = json.loads((OUT_DIR / "reference.json").read_text())
        index = results.pop("_arrays")
        with np.load(OUT_DIR / "arrays.npz") as old:
            data = old["data"]
        arrays = {f"{case}/{name}/{i}": data[o:o + int(np.prod(shape))].reshape(shape)
                  for case, entries in index.items() if case not in only
                  for name, items in entries.items() for i, (o, shape) in enumerate(items)}
    for name, scenario in fit_cases.CASES.items():
        if only and name not in only:
            continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        plain, arr = fit_cases.split(scenario(env, None))
        results[name] = plain
        for key, values in arr.items():
            for i, a in enumerate(values):
                arrays[f"{name}/{key}/{i}"] = a
        print(name, "ok")
    results["_meta"] = {"tensorflow": tf.__version__, "tf_keras": keras.__version__}
    # one flat buffer, each distinct array once (many cases share initial weights)
    chunks, offsets, index, size = [], {}, {}, 0
    for key in sorted(arrays, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
        a = np.ascontiguousarray(arrays[key])
        assert a.dtype == np.float32, (key, a.dtype)
        fingerprint = (a.shape, a.tobytes())
        if fingerprint not in offsets:
            offsets[fingerprint] = size
            chunks.append(a.ravel())
            size += a.size
        case, name, _ = key.split("/")
        index.setdefault(case, {}).setdefault(name, []).append([offsets[fingerprint],
                                                                list(a.shape)])
    results["_arrays"] = index
    with open(OUT_DIR / "reference.json", "w") as f:  # one line per case: small, diffable
        f.write("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(results[k], sort_keys=True)}"
                                    for k in sorted(results)) + "\n}\n")
    np.savez_compressed(OUT_DIR / "arrays.npz", data=np.concatenate(chunks))
    print(f"{sum(not k.startswith('_') for k in results)} cases in {OUT_DIR}")


if __name__ == "__main__":
    main(sys.argv[1:] or None)
