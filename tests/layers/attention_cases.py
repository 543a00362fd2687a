"""Shared by test_attention.py and test_masking.py: the tf.keras fixtures of
``tests/reference/make_attention_fixtures.py`` and the checks run on each."""
import json
from pathlib import Path

import numpy as np

import graphkeras as gk

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "attention"
ERRORS = json.loads((FIXTURES / "errors.json").read_text())
TOL = dict(rtol=1e-5, atol=2e-6)


def case_names(prefixes):
    return sorted(p.stem for p in FIXTURES.glob("*.json")
                  if p.stem != "errors" and p.stem.startswith(tuple(prefixes)))


def load(name):
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    arrays = dict(np.load(FIXTURES / f"{name}.npz"))
    return meta, arrays


def inputs_of(arrays, prefix="x"):
    keys = sorted((k for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit()),
                  key=lambda k: int(k[len(prefix):]))
    xs = [arrays[k] for k in keys]
    return xs if len(xs) > 1 else xs[0]


def model_from_fixture(name):
    """The tf.keras model JSON loaded by graphkeras, with the fixture's weights."""
    meta, arrays = load(name)
    model = gk.models.model_from_json(json.dumps(meta["model_json"]))
    assert [w.name for w in model.weights] == meta["weight_names"]
    assert [list(w.shape) for w in model.weights] == meta["weight_shapes"]
    model.set_weights([arrays[f"w{i}"] for i in range(len(meta["weight_names"]))])
    return model, meta, arrays


def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def check_forward(name):
    """Compiled predict == tf.keras; eager call == compiled; output masks == tf.keras'."""
    model, meta, arrays = model_from_fixture(name)
    x = inputs_of(arrays)
    compiled = as_list(model.predict(x, verbose=0))
    assert [list(y.shape) for y in compiled] == meta["output_shapes"]
    for i, y in enumerate(compiled):
        np.testing.assert_allclose(y, arrays[f"y{i}"], **TOL, err_msg=f"{name} output {i}")
    model.run_eagerly = True
    eager = as_list(model(x))
    masked = [i for i, y in enumerate(eager) if getattr(y, "_keras_mask", None) is not None]
    assert masked == meta["masked_outputs"]
    for i, y in enumerate(eager):
        np.testing.assert_allclose(np.asarray(y), compiled[i], **TOL)
        if i in masked:
            np.testing.assert_array_equal(np.asarray(y._keras_mask), arrays[f"m{i}"])
    # the functional graph's KerasTensors carry masks of the right shapes
    for i, out in enumerate(model.outputs):
        mask = out._keras_mask
        assert (mask is not None) == (i in masked)
        if mask is not None:
            assert mask.dtype == "bool" and len(mask.shape) == arrays[f"m{i}"].ndim


def _strip(config):
    if isinstance(config, dict):
        return {k: _strip(v) for k, v in config.items()
                if k not in ("keras_version", "backend", "optional")}
    if isinstance(config, list):
        return [_strip(v) for v in config]
    return config


def check_json_round_trip(name):
    """graphkeras writes back the JSON tf.keras wrote (configs, nodes, layer order)."""
    meta, _ = load(name)
    model = gk.models.model_from_json(json.dumps(meta["model_json"]))
    assert _strip(json.loads(model.to_json())) == _strip(meta["model_json"])


def check_training(name, optimizer, loss, metrics=None, weighted_metrics=None, eager=False):
    """evaluate (plain, with sample weights, padded longer) and one train_on_batch (logs
    and updated weights) equal tf.keras'."""
    model, meta, arrays = model_from_fixture(name)
    model.compile(optimizer, loss, metrics=metrics, weighted_metrics=weighted_metrics,
                  run_eagerly=eager)
    x, y = inputs_of(arrays), arrays["y"]
    sw = arrays.get("sw")

    def close(got, want):
        assert set(got) == set(want)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)

    close(model.evaluate(x, y, batch_size=len(y), verbose=0, return_dict=True), meta["evaluate"])
    if sw is not None:
        close(model.evaluate(x, y, sample_weight=sw, batch_size=len(y), verbose=0,
                             return_dict=True), meta["evaluate_sw"])
    if "xlong0" in arrays:
        long = model.evaluate(arrays["xlong0"], arrays["ylong"], batch_size=len(y), verbose=0,
                              return_dict=True)
        close(long, meta["evaluate_long"])
        close(long, meta["evaluate"])  # padding more changes nothing
    logs = model.train_on_batch(x, y, sample_weight=sw, return_dict=True)
    close(logs, meta["train_logs"])
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, arrays[f"after{i}"], rtol=1e-5, atol=1e-6,
                                   err_msg=meta["weight_names"][i])
