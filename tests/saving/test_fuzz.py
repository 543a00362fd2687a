"""Fuzzing the loaders: mutated files raise ValueError or OSError, or load.

Small valid files are made here — a full-model ``.h5`` (tf.keras' layout, with
optimizer state), a weights-only ``.h5``, native ``.keras`` files (members checked by
their whole CRC-32, and with the large-member records of graphkeras.saving.checked)
and the model's JSON — then mutated with hypothesis: bytes flipped, inserted or cut
off; HDF5 attributes set to values of odd types or deleted, datasets given other
dtypes and (declared, unallocated) shapes, replaced by groups or links; JSON values
replaced, deleted or copied elsewhere (inbound references pointing anywhere, cycles);
native members edited and, as a forger would, their checksums recomputed. Loading each
may succeed or raise ValueError / OSError; anything else (KeyError, TypeError, ...), a
crash or a hang fails the test.

Bounded in time: about ``GRAPHKERAS_FUZZ_SECONDS`` (default 20) for the whole module,
shared by the targets, deterministic (``derandomize``). For a longer run::

    GRAPHKERAS_FUZZ_EXAMPLES=2000 GRAPHKERAS_FUZZ_SECONDS=3600 \\
        .venv/bin/pytest -q -s tests/saving/test_fuzz.py

(random, not derandomized, when ``GRAPHKERAS_FUZZ_EXAMPLES`` is set); the number of
mutated files tried per target is printed at the end (``-s``).
"""
import contextlib
import copy
import faulthandler
import io
import json
import logging
import os
import shutil
import time
import zipfile
import zlib

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphkeras as gk
from graphkeras.saving import checked

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf from huge JSON floats

TARGETS = ("h5_model", "h5_weights", "keras", "keras_dir", "json")
LONG_RUN = bool(os.environ.get("GRAPHKERAS_FUZZ_EXAMPLES"))
EXAMPLES = int(os.environ.get("GRAPHKERAS_FUZZ_EXAMPLES") or 200)
SECONDS = float(os.environ.get("GRAPHKERAS_FUZZ_SECONDS") or 20)
HANG_SECONDS = 120  # one load taking longer than this is a hang: dump the stacks and exit

TRIED = dict.fromkeys(TARGETS, 0)
OUTCOMES = {target: {} for target in TARGETS}

SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ------------------------------------------------------------------ the valid files
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    x = gk.Input((4,), name="x")
    h = gk.layers.Dense(3, activation="relu", name="d1")(x)
    h = gk.layers.Dropout(0.2, name="drop")(h)
    model = gk.Model(x, gk.layers.Dense(2, name="d2")(h), name="fuzzed")
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(np.ones((8, 4), "float32"), np.ones((8, 2), "float32"), epochs=1, verbose=0)
    model.save(root / "m.h5")
    model.save_weights(root / "w.h5")
    model.save(root / "m.keras")
    saved, checked.MIN_BYTES = checked.MIN_BYTES, 0
    try:
        model.save(root / "c.keras")  # every HDF5 member with a large-member record
    finally:
        checked.MIN_BYTES = saved
    files = {name: (root / name).read_bytes() for name in ("m.h5", "w.h5", "m.keras", "c.keras")}
    logging.getLogger("graphkeras").setLevel(logging.CRITICAL)  # "optimizer not restored"...
    start = time.monotonic()
    yield {"root": root, "files": files, "json": model.to_json(), "model": model,
           "deadline": {t: start + SECONDS * (i + 1) / len(TARGETS)
                        for i, t in enumerate(TARGETS)}}
    logging.getLogger("graphkeras").setLevel(logging.NOTSET)
    print("\nmutated files tried per target:", TRIED, "total", sum(TRIED.values()))
    for target, outcomes in OUTCOMES.items():
        print(f"  {target}: {dict(sorted(outcomes.items()))}")


