"""The layout of an HDF5 file as plain data (groups, attributes with their HDF5 string
types, datasets with dtype and shape), to compare files written by tf.keras and graphkeras.
Used by the tests and by tests/reference/make_saving_fixtures.py."""
from __future__ import annotations

import h5py


def _attr_type(attrs, name):
    aid = attrs.get_id(name)
    t = aid.get_type()
    shape = aid.get_space().shape
    if isinstance(t, h5py.h5t.TypeStringID):
        kind = "vlen" if t.is_variable_str() else "fixed"
        cset = "utf8" if t.get_cset() == h5py.h5t.CSET_UTF8 else "ascii"
        return ["string", kind, cset, list(shape)]
    return [str(attrs[name].dtype), list(shape)]


def layout(path, values=False) -> dict:
    """``{object path: {...}}`` for every group and dataset; with ``values`` the string
    attributes other than the JSON configs are included too."""
    out = {}
    with h5py.File(path, "r") as f:
        def describe(name, obj):
            entry = {"kind": "dataset" if isinstance(obj, h5py.Dataset) else "group",
                     "attrs": {k: _attr_type(obj.attrs, k) for k in obj.attrs}}
            if isinstance(obj, h5py.Dataset):
                entry["dtype"] = str(obj.dtype)
                entry["shape"] = list(obj.shape)
                entry["chunks"] = obj.chunks
                entry["compression"] = obj.compression
            if values:
                entry["values"] = {k: _plain(obj.attrs[k]) for k in obj.attrs
                                   if k not in ("model_config", "training_config",
                                                "keras_version")}
            out[name] = entry
        describe("/", f)
        f.visititems(describe)
    return out


def _plain(value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf8")
    return value
