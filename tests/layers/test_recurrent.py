"""Recurrent layers: SimpleRNN, LSTM, GRU, their cells, RNN(cell), StackedRNNCells and
Bidirectional, against tf.keras fixtures (tests/reference/make_recurrent_fixtures.py) and
on their own (masks, dropout, gradients, one graph for every sequence length, errors)."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import graphkeras as gk
from graphkeras.compiler import ops
from helpers import In, check_grad, check_op

L = gk.layers
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recurrent"
RTOL, ATOL = 1e-5, 1e-5


def _case(name):
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    with np.load(FIXTURES / f"{name}.npz") as data:
        arrays = dict(data)
    return meta, arrays


def _series(arrays, prefix):
    n = sum(1 for k in arrays if k.startswith(prefix) and k[len(prefix):].isdigit())
    return [arrays[f"{prefix}{i}"] for i in range(n)]


def _cases(kind):
    return sorted(p.stem for p in FIXTURES.glob("*.json")
                  if json.loads(p.read_text())["kind"] == kind)


def _as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _flat(y):
    if isinstance(y, (list, tuple)):
        return [a for item in y for a in _flat(item)]
    return [np.asarray(y)]


def _close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    actual, expected = _flat(actual), _flat(expected)
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        assert a.shape == e.shape, f"{what}: {a.shape} != {e.shape}"
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def _load(meta, arrays):
    model = gk.models.model_from_json(meta["model_json"])
    model.set_weights(_series(arrays, "w"))
    return model


# ------------------------------------------------------------ tf.keras fixtures
FORWARD = [c for c in _cases("forward") if c != "rnn_stacked_state"]


@pytest.mark.parametrize("case", FORWARD)
def test_forward_matches_tf_keras_compiled_and_eager(case):
    """tf.keras' JSON loads; with its weights, predictions equal tf.keras' on the compiled
    path and the numpy path; weight names, shapes and order are tf.keras'."""
    meta, arrays = _case(case)
    model = _load(meta, arrays)
    xs = _series(arrays, "x")
    ys = _series(arrays, "y")
    x = xs if len(xs) > 1 else xs[0]
    _close(_as_list(model.predict(x, verbose=0)), ys, what=f"{case} compiled")
    model.run_eagerly = True
    _close(_as_list(model.predict(x, verbose=0)), ys, what=f"{case} eager")
    layer = model.get_layer(meta["layer"])
    assert [w.name for w in layer.weights] == meta["weight_names"]
    assert [list(w.shape) for w in layer.weights] == meta["weight_shapes"]
    # and our own JSON reads back the same layer configs as tf.keras wrote
    ours = json.loads(model.to_json())["config"]["layers"]
    theirs = json.loads(meta["model_json"])["config"]["layers"]
    assert [e for e in ours if e["class_name"] != "InputLayer"] == \
        [e for e in theirs if e["class_name"] != "InputLayer"]


def test_stacked_cells_return_nested_states():
    """RNN([LSTMCell, GRUCell], return_state=True) -> [output, [h1, c1], h2], as tf.keras
    (built here: graphkeras' functional loader does not take nested output lists)."""
    meta, arrays = _case("rnn_stacked_state")
    inp = gk.Input((6, 4))
    out = L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_state=True)(inp)
    assert isinstance(out[1], list) and len(out[1]) == 2
    model = gk.Model(inp, out)
    model.set_weights(_series(arrays, "w"))
    layer = model.layers[1]
    assert [w.name for w in layer.weights] == meta["weight_names"]
    ref = _series(arrays, "y")
    ref = [ref[0], ref[1][0], ref[1][1], ref[2]]  # tf.keras' predict stacks [h1, c1]
    _close(_flat(model.predict(arrays["x0"], verbose=0)), ref)
    _close(_flat(layer(arrays["x0"])), ref)