def _loads_cleanly(base, target, load):
    """Run ``load``: it may succeed or raise ValueError/OSError; anything else fails."""
    TRIED[target] += 1
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        load()
        outcome = "loaded"
    except UnicodeError as err:  # a ValueError, but not a clear one
        raise AssertionError(f"unclear error: {type(err).__name__}: {err}") from err
    except (ValueError, OSError) as err:
        outcome = type(err).__name__
    finally:
        faulthandler.cancel_dump_traceback_later()
    OUTCOMES[target][outcome] = OUTCOMES[target].get(outcome, 0) + 1


def _out_of_time(base, target):
    return time.monotonic() > base["deadline"][target]


# ------------------------------------------------------------------ byte mutations
byte_edits = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, 2**32),
              st.integers(0, 255), st.integers(1, 64)),
    min_size=1, max_size=6)
cuts = st.one_of(st.none(), st.floats(0.0, 1.0))


def mutate_bytes(data, edits, cut):
    data = bytearray(data)
    for kind, position, value, length in edits:
        if not data:
            break
        i = position % len(data)
        if kind == "flip":
            data[i] ^= value or 1
        elif kind == "set":
            data[i] = value
        elif kind == "insert":
            data[i:i] = bytes([value]) * length
        else:
            del data[i:i + length]
    if cut is not None:
        data = data[:int(len(data) * cut)]
    return bytes(data)


# ------------------------------------------------------------------ JSON mutations
NAMES = ["class_name", "config", "name", "layers", "units", "inbound_nodes", "input_layers",
         "output_layers", "batch_input_shape", "dtype", "activation", "function",
         "function_type", "rate", "optimizer_config", "loss", "metrics", "crc32", "arrays",
         "extents", "format_version", "graphs", "inputs", "shape", "role", "weights"]
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.sampled_from([0, 1, -1, 2, 3, 4, 10**9, 10**12, 10**400, -10**400, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(NAMES + ["Dense", "Functional", "Sequential", "Lambda", "InputLayer",
                             "Dropout", "TracedModel", "lambda", "float64", "int8", "object",
                             "relu", "x", "d1", "d2", "drop", "_CONSTANT_VALUE", "Adam",
                             "weights.h5", "graphkeras"]))
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=6),
                                               children, max_size=4)),
    max_leaves=8)
json_edits = st.lists(
    st.tuples(st.sampled_from(["replace", "delete", "copy", "wrap"]), st.integers(0, 2**16),
              st.integers(0, 2**16), json_values),
    min_size=1, max_size=4)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, path + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _paths(child, path + (i,))


def _get(node, path):
    for key in path:
        node = node[key]
    return node


def mutate_json(value, edits):
    value = copy.deepcopy(value)
    for kind, at, source, new in edits:
        paths = list(_paths(value))
        path = paths[at % len(paths)]
        if kind == "copy":  # another part of the same document: references, cycles
            new = copy.deepcopy(_get(value, paths[source % len(paths)]))
        elif kind == "wrap":
            new = [copy.deepcopy(_get(value, path))]
        if not path:
            value = new if kind != "delete" else None
            continue
        parent = _get(value, path[:-1])
        if kind == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = new
    return value


def mutate_json_text(text, edits):
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return json.dumps(mutate_json(value, edits))


# ------------------------------------------------------------------ HDF5 mutations
attr_values = st.one_of(
    json_leaves.filter(lambda v: not (isinstance(v, int) and abs(v) >= 2**63)),
    st.binary(max_size=16),
    st.builds(lambda n, k: np.arange(n).astype(k), st.integers(0, 5),
              st.sampled_from(["i8", "f4", "u1", "S3", "bool"])),
    st.builds(lambda v: np.array([v.encode("utf-8", "replace")]), st.text(max_size=8)),
    st.builds(lambda a, b: np.array([[a, b]]), st.binary(max_size=4), st.binary(max_size=4)),
)
DTYPES = ["f4", "f8", ">f4", "f2", "i1", "u8", "bool", "S2", "c8", "V3", "vlen", "enum",
          "compound"]
