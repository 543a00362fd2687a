"""Generate reference fixtures for graphkeras' recurrent layers from real tf.keras 2.x.

Each case writes ``tests/fixtures/recurrent/<case>.json`` and ``<case>.npz``. Kinds:

``forward``   a functional model (inputs, optional ``Masking``, the recurrent layer), its
              weights set to seeded random values. npz: ``x0, x1 ...`` (model inputs),
              ``mask`` (the (batch, time) mask ``Masking`` derives, when masked), ``w0 ...``
              (``model.get_weights()``), ``y0 ...`` (``model.predict`` outputs). json:
              ``model_json`` (``model.to_json()``), ``layer`` (the recurrent layer's name),
              ``weight_names`` and ``weight_shapes`` (full tf.keras variable names).
``stateful``  a stateful layer with a fixed batch size: ``y0`` = predict(x0), ``y1`` =
              predict(x1) (states carried), ``y2`` = predict(x0) after ``reset_states()``.
``train``     ``model.train_on_batch(x0, t)`` with SGD(0.1) and MSE: ``loss`` and the
              weights after the step, ``a0 ...``.
``fit``       ``model.fit`` for 2 epochs (shuffle=False): ``history`` (json) and the final
              weights ``a0 ...``; npz also ``x0``, ``t`` (targets).

Run from the repository root in the reference environment::

    TF_USE_LEGACY_KERAS=1 .venv-ref/bin/python tests/reference/make_recurrent_fixtures.py
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

L = keras.layers
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "recurrent"
T, F, B = 6, 4, 5  # time steps, features, batch


def weights_for(model, rng, scale=0.5):
    return [rng.normal(0.0, scale, size=w.shape).astype("float32") for w in model.weights]


def mask_pattern(batch, steps):
    """Post-padding, pre-padding, a hole in the middle, all valid, all masked."""
    m = np.ones((batch, steps), bool)
    m[0, 4:] = False
    m[1, :2] = False
    m[2, 2:4] = False
    if batch > 4:
        m[4, :] = False
    return m


def save(name, meta, arrays):
    meta = {"case": name, "keras_version": keras.__version__, **meta}
    np.savez(OUT_DIR / f"{name}.npz", **arrays)
    (OUT_DIR / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")


def forward(name, make, rng, masked=False, states=None, shape=(T, F), batch=B):
    keras.backend.clear_session()
    x_in = keras.Input(shape)
    inputs = [x_in]
    h = L.Masking(0.0)(x_in) if masked else x_in
    kwargs = {}
    if states:
        state_inputs = [keras.Input((n,)) for n in states]
        inputs += state_inputs
        kwargs["initial_state"] = state_inputs
    layer = make()
    out = layer(h, **kwargs)
    model = keras.Model(inputs, out)
    weights = weights_for(model, rng)
    model.set_weights(weights)
    xs = [rng.normal(size=(batch,) + shape).astype("float32")]
    arrays = {}
    if masked:
        mask = mask_pattern(batch, shape[0])
        xs[0] = xs[0] * mask[:, :, None]
        arrays["mask"] = mask
    for n in states or []:
        xs.append(rng.normal(size=(batch, n)).astype("float32"))
    ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    ys = ys if isinstance(ys, list) else [ys]
    arrays.update({f"x{i}": x for i, x in enumerate(xs)})
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"y{i}": np.asarray(y) for i, y in enumerate(ys)})
    save(name, {"kind": "forward", "model_json": model.to_json(), "layer": layer.name,
                "weight_names": [w.name for w in layer.weights],
                "weight_shapes": [list(w.shape) for w in layer.weights]}, arrays)


def stateful(name, make, rng, batch=2):
    keras.backend.clear_session()
    x_in = keras.Input((T, F), batch_size=batch)
    layer = make()
    model = keras.Model(x_in, layer(x_in))
    weights = weights_for(model, rng)
    model.set_weights(weights)
    x0 = rng.normal(size=(batch, T, F)).astype("float32")
    x1 = rng.normal(size=(batch, T, F)).astype("float32")
    y0 = model.predict(x0, batch_size=batch, verbose=0)
    y1 = model.predict(x1, batch_size=batch, verbose=0)
    model.reset_states()
    y2 = model.predict(x0, batch_size=batch, verbose=0)
    arrays = {"x0": x0, "x1": x1, "y0": y0, "y1": y1, "y2": y2}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    save(name, {"kind": "stateful", "model_json": model.to_json(), "layer": layer.name}, arrays)


def train(name, make, rng, masked=False, flatten=False):
    keras.backend.clear_session()
    x_in = keras.Input((T, F))
    h = L.Masking(0.0)(x_in) if masked else x_in
    h = make()(h)
    if flatten:
        h = L.Flatten()(h)
    model = keras.Model(x_in, L.Dense(1)(h))
    weights = weights_for(model, rng)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x0 = rng.normal(size=(B, T, F)).astype("float32")
    if masked:
        x0 = x0 * mask_pattern(B, T)[:, :, None]
    target = rng.normal(size=(B, 1)).astype("float32")
    loss = float(model.train_on_batch(x0, target))
    arrays = {"x0": x0, "t": target}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"a{i}": w for i, w in enumerate(model.get_weights())})
    save(name, {"kind": "train", "model_json": model.to_json(), "loss": loss}, arrays)


def text_data(rng, n=64, steps=12, vocab=50):
    lengths = rng.integers(3, steps + 1, size=n)
    x = np.zeros((n, steps), np.int32)
    for i, k in enumerate(lengths):
        x[i, :k] = rng.integers(1, vocab, size=k)
    target = ((x[:, :3] % 2).sum(axis=1) >= 2).astype("float32")[:, None]
    return x, target


def fit_text(name, rng, mask_zero):
    keras.backend.clear_session()
    inp = keras.Input((12,), dtype="int32")
    h = L.Embedding(50, 8, mask_zero=mask_zero)(inp)
    h = L.LSTM(16)(h)
    model = keras.Model(inp, L.Dense(1, activation="sigmoid")(h))
    weights = weights_for(model, rng, 0.3)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    x, target = text_data(rng)
    hist = model.fit(x, target, batch_size=16, epochs=2, shuffle=False, verbose=0)
    arrays = {"x0": x, "t": target}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"a{i}": w for i, w in enumerate(model.get_weights())})
    save(name, {"kind": "fit", "model_json": model.to_json(),
                "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}, arrays)


def fit_gru(name, rng):
    keras.backend.clear_session()
    inp = keras.Input((12, 3))
    h = L.GRU(8)(inp)
    model = keras.Model(inp, L.Dense(1)(h))
    weights = weights_for(model, rng, 0.3)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.RMSprop(0.005), loss="mse", metrics=["mae"])
    x = rng.normal(size=(64, 12, 3)).astype("float32")
    target = (x[:, :, 0].mean(axis=1, keepdims=True) + 0.5 * x[:, -1, 1:2]).astype("float32")
    hist = model.fit(x, target, batch_size=16, epochs=2, shuffle=False, verbose=0,
                     validation_split=0.25)
    arrays = {"x0": x, "t": target}
    arrays.update({f"w{i}": w for i, w in enumerate(weights)})
    arrays.update({f"a{i}": w for i, w in enumerate(model.get_weights())})
    save(name, {"kind": "fit", "model_json": model.to_json(),
                "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()}}, arrays)


KINDS = {"simple_rnn": lambda **k: L.SimpleRNN(3, **k), "lstm": lambda **k: L.LSTM(3, **k),
         "gru": lambda **k: L.GRU(3, **k),
         "gru_reset_before": lambda **k: L.GRU(3, reset_after=False, **k)}
STATES = {"simple_rnn": [3], "lstm": [3, 3], "gru": [3], "gru_reset_before": [3]}


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(OUT_DIR.glob("*.npz")) + list(OUT_DIR.glob("*.json")):
        old.unlink()
    rng = np.random.default_rng(2024)
    for kind, make in KINDS.items():
        variants = {
            "last": {}, "seq": {"return_sequences": True},
            "state": {"return_state": True},
            "seq_state": {"return_sequences": True, "return_state": True},
            "back": {"go_backwards": True},
            "back_seq": {"go_backwards": True, "return_sequences": True},
            "unroll": {"unroll": True, "return_sequences": True},
        }
        for vname, kw in variants.items():
            forward(f"{kind}_{vname}", lambda kw=kw: make(**kw), rng)
        for vname, kw in {"last": {}, "seq": {"return_sequences": True},
                          "back_seq_state": {"go_backwards": True, "return_sequences": True,
                                             "return_state": True}}.items():
            forward(f"{kind}_masked_{vname}", lambda kw=kw: make(**kw), rng, masked=True)
        forward(f"{kind}_initial_state", lambda: make(return_sequences=True, return_state=True),
                rng, states=STATES[kind])
        forward(f"{kind}_initial_state_masked", lambda: make(return_state=True), rng,
                masked=True, states=STATES[kind])
        stateful(f"{kind}_stateful", lambda: make(stateful=True, return_sequences=True), rng)
        train(f"{kind}_train", lambda: make(), rng)
    # other arguments
    forward("lstm_options", lambda: L.LSTM(3, activation="relu", recurrent_activation="hard_sigmoid",
                                           unit_forget_bias=False, return_sequences=True), rng)
    forward("lstm_no_bias", lambda: L.LSTM(3, use_bias=False, return_sequences=True), rng)
    forward("gru_no_bias", lambda: L.GRU(3, use_bias=False, return_sequences=True), rng)
    forward("gru_reset_before_no_bias", lambda: L.GRU(3, use_bias=False, reset_after=False), rng)
    forward("simple_rnn_relu", lambda: L.SimpleRNN(3, activation="relu", return_sequences=True),
            rng)
    forward("lstm_time_major", lambda: L.LSTM(3, time_major=True, return_sequences=True), rng,
            shape=(T, F), batch=T)
    forward("lstm_impl1", lambda: L.LSTM(3, implementation=1, return_sequences=True), rng)
    # RNN with cells
    forward("rnn_lstm_cell", lambda: L.RNN(L.LSTMCell(3), return_sequences=True), rng)
    forward("rnn_simple_cell_state", lambda: L.RNN(L.SimpleRNNCell(3), return_state=True), rng)
    forward("rnn_stacked", lambda: L.RNN([L.LSTMCell(3), L.GRUCell(2), L.SimpleRNNCell(4)],
                                         return_sequences=True), rng)
    forward("rnn_stacked_state", lambda: L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_state=True),
            rng)
    forward("rnn_stacked_masked", lambda: L.RNN([L.GRUCell(3), L.LSTMCell(2)],
                                                return_sequences=True), rng, masked=True)
    # Bidirectional
    for mode in ("concat", "sum", "mul", "ave", None):
        forward(f"bidirectional_{mode}", lambda mode=mode: L.Bidirectional(
            L.LSTM(3, return_sequences=True), merge_mode=mode), rng)
    forward("bidirectional_last", lambda: L.Bidirectional(L.GRU(3)), rng)
    forward("bidirectional_state", lambda: L.Bidirectional(L.LSTM(3, return_state=True)), rng)
    forward("bidirectional_seq_state_none", lambda: L.Bidirectional(
        L.GRU(3, return_sequences=True, return_state=True), merge_mode=None), rng)
    forward("bidirectional_backward_layer", lambda: L.Bidirectional(
        L.LSTM(3, return_sequences=True),
        backward_layer=L.GRU(3, return_sequences=True, go_backwards=True)), rng)
    forward("bidirectional_masked_seq", lambda: L.Bidirectional(
        L.LSTM(3, return_sequences=True)), rng, masked=True)
    forward("bidirectional_masked_last", lambda: L.Bidirectional(L.SimpleRNN(3), merge_mode="sum"),
            rng, masked=True)
    forward("bidirectional_initial_state", lambda: L.Bidirectional(
        L.LSTM(3, return_sequences=True)), rng, states=[3, 3, 3, 3])
    stateful("bidirectional_stateful",
             lambda: L.Bidirectional(L.GRU(3, stateful=True, return_sequences=True)), rng)
    # training steps
    train("lstm_masked_train", lambda: L.LSTM(3), rng, masked=True)
    train("lstm_back_seq_train", lambda: L.LSTM(3, go_backwards=True, return_sequences=True),
          rng, flatten=True)
    train("bidirectional_train", lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)), rng,
          flatten=True)
    train("bidirectional_masked_train", lambda: L.Bidirectional(L.GRU(3)), rng, masked=True)
    train("rnn_stacked_train", lambda: L.RNN([L.LSTMCell(3), L.GRUCell(2)]), rng)
    # fits
    fit_text("fit_text_lstm", rng, mask_zero=False)
    fit_text("fit_text_lstm_mask_zero", rng, mask_zero=True)
    fit_gru("fit_gru_regressor", rng)
    print("wrote", len(list(OUT_DIR.glob("*.json"))), "cases")


if __name__ == "__main__":
    tf.random.set_seed(0)
    main()