@pytest.mark.parametrize("case", _cases("stateful"))
def test_stateful_across_calls_and_reset(case):
    meta, arrays = _case(case)
    for eager in (False, True):
        gk.backend.clear_session()
        model = _load(meta, arrays)
        model.run_eagerly = eager
        batch = arrays["x0"].shape[0]
        y0 = model.predict(arrays["x0"], batch_size=batch, verbose=0)
        y1 = model.predict(arrays["x1"], batch_size=batch, verbose=0)  # states carried
        model.reset_states()
        y2 = model.predict(arrays["x0"], batch_size=batch, verbose=0)
        _close([y0, y1, y2], [arrays["y0"], arrays["y1"], arrays["y2"]], what=f"eager={eager}")


@pytest.mark.parametrize("case", _cases("train"))
def test_one_sgd_step_matches_tf_keras(case):
    meta, arrays = _case(case)
    for eager in (False, True):
        gk.backend.clear_session()
        model = _load(meta, arrays)
        model.compile(optimizer=gk.optimizers.SGD(0.1), loss="mse", run_eagerly=eager)
        loss = model.train_on_batch(arrays["x0"], arrays["t"])
        np.testing.assert_allclose(loss, meta["loss"], rtol=1e-5)
        _close(model.get_weights(), _series(arrays, "a"), rtol=1e-4, atol=1e-6,
               what=f"weights after the step, eager={eager}")


@pytest.mark.parametrize("case", _cases("fit"))
def test_two_epoch_fit_history_matches_tf_keras(case):
    meta, arrays = _case(case)
    model = _load(meta, arrays)
    if "accuracy" in meta["history"]:  # the text classifier: Embedding -> LSTM -> sigmoid
        model.compile(optimizer=gk.optimizers.Adam(0.01), loss="binary_crossentropy",
                      metrics=["accuracy"])
        hist = model.fit(arrays["x0"], arrays["t"], batch_size=16, epochs=2, shuffle=False,
                         verbose=0)
    else:  # the GRU regressor
        model.compile(optimizer=gk.optimizers.RMSprop(0.005), loss="mse", metrics=["mae"])
        hist = model.fit(arrays["x0"], arrays["t"], batch_size=16, epochs=2, shuffle=False,
                         verbose=0, validation_split=0.25)
    assert set(hist.history) == set(meta["history"])
    for key, values in meta["history"].items():
        np.testing.assert_allclose(hist.history[key], values, rtol=1e-4, err_msg=key)
    _close(model.get_weights(), _series(arrays, "a"), rtol=1e-3, atol=1e-5)


# -------------------------------------------------------------------- masks
def _ragged(rng, lengths, features):
    return [rng.normal(size=(n, features)).astype("float32") for n in lengths]


@pytest.mark.parametrize("make", [
    lambda: L.LSTM(4), lambda: L.GRU(4, return_state=True),
    lambda: L.GRU(4, reset_after=False), lambda: L.SimpleRNN(4, go_backwards=True),
    lambda: L.Bidirectional(L.LSTM(3)), lambda: L.RNN([L.GRUCell(3), L.LSTMCell(2)])],
    ids=["lstm", "gru_state", "gru_before", "simple_back", "bidirectional", "stacked"])
def test_padded_batch_equals_unpadded_sequences(make, rng):
    """Post-padded sequences with their mask give each sequence's own result."""
    seqs = _ragged(rng, [5, 2, 7, 1], 3)
    padded = np.zeros((4, 7, 3), np.float32)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
    inp = gk.Input((None, 3))
    model = gk.Model(inp, make()(L.Masking(0.0)(inp)))
    batch = _flat(model.predict(padded, verbose=0))
    for i, s in enumerate(seqs):
        alone = _flat(model.predict(s[None], verbose=0))
        _close([b[i:i + 1] for b in batch], alone, what=f"sequence {i}")