shapes = st.one_of(st.lists(st.integers(0, 6), max_size=3).map(tuple),
                   st.sampled_from([(), (0,), (200_000, 200_000), (2**40,), (1, 2**31)]))
h5_edits = st.lists(
    st.tuples(st.sampled_from(["attr_set", "attr_del", "attr_json", "ds_replace", "ds_declare",
                               "delete", "to_group", "soft_link", "hard_link", "external_link"]),
              st.integers(0, 2**16), st.integers(0, 2**16), attr_values, st.sampled_from(DTYPES),
              shapes, json_edits),
    min_size=1, max_size=4)


def _dtype(name):
    return {"vlen": h5py.string_dtype(), "enum": h5py.enum_dtype({"a": 0, "b": 1}, "i1"),
            "compound": np.dtype([("a", "f4"), ("b", "i2")])}.get(name) or np.dtype(name)


def _objects(f):
    names = []
    f.visit(names.append)
    return sorted(names)


def mutate_h5(f, edits):
    """Apply ``edits`` to the open HDF5 file ``f`` (errors of an edit that h5py refuses
    are ignored: the file keeps whatever that edit could do)."""
    for kind, at, other, value, dtype, shape, jedits in edits:
        objects = _objects(f)
        attrs = [(o, a) for o in [""] + objects for a in f[o or "/"].attrs]
        with contextlib.suppress(Exception):
            if kind.startswith("attr") and attrs:
                obj, name = attrs[at % len(attrs)]
                target = f[obj or "/"].attrs
                if kind == "attr_set":
                    target[name] = value
                elif kind == "attr_del":
                    del target[name]
                else:
                    raw = target[name]
                    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
                    target[name] = mutate_json_text(text, jedits)
                continue
            if not objects:
                continue
            name = objects[at % len(objects)]
            if kind in ("ds_replace", "ds_declare"):
                old = f[name]
                if not isinstance(old, h5py.Dataset):
                    continue
                del f[name]
                if kind == "ds_declare":  # declared only: HDF5 allocates nothing
                    f.create_dataset(name, shape=shape, dtype=_dtype(dtype))
                else:
                    data = np.zeros(shape if np.prod(shape) < 10**6 else (), _dtype(dtype))
                    f.create_dataset(name, data=data)
            elif kind == "delete":
                del f[name]
            elif kind == "to_group":
                del f[name]
                f.create_group(name)
            elif kind == "soft_link":
                del f[name]
                f[name] = h5py.SoftLink("/" + objects[other % len(objects)])
            elif kind == "hard_link":  # aliases, and cycles of groups
                target = f[objects[other % len(objects)]]
                del f[name]
                f[name] = target
            else:
                del f[name]
                f[name] = h5py.ExternalLink("/etc/hostname", "/x")


def mutated_h5_bytes(data, edits):
    buffer = io.BytesIO(data)
    try:
        with h5py.File(buffer, "r+") as f:
            mutate_h5(f, edits)
    except Exception:  # noqa: BLE001 - h5py could not apply them: keep the bytes it left
        pass
    return buffer.getvalue()


# ------------------------------------------------------------------ native members
member_edits = st.lists(
    st.tuples(st.integers(0, 2**16), st.sampled_from(["bytes", "structure"]), byte_edits,
              h5_edits, json_edits, st.booleans()),
    min_size=1, max_size=3)


def _reseal(members):
    """Recompute the checksums metadata.json records, as a forger would."""
    try:
        meta = json.loads(members["metadata.json"])
        crcs, arrays = meta["crc32"], meta.get("arrays") or {}
        for name in list(crcs):
            if name in members:
                crcs[name] = zlib.crc32(members[name])
        for name in list(arrays):
            if name in members:
                with h5py.File(io.BytesIO(members[name]), "r") as f:
                    extents = checked.array_extents(f)
                arrays[name] = checked.record(members[name], extents)
        members["metadata.json"] = json.dumps(meta).encode()
    except Exception:  # noqa: BLE001 - metadata.json itself was mutated beyond repair
        pass


