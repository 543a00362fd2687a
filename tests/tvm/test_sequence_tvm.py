"""Sequence and attention layers under ``compile(jit_compile=True)``: on TVM they equal the
same models on ONNX Runtime and on the numpy reference interpreter (``run_eagerly``).

Three paths per model, each built from the same seed: predict, then two epochs of fit
(History losses and the final weights), then predict again. Covered: SimpleRNN, LSTM and GRU
(both ``reset_after``) with ``return_sequences``/``return_state``/``go_backwards``, an RNN
around a custom cell, Bidirectional in every merge mode and with a ``backward_layer``, masks
(``Embedding(mask_zero=True)`` and ``Masking`` on padded batches), TimeDistributed, a
stateful LSTM, MultiHeadAttention (attention mask, causal mask, scores), Attention and
AdditiveAttention.

Build time rules the design: TVM compiles every distinct kernel of a module (0.1 s or more
each; the train step of a recurrent layer has dozens), so the recurrent layers share one
model and one size (the loop bodies of layers of one kind and size are one function, their
kernels compiled once; e.g. a Bidirectional's two GRUs), and the optimizer is plain SGD
(Adam's update kernels cost time, and Adam blows up gradients that are zero up to rounding,
e.g. of attention's key bias, into path-dependent steps). RNN loops are unrolled on TVM, so
the sequence length must be known. (The plain ``return_sequences=False`` LSTM and GRU run in
test_models_tvm.py.)
"""
from __future__ import annotations

import numpy as np
import pytest

import graphkeras as gk
from graphkeras.compiler import ops

L = gk.layers
PATHS = ("eager", "onnx", "tvm")
N, T, F, U = 6, 3, 2, 3  # samples, sequence length, features, units


@pytest.fixture(autouse=True)
def _tvm():
    pytest.importorskip("tvm", reason="apache-tvm is not installed (pip install graphkeras[tvm])")


def close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=what)


def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def build(make, path, loss="mse"):
    gk.backend.clear_session()
    gk.utils.set_random_seed(3)
    model = make()
    model.compile(optimizer=gk.optimizers.SGD(0.1), loss=loss,
                  jit_compile=path == "tvm", run_eagerly=path == "eager")
    return model


def three_way(make, x, labels, loss="mse", batch_size=4, return_models=False):
    """``make()``'s model on the numpy interpreter, ONNX Runtime and TVM: the same
    predictions (outputs named by ``labels`` in messages), and the same History and weights
    after two epochs of fit (targets: noise shaped like the outputs). Returns the
    predictions before fit (and the models, if ``return_models``)."""
    built = {p: build(make, p, loss) for p in PATHS}
    ref = built["onnx"]
    for p in ("eager", "tvm"):
        for a, b in zip(built[p].get_weights(), ref.get_weights()):
            np.testing.assert_array_equal(a, b)  # the same start
    preds = {p: as_list(m.predict(x, batch_size=batch_size, verbose=0)) for p, m in built.items()}
    assert len(preds["onnx"]) == len(labels)
    for p in ("eager", "tvm"):
        assert len(preds[p]) == len(labels)
        for a, b, label in zip(preds[p], preds["onnx"], labels):
            assert a.shape == b.shape, (p, label)
            close(a, b, f"{p} predict: {label}")
    rng = np.random.default_rng(7)
    y = [rng.normal(size=a.shape).astype(np.float32) for a in preds["onnx"]]
    y = y if len(y) > 1 else y[0]
    start = ref.get_weights()
    hist = {p: m.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, shuffle=False).history
            for p, m in built.items()}
    assert len(hist["onnx"]["loss"]) == 2
    for p in ("eager", "tvm"):
        assert set(hist[p]) == set(hist["onnx"])
        for key in hist["onnx"]:
            close(hist[p][key], hist["onnx"][key], f"{p} history[{key}]")
        weights = built[p].get_weights()
        assert len(weights) == len(ref.get_weights())
        for w, a, b in zip(ref.weights, weights, ref.get_weights()):
            close(a, b, f"{p} weight {w.name} after fit")
    assert not all(np.allclose(a, b) for a, b in zip(ref.get_weights(), start))  # it trained
    after = [as_list(built[p].predict(x, batch_size=batch_size, verbose=0)) for p in ("onnx", "tvm")]
    for a, b, label in zip(after[1], after[0], labels):
        close(a, b, f"tvm predict after fit: {label}")
    return (built, preds["onnx"]) if return_models else preds["onnx"]