def test_mask_argument_and_mask_propagation(rng):
    """An explicit ``mask=`` equals the Masking layer's; the output mask is the input mask
    for return_sequences (None otherwise); masked steps repeat the previous output
    (zeros with zero_output_for_mask, as Bidirectional sets)."""
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    layer = L.SimpleRNN(3, return_sequences=True)
    y = layer(x, mask=mask)
    for b, t in zip(*np.nonzero(~mask)):
        expected = y[b, t - 1] if t > 0 else np.zeros(3, np.float32)
        np.testing.assert_array_equal(y[b, t], expected)
    assert layer.compute_mask(x, mask) is mask
    assert L.SimpleRNN(3).compute_mask(x, mask) is None
    state_masks = L.LSTM(3, return_state=True, return_sequences=True).compute_mask(x, mask)
    assert state_masks[0] is mask and state_masks[1:] == [None, None]
    zero = L.SimpleRNN(3, return_sequences=True, zero_output_for_mask=True)
    zero.build(x.shape)
    zero.set_weights(layer.get_weights())
    yz = zero(x, mask=mask)
    np.testing.assert_array_equal(yz[~mask], 0)
    np.testing.assert_allclose(yz[mask], y[mask], rtol=1e-6)
    # functional: the mask rides on the output of return_sequences layers only
    inp = gk.Input((5, 2))
    seq = L.LSTM(3, return_sequences=True)(L.Masking()(inp))
    assert seq._keras_mask is not None
    assert L.LSTM(3)(seq)._keras_mask is None


def test_embedding_mask_zero_reaches_the_rnn(rng):
    tokens = np.array([[3, 5, 0, 0], [7, 0, 0, 0]], np.int64)
    inp = gk.Input((None,), dtype="int64")
    emb = L.Embedding(10, 4, mask_zero=True)
    out = L.GRU(3)(emb(inp))
    model = gk.Model(inp, out)
    full = model.predict(tokens, verbose=0)
    for i, n in enumerate([2, 1]):
        np.testing.assert_allclose(full[i], model.predict(tokens[i:i + 1, :n], verbose=0)[0],
                                   rtol=1e-5, atol=1e-6)


# ------------------------------------------------ one graph, any length
def test_one_compiled_graph_serves_every_length_and_batch(rng):
    model = gk.Sequential([gk.Input((None, 3)), L.Bidirectional(L.LSTM(4, return_sequences=True)),
                           L.GRU(2)])
    xa = rng.normal(size=(5, 7, 3)).astype("float32")
    xb = rng.normal(size=(2, 12, 3)).astype("float32")
    ya = model.predict(xa, verbose=0)
    graph = model._predict_graph
    yb = model.predict(xb, verbose=0)
    assert model._predict_graph is graph  # one predict graph for both
    loops = [n for n in graph.onnx_model().graph.node if n.op_type == "Loop"]
    assert len(loops) == 3
    model.run_eagerly = True
    _close([ya, yb], [model.predict(xa, verbose=0), model.predict(xb, verbose=0)])
    # training too: one train step for two sequence lengths
    model.run_eagerly = False
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(xa, np.zeros((5, 2), np.float32))
    model.train_on_batch(xb, np.zeros((2, 2), np.float32))
    assert len(model._steps) == 1