def mutated_members(members, edits):
    members = dict(members)
    names = sorted(members)
    for at, kind, bedits, hedits, jedits, reseal in edits:
        name = names[at % len(names)]
        data = members[name]
        if kind == "bytes":
            data = mutate_bytes(data, bedits, None)
        elif name.endswith(".h5"):
            data = mutated_h5_bytes(data, hedits)
        elif name.endswith(".json"):
            text = mutate_json_text(data.decode("utf-8", "surrogateescape"), jedits)
            data = text.encode("utf-8", "surrogateescape")
        else:
            data = mutate_bytes(data, bedits, None)
        members[name] = data
        if reseal:
            _reseal(members)
    return members


def _zip_members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            compress = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compress)


def _write_dir(path, members):
    shutil.rmtree(path, ignore_errors=True)
    for name, data in members.items():
        target = os.path.join(path, *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)


# ------------------------------------------------------------------ the tests
@SETTINGS
@given(structured=st.booleans(), edits=h5_edits, raw=byte_edits, cut=cuts)
def test_fuzz_h5_model(base, structured, edits, raw, cut):
    if _out_of_time(base, "h5_model"):
        return
    data = base["files"]["m.h5"]
    data = mutated_h5_bytes(data, edits) if structured else mutate_bytes(data, raw, cut)
    path = base["root"] / "fuzzed.h5"
    path.write_bytes(data)
    _loads_cleanly(base, "h5_model", lambda: gk.models.load_model(path))


@SETTINGS
@given(structured=st.booleans(), edits=h5_edits, raw=byte_edits, cut=cuts,
       mode=st.sampled_from(["topological", "by_name", "skip_mismatch"]))
def test_fuzz_h5_weights(base, structured, edits, raw, cut, mode):
    """Weights-only files (and full-model files) into an existing model: no KeyError
    or other exception may come out, only ValueError / OSError."""
    if _out_of_time(base, "h5_weights"):
        return
    source = base["files"]["w.h5" if structured or cut is None else "m.h5"]
    data = mutated_h5_bytes(source, edits) if structured else mutate_bytes(source, raw, cut)
    path = base["root"] / "fuzzed_weights.h5"
    path.write_bytes(data)
    kwargs = {"topological": {}, "by_name": {"by_name": True},
              "skip_mismatch": {"by_name": True, "skip_mismatch": True}}[mode]
    _loads_cleanly(base, "h5_weights", lambda: base["model"].load_weights(path, **kwargs))


@SETTINGS
@given(which=st.sampled_from(["m.keras", "c.keras"]), whole=st.booleans(), raw=byte_edits,
       cut=cuts, edits=member_edits)
def test_fuzz_keras_zip(base, which, whole, raw, cut, edits):
    if _out_of_time(base, "keras"):
        return
    path = base["root"] / "fuzzed.keras"
    data = base["files"][which]
    if whole:
        path.write_bytes(mutate_bytes(data, raw, cut))
    else:
        _write_zip(path, mutated_members(_zip_members(data), edits))
    _loads_cleanly(base, "keras", lambda: gk.models.load_model(path))


@SETTINGS
@given(which=st.sampled_from(["m.keras", "c.keras"]), edits=member_edits)
def test_fuzz_keras_dir(base, which, edits):
    if _out_of_time(base, "keras_dir"):
        return
    path = base["root"] / "fuzzed_dir"
    _write_dir(path, mutated_members(_zip_members(base["files"][which]), edits))
    _loads_cleanly(base, "keras_dir", lambda: gk.models.load_model(path))


@SETTINGS
@given(edits=json_edits, raw=byte_edits, textual=st.booleans())
def test_fuzz_json(base, edits, raw, textual):
    if _out_of_time(base, "json"):
        return
    if textual:
        text = mutate_bytes(base["json"].encode(), raw, None).decode("utf-8", "replace")
    else:
        text = mutate_json_text(base["json"], edits)
    _loads_cleanly(base, "json", lambda: gk.models.model_from_json(text))