def sequences(n=N, seed=0):
    return np.random.default_rng(seed).normal(size=(n, T, F)).astype(np.float32)


# ----------------------------------------------------------------- recurrent layers
class MinimalRNNCell(L.Layer):
    """A custom cell (tf.keras' RNN documentation's, with a tanh)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", shape=(input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", shape=(self.units, self.units))
        self.built = True

    def call(self, inputs, states):
        h = ops.tanh(ops.add(ops.matmul(inputs, self.kernel),
                             ops.matmul(states[0], self.recurrent_kernel)))
        return h, [h]


RECURRENT = {  # kind: (layer, number of states)
    "SimpleRNN": (L.SimpleRNN, 1),
    "LSTM": (L.LSTM, 2),
    "GRU": (L.GRU, 1),
    "GRU(reset_after=False)": (lambda units, **kw: L.GRU(units, reset_after=False, **kw), 1),
}
SEQ = dict(return_sequences=True)


def padded():
    """Token ids and feature vectors, rows padded at the end (with 0) to length T."""
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 5, size=(N, T)).astype(np.int32)
    values = rng.normal(size=(N, T, F)).astype(np.float32)
    for i, keep in enumerate([3, 2, 1, 3, 2, 1]):
        tokens[i, keep:] = 0
        values[i, keep:] = 0.0
    return tokens, values


def test_recurrent_bidirectional_masked_and_time_distributed():
    """One model. Per layer type a layer with return_sequences, return_state and
    go_backwards; an RNN around a custom cell; Bidirectional in every merge mode and with a
    backward_layer; Embedding(mask_zero=True) and Masking in front of LSTMs on padded
    batches (both LSTMs one loop body); TimeDistributed(Dense)."""
    outputs = {}

    def make():
        outputs.clear()
        x = gk.Input((T, F))
        for kind, (new, _) in RECURRENT.items():
            seq, *states = new(U, return_state=True, go_backwards=True, **SEQ)(x)
            outputs[f"{kind} sequence"] = seq
            for i, s in enumerate(states):
                outputs[f"{kind} state {i}"] = s
        outputs["custom cell"] = L.RNN(MinimalRNNCell(U), **SEQ)(x)
        for mode in ("concat", "sum", "mul", "ave"):
            outputs[f"Bidirectional {mode}"] = L.Bidirectional(L.GRU(U, **SEQ), mode)(x)
        forward, backward = L.Bidirectional(L.LSTM(U, **SEQ), merge_mode=None)(x)
        outputs["Bidirectional None forward"], outputs["Bidirectional None backward"] = \
            forward, backward
        outputs["Bidirectional backward_layer"] = L.Bidirectional(
            L.SimpleRNN(U, **SEQ), backward_layer=L.GRU(U, go_backwards=True, **SEQ))(x)
        tokens, values = gk.Input((T,), dtype="int32"), gk.Input((T, F))
        outputs["Embedding mask"] = L.LSTM(U, **SEQ)(L.Embedding(5, F, mask_zero=True)(tokens))
        outputs["Masking"] = L.LSTM(U, **SEQ)(L.Masking(0.0)(values))
        outputs["TimeDistributed"] = L.TimeDistributed(L.Dense(U, activation="tanh"))(x)
        return gk.Model([x, tokens, values], list(outputs.values()))

    make()
    labels = list(outputs)
    preds = dict(zip(labels, three_way(make, [sequences(), *padded()], labels)))
    for kind in RECURRENT:
        seq, state = preds[f"{kind} sequence"], preds[f"{kind} state 0"]
        assert seq.shape == (N, T, U) and state.shape == (N, U), kind
        # go_backwards: outputs in processing order, the last one is the final state
        close(seq[:, -1], state, f"{kind}: the last output is the final state")
    assert preds["Bidirectional concat"].shape == (N, T, 2 * U)
    assert preds["Bidirectional sum"].shape == preds["Bidirectional None backward"].shape == \
        (N, T, U)
    # a masked step repeats the output of the step before it (row 1 keeps 2 steps, row 2 one)
    for label in ("Embedding mask", "Masking"):
        seq = preds[label]
        close(seq[1, 2], seq[1, 1], f"{label}: masked step")
        close(seq[2, 1:], np.broadcast_to(seq[2, 0], (2, U)), f"{label}: masked steps")
        assert not np.allclose(seq[0, 2], seq[0, 1], atol=1e-4), label


def test_stateful_lstm_predict():
    """States carried from call to call (a fixed batch size), and reset_states."""
    x = sequences(8)

    def make():
        return gk.Sequential([L.LSTM(U, stateful=True, batch_input_shape=(4, T, F)),
                              L.Dense(2)])

    models = {p: build(make, p) for p in PATHS}
    outs = {p: [m.predict(x[:4], batch_size=4, verbose=0), m.predict(x[4:], batch_size=4, verbose=0),
                m.predict(x[:4], batch_size=4, verbose=0)] for p, m in models.items()}
    for p in ("eager", "tvm"):
        for i, (a, b) in enumerate(zip(outs[p], outs["onnx"])):
            close(a, b, f"{p} call {i}")
    # the third call started from the second call's states
    assert not np.allclose(outs["onnx"][2], outs["onnx"][0], atol=1e-4)
    for p, m in models.items():
        m.reset_states()
        close(m.predict(x[:4], batch_size=4, verbose=0), outs["onnx"][0], f"{p} reset")


# ----------------------------------------------------------------- attention
def test_attention_layers():
    """MultiHeadAttention (an attention mask and the scores; called again with a causal
    mask), Attention (scaled dot; causal self-attention with scores: ``q @ q^T``) and
    AdditiveAttention, on inputs of unknown length (a query and a value of different
    lengths: one module serves every length). The scores of MultiHeadAttention carry its
    attention mask, so (as in tf.keras) they get no loss."""
    rng = np.random.default_rng(2)
    q = rng.normal(size=(N, 3, 4)).astype(np.float32)
    v = rng.normal(size=(N, 5, 4)).astype(np.float32)
    mask = rng.integers(0, 2, size=(N, 3, 5)).astype(bool)
    mask[:, :, 0] = True  # every query sees a key

    def make():
        qi, vi = gk.Input((None, 4)), gk.Input((None, 4))
        mi = gk.Input((None, None), dtype="bool")
        mha = L.MultiHeadAttention(2, 2)
        out, scores = mha(qi, vi, attention_mask=mi, return_attention_scores=True)
        causal = mha(qi, qi, use_causal_mask=True)
        dot = L.Attention(use_scale=True)([qi, vi])
        self_dot, self_scores = L.Attention()([qi, qi], return_attention_scores=True,
                                              use_causal_mask=True)
        additive = L.AdditiveAttention()([qi, vi])
        return gk.Model([qi, vi, mi], [out, causal, dot, self_dot, additive, self_scores,
                                       scores])

    labels = ["MultiHeadAttention", "MultiHeadAttention causal", "Attention",
              "Attention self causal", "AdditiveAttention", "Attention scores",
              "MultiHeadAttention scores"]
    models, preds = three_way(make, [q, v, mask], labels, loss=["mse"] * 5 + [None, None],
                              return_models=True)
    self_scores, scores = preds[-2:]
    assert scores.shape == (N, 2, 3, 5) and self_scores.shape == (N, 3, 3)
    assert np.all(scores[np.broadcast_to(~mask[:, None], scores.shape)] < 1e-6)
    assert np.all(self_scores[:, [0, 0, 1], [1, 2, 2]] < 1e-6)  # causal
    close(scores.sum(-1), np.ones((N, 2, 3)), "scores sum to one")
    other = [q[:, :2], v[:, :4], mask[:, :2, :4]]  # other lengths, the same modules
    for a, b, label in zip(models["tvm"].predict(other, verbose=0),
                           models["onnx"].predict(other, verbose=0), labels):
        close(a, b, f"other lengths: {label}")