def test_train_step_is_one_graph_with_forward_and_reverse_loops():
    model = gk.Sequential([gk.Input((None, 3)), L.LSTM(4), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(np.ones((2, 5, 3), np.float32), np.ones((2, 1), np.float32))
    step = next(iter(model._steps.values()))
    graph = step.onnx_model()
    onnx.checker.check_model(graph)
    assert [n.op_type for n in graph.graph.node].count("Loop") == 2  # forward, backward


def test_steps_per_execution_folds_recurrent_steps(rng):
    """Loops inside the steps loop (their gradients reading saved forward values) train
    as the one-step graph does."""
    def build(spe):
        gk.utils.set_random_seed(3)
        inp = gk.Input((None, 3))
        h = L.Masking()(inp)
        h = L.Bidirectional(L.GRU(3, return_sequences=True))(h)
        model = gk.Model(inp, L.Dense(1)(L.LSTM(4)(h)))
        model.compile(optimizer="adam", loss="mse", steps_per_execution=spe)
        return model
    x = rng.normal(size=(12, 6, 3)).astype("float32")
    x[::3, 4:] = 0.0  # padded rows
    y = rng.normal(size=(12, 1)).astype("float32")
    runs = []
    for spe in (1, 3):
        model = build(spe)
        history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
        runs.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- gradients
def _with_weights(layer, cells, weights, fn):
    """Run ``fn`` with the cells' weights replaced by (symbolic) ``weights``."""
    saved = []
    k = 0
    for cell in cells:
        names = ["kernel", "recurrent_kernel"] + (["bias"] if cell.use_bias else [])
        saved.append([(cell, n, getattr(cell, n)) for n in names])
        for n in names:
            object.__setattr__(cell, n, weights[k])
            k += 1
    try:
        return fn()
    finally:
        for entries in saved:
            for cell, n, value in entries:
                object.__setattr__(cell, n, value)


def _grad_fn(layer, cells, n_states=0, **call_kwargs):
    def fn(x, *rest):
        states, weights = list(rest[:n_states]), rest[n_states:]
        for obj in [layer] + cells:
            obj._dtype = x.dtype
        kwargs = dict(call_kwargs)
        if states:
            kwargs["initial_state"] = states
        return _with_weights(layer, cells, weights, lambda: layer.call(x, **kwargs))
    return fn


GRAD_CASES = {
    "simple_rnn": lambda: L.SimpleRNN(3, return_sequences=True),
    "lstm": lambda: L.LSTM(3, return_sequences=True),
    "lstm_options": lambda: L.LSTM(3, activation="softsign", recurrent_activation="hard_sigmoid",
                                   go_backwards=True),
    "gru": lambda: L.GRU(3, return_sequences=True),
    "gru_reset_before": lambda: L.GRU(3, reset_after=False, go_backwards=True),
    "gru_no_bias": lambda: L.GRU(2, use_bias=False, return_state=True),
    "stacked": lambda: L.RNN([L.LSTMCell(2), L.GRUCell(3), L.SimpleRNNCell(2)],
                             return_sequences=True),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_by_finite_differences(case, rng):
    """Every cell: d(outputs)/d(inputs, weights) by the reverse scan equal central
    differences (float64), and the backward graph runs on ONNX Runtime."""
    layer = GRAD_CASES[case]()
    x = rng.normal(size=(2, 4, 3)) * 0.8
    layer.build(x.shape)
    cells = getattr(layer.cell, "cells", [layer.cell])
    weights = [In(rng.normal(size=w.shape) * 0.5, dynamic=()) for w in layer.weights]
    check_grad(_grad_fn(layer, cells), [x] + weights, rtol=2e-5, atol=1e-7)


def test_gradients_with_mask_and_initial_state(rng):
    layer = L.LSTM(3, return_sequences=True, return_state=True)
    x = rng.normal(size=(3, 5, 2)) * 0.8
    layer.build(x.shape)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    h0, c0 = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 3)) * 0.5
    weights = [In(rng.normal(size=w.shape) * 0.5, dynamic=()) for w in layer.weights]
    fn = _grad_fn(layer, [layer.cell], n_states=2, mask=mask)
    check_grad(fn, [x, h0, c0] + weights, rtol=2e-5, atol=1e-7)


def test_compiled_equals_eager_on_the_op_level(rng):
    """The traced layer (a scan node) on the interpreter and on ONNX Runtime equals the
    eager Python loop."""
    for layer in (L.GRU(3, return_sequences=True, go_backwards=True),
                  L.LSTM(3, return_state=True, time_major=True)):
        x = rng.normal(size=(2, 6, 4)).astype("float32")
        layer.build(x.shape)
        weights = [In(w.numpy(), dynamic=()) for w in layer.weights]
        check_op(_grad_fn(layer, [layer.cell]), [x] + weights, expect_prims=("scan",),
                 rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- dropout
def test_dropout_masks_once_per_sequence_on_the_cell_path():
    """SimpleRNN (always the cell path): one input mask per sequence, as tf.keras caches it;
    LSTM on tf.keras' fused path: a fresh mask at every step."""
    x = np.ones((64, 5, 4), np.float32)
    rnn = L.SimpleRNN(4, activation=None, use_bias=False, dropout=0.5, return_sequences=True)
    rnn.build(x.shape)
    rnn.set_weights([np.eye(4, dtype=np.float32), np.zeros((4, 4), np.float32)])
    y = rnn(x, training=True)
    assert np.all(y == y[:, :1])  # same mask at every step
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.35 < np.mean(y == 0) < 0.65
    np.testing.assert_array_equal(rnn(x, training=False), x)
    assert not np.array_equal(rnn(x, training=True), y)  # a new draw per call

    lstm = L.LSTM(4, dropout=0.5, return_sequences=True)
    lstm.build(x.shape)
    k = np.zeros((4, 16), np.float32)
    k[:, 8:12] = np.eye(4)  # candidate gate reads the input
    lstm.set_weights([k, np.zeros((4, 16), np.float32), np.zeros(16, np.float32)])
    y = lstm(x, training=True)
    assert not np.all(y == y[:, :1])  # per-step masks (tf.keras' cuDNN-compatible path)


def test_dropout_and_recurrent_dropout_compiled_equal_eager(rng):
    """The counter-based generator gives the same bits on numpy and ONNX Runtime: a fit
    step with dropout gives the same weights eagerly and compiled."""
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    t = rng.normal(size=(8, 1)).astype("float32")
    results = []
    for eager in (False, True):
        gk.utils.set_random_seed(3)
        gk.backend.clear_session()
        model = gk.Sequential([gk.Input((None, 3)),
                               L.LSTM(4, dropout=0.3, recurrent_dropout=0.4, return_sequences=True),
                               L.GRU(3, dropout=0.2, recurrent_dropout=0.2, reset_after=False),
                               L.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", run_eagerly=eager)
        losses = [model.train_on_batch(x, t) for _ in range(2)]
        results.append((losses, model.get_weights()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    _close(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)
    assert model.layers[0].implementation == 1  # recurrent dropout: one mask per gate


# ------------------------------------------------------------ config / API
@pytest.mark.parametrize("make", [
    lambda: L.SimpleRNN(3, dropout=0.1, go_backwards=True),
    lambda: L.LSTM(3, unit_forget_bias=False, return_state=True, recurrent_dropout=0.2),
    lambda: L.GRU(3, reset_after=False, stateful=True, batch_input_shape=(2, None, 4)),
    lambda: L.RNN([L.LSTMCell(2), L.SimpleRNNCell(3)], return_sequences=True),
    lambda: L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="ave"),
    lambda: L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True))],
    ids=["simple", "lstm", "gru", "rnn", "bidirectional", "backward_layer"])
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


def test_cells_standalone_and_weight_names(rng):
    cell = L.LSTMCell(3)
    x = rng.normal(size=(2, 4)).astype("float32")
    cell.build(x.shape)
    h, c = np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)
    out, (h1, c1) = cell(x, [h, c])
    np.testing.assert_array_equal(out, h1)
    assert [w.name for w in cell.weights] == ["lstm_cell/kernel:0", "lstm_cell/recurrent_kernel:0",
                                              "lstm_cell/bias:0"]
    # unit_forget_bias starts the forget gate at one
    np.testing.assert_array_equal(cell.bias.numpy(), np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    # a layer's own cell does not take the name from a later standalone cell (tf.keras)
    gk.backend.clear_session()
    L.GRU(2)
    assert L.GRUCell(2).name == "gru_cell"
    assert L.GRU(3).cell.get_config()["name"] == "gru_cell"


class MinimalRNNCell(gk.layers.Layer):
    """The custom cell of tf.keras' RNN documentation."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", shape=(input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", shape=(self.units, self.units))
        self.built = True

    def call(self, inputs, states):
        output = ops.add(ops.matmul(inputs, self.kernel), ops.matmul(states[0], self.recurrent_kernel))
        return output, [output]


def test_custom_cell(rng):
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    inp = gk.Input((None, 2))
    layer = L.RNN(MinimalRNNCell(4), return_sequences=True)
    model = gk.Model(inp, layer(inp))
    assert [w.name for w in layer.weights] == ["rnn/minimal_rnn_cell/kernel:0",
                                               "rnn/minimal_rnn_cell/recurrent_kernel:0"]
    k, u = (w.numpy() for w in layer.weights)
    h = np.zeros((3, 4), np.float32)
    expected = []
    for t in range(5):
        h = x[:, t] @ k + h @ u
        expected.append(h)
    expected = np.stack(expected, 1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    model.run_eagerly = True
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_h5_weight_names_are_tf_keras(tmp_path):
    import h5py
    model = gk.Sequential([gk.Input((None, 3)), L.Bidirectional(L.LSTM(2)), L.Dense(1)])
    path = str(tmp_path / "m.h5")
    model.save(path)
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["model_weights/bidirectional"].attrs["weight_names"]]
    assert names == [f"bidirectional/{d}_lstm/lstm_cell/{w}:0" for d in ("forward", "backward")
                     for w in ("kernel", "recurrent_kernel", "bias")]
    again = gk.models.load_model(path)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


# ---------------------------------------------------------------- errors
def test_bad_inputs_raise_tf_keras_errors(rng):
    with pytest.raises(ValueError, match=r'Input 0 of layer "lstm" is incompatible with the layer: '
                                         r"expected ndim=3, found ndim=2\. Full shape received: "
                                         r"\(2, 4\)"):
        L.LSTM(3)(np.zeros((2, 4), np.float32))
    layer = L.GRU(3)
    layer(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected shape=\(None, None, 4\), found shape=\(2, 5, 3\)"):
        layer(np.zeros((2, 5, 3), np.float32))
    x = gk.Input((5, 4))
    with pytest.raises(ValueError, match=r"An `initial_state` was passed that is not compatible "
                                         r"with `cell.state_size`\. .*however `cell.state_size` is "
                                         r"\[3, 3\]"):
        L.LSTM(3)(x, initial_state=[gk.Input((3,))])
    with pytest.raises(ValueError, match="not compatible with `cell.state_size`"):
        L.LSTM(3)(x, initial_state=[gk.Input((4,)), gk.Input((3,))])
    with pytest.raises(ValueError, match="not compatible with `cell.state_size`"):
        L.GRU(3)(np.zeros((2, 5, 4), np.float32), initial_state=[np.zeros((2, 4), np.float32)])
    with pytest.raises(ValueError, match="Layer has 2 states but was passed 1 initial states"):
        L.LSTM(3)(np.zeros((2, 5, 4), np.float32), initial_state=[np.zeros((2, 3), np.float32)])
    with pytest.raises(ValueError, match="If a RNN is stateful, it needs to know its batch size"):
        gk.Sequential([gk.Input((5, 4)), L.LSTM(3, stateful=True)])
    with pytest.raises(ValueError, match="Cannot unroll a RNN if the time dimension is undefined"):
        L.SimpleRNN(3, unroll=True)(gk.Input((None, 4)))
    with pytest.raises(ValueError, match="expected a positive integer, got 0"):
        L.LSTM(0)
    with pytest.raises(ValueError, match="Invalid merge mode"):
        L.Bidirectional(L.LSTM(3), merge_mode="x")
    with pytest.raises(AttributeError, match="Layer must be stateful"):
        L.LSTM(3).reset_states()
    with pytest.raises(ValueError, match="should have different `go_backwards` value"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3))


def test_stateful_layer_call_and_reset_states_values(rng):
    layer = L.SimpleRNN(2, stateful=True)
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    first = layer(x)
    second = layer(x)
    assert not np.allclose(first, second)
    layer.reset_states()
    np.testing.assert_allclose(layer(x), first, rtol=1e-6)
    layer.reset_states([np.ones((3, 2), np.float32)])
    np.testing.assert_array_equal(layer.states[0].numpy(), np.ones((3, 2)))
    with pytest.raises(ValueError, match="State 0 is incompatible with layer"):
        layer.reset_states([np.ones((2, 2), np.float32)])
    assert layer.weights == layer.cell.weights  # the states are not weights


def test_predict_with_a_fixed_batch_size_runs_batch_by_batch(rng):
    """As tf.keras: a model built for batches of 4 predicts on 8 samples in batches of 4
    (the state carried from batch to batch), and a last batch of another size is refused."""
    model = gk.Sequential([L.LSTM(2, stateful=True, batch_input_shape=(4, 3, 2))])
    x = rng.normal(size=(8, 3, 2)).astype("float32")
    both = model.predict(x, batch_size=4, verbose=0)
    model.reset_states()
    first = model.predict(x[:4], batch_size=4, verbose=0)
    second = model.predict(x[4:], batch_size=4, verbose=0)
    np.testing.assert_allclose(both, np.concatenate([first, second]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expects shape \(4, 3, 2\), got \(2, 3, 2\)"):
        model.predict(x[:6], batch_size=4, verbose=0)
