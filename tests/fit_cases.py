"""Training scenarios run on tf.keras (to record fixtures) and on graphkeras (to test).

Each scenario is a function ``(env, init) -> dict`` written once against the
tf.keras API; ``env.K`` is either ``tf_keras`` or ``graphkeras``, and ``env``
carries the few things that differ (``GradientTape`` and a handful of tensor
ops for custom ``train_step``/``compute_loss`` overrides). ``init`` is ``None``
when recording (tf.keras' seeded initial weights are used and returned under
``"init"``) and the recorded initial weights when testing, so both libraries
start from the same point.

A scenario returns a dict: JSON-able values (histories, evaluate results,
``metrics_names``) and lists of arrays (``weights``, ``init``, ``predict``);
``split`` separates the two for storage. The data comes from
``np.random.RandomState`` (its stream is frozen by numpy), so it is the same in
both environments.

tests/reference/make_fit_fixtures.py records tests/fixtures/fit/ from tf.keras;
tests/test_fit_reference.py replays every scenario on graphkeras and compares.
"""
from __future__ import annotations

import numpy as np


class Env:
    def __init__(self, K, name, GradientTape, ops):
        self.K = K
        self.name = name  # "tf" or "gk"
        self.GradientTape = GradientTape
        self.ops = ops  # namespace: mean, square, add, multiply


# ----------------------------------------------------------------------------- data
def mlp_data(n=40, seed=0):
    rs = np.random.RandomState(seed)
    x = rs.randn(n, 6).astype(np.float32)
    y = rs.randint(0, 3, size=n).astype(np.int64)
    return x, y


def mlp(K, final="softmax", units=3, hidden_reg=None):
    return K.Sequential([K.Input((6,)),
                         K.layers.Dense(8, activation="relu", kernel_regularizer=hidden_reg),
                         K.layers.Dense(units, activation=final)])


def setup(model, init):
    if init is not None:
        model.set_weights(init)
    return model.get_weights()


def history(h):
    return {"history": {k: [to_json(v) for v in vals] for k, vals in h.history.items()},
            "epoch": list(h.epoch), "params": dict(h.params)}


def to_json(value):
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(str(np.float32(value)))  # the shortest text that gives the float32 back
    if isinstance(value, (np.integer,)):
        return int(value)
    if hasattr(value, "numpy"):
        return to_json(value.numpy())
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def split(result):
    """(JSON-able part, {key: list of arrays})."""
    arrays, plain = {}, {}
    for k, v in result.items():
        if isinstance(v, (list, tuple)) and v and all(isinstance(a, np.ndarray) for a in v):
            arrays[k] = [np.asarray(a) for a in v]
        else:
            plain[k] = to_json(v)
    return plain, arrays


# ----------------------------------------------------------------------------- 1 optimizers
OPTIMIZERS = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    "adam": ("Adam", {"learning_rate": 0.01}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.02, "amsgrad": True}),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.05}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adamax": ("Adamax", {"learning_rate": 0.02}),
    "nadam": ("Nadam", {"learning_rate": 0.01}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
                      "l2_regularization_strength": 0.01}),
    "string_rmsprop": ("rmsprop", None),
}


def optimizer_case(key):
    class_name, kwargs = OPTIMIZERS[key]

    def scenario(env, init):
        K = env.K
        x, y = mlp_data()
        model = mlp(K)
        res = {"init": setup(model, init)}
        opt = class_name if kwargs is None else getattr(K.optimizers, class_name)(**kwargs)
        # tf's Nadam misbehaves inside tf.function; graphkeras matches eager tf.keras
        eager = True if (env.name == "tf" and class_name == "Nadam") else None
        model.compile(opt, "sparse_categorical_crossentropy", metrics=["accuracy"],
                      run_eagerly=eager)
        res.update(history(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)))
        res["weights"] = model.get_weights()
        res["evaluate"] = model.evaluate(x, y, batch_size=8, verbose=0)
        res["iterations"] = int(model.optimizer.iterations.numpy())
        return res

    return scenario


# ----------------------------------------------------------------------------- 2 losses
def _loss_data(kind, rs, n=16, k=3):
    if kind == "regression":
        return rs.randn(n, k).astype(np.float32)
    if kind == "positive":
        return (rs.rand(n, k) + 0.5).astype(np.float32)
    if kind == "binary":
        return rs.randint(0, 2, size=(n, k)).astype(np.float32)
    if kind == "onehot":
        return np.eye(k, dtype=np.float32)[rs.randint(0, k, size=n)]
    if kind == "sparse":
        return rs.randint(0, k, size=n).astype(np.int64)
    if kind == "distribution":
        p = rs.rand(n, k).astype(np.float32) + 0.1
        return (p / p.sum(-1, keepdims=True)).astype(np.float32)
    if kind == "counts":
        return rs.poisson(2.0, size=(n, k)).astype(np.float32)
    if kind == "wide":
        return (rs.randn(n, k) * 2.0).astype(np.float32)
    raise ValueError(kind)


# key: (loss class or string, kwargs, output activation, target kind)
LOSSES = {
    "mse": ("MeanSquaredError", {}, None, "regression"),
    "mse_string": ("mse", None, None, "regression"),
    "mse_sum": ("MeanSquaredError", {"reduction": "sum"}, None, "regression"),
    "mae": ("MeanAbsoluteError", {}, None, "regression"),
    "mape": ("MeanAbsolutePercentageError", {}, None, "positive"),
    "msle": ("MeanSquaredLogarithmicError", {}, "softplus", "positive"),
    "bce": ("BinaryCrossentropy", {}, "sigmoid", "binary"),
    "bce_string": ("binary_crossentropy", None, "sigmoid", "binary"),
    "bce_logits": ("BinaryCrossentropy", {"from_logits": True}, None, "binary"),
    "bce_smoothing": ("BinaryCrossentropy", {"label_smoothing": 0.2}, "sigmoid", "binary"),
    "bce_logits_smoothing": ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
                             None, "binary"),
    "binary_focal": ("BinaryFocalCrossentropy", {"gamma": 1.5}, "sigmoid", "binary"),
    "cce": ("CategoricalCrossentropy", {}, "softmax", "onehot"),
    "cce_logits": ("CategoricalCrossentropy", {"from_logits": True}, None, "onehot"),
    "cce_smoothing": ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "softmax", "onehot"),
    "categorical_focal": ("CategoricalFocalCrossentropy", {}, "softmax", "onehot"),
    "scce": ("SparseCategoricalCrossentropy", {}, "softmax", "sparse"),
    "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, None, "sparse"),
    "hinge": ("Hinge", {}, None, "binary"),
    "squared_hinge": ("SquaredHinge", {}, "tanh", "binary"),
    "categorical_hinge": ("CategoricalHinge", {}, None, "onehot"),
    "huber": ("Huber", {"delta": 0.5}, None, "wide"),
    "log_cosh": ("LogCosh", {}, None, "wide"),
    "kld": ("KLDivergence", {}, "softmax", "distribution"),
    "poisson": ("Poisson", {}, "softplus", "counts"),
    "cosine": ("CosineSimilarity", {}, None, "regression"),
}


def loss_case(key):
    spec, kwargs, activation, kind = LOSSES[key]

    def scenario(env, init):
        K = env.K
        rs = np.random.RandomState(sorted(LOSSES).index(key) + 100)
        x = rs.randn(16, 5).astype(np.float32)
        y = _loss_data(kind, rs)
        model = K.Sequential([K.Input((5,)), K.layers.Dense(3, activation=activation)])
        res = {"init": setup(model, init)}
        loss = spec if kwargs is None else getattr(K.losses, spec)(**kwargs)
        model.compile(K.optimizers.SGD(0.1), loss)
        res["evaluate"] = model.evaluate(x, y, batch_size=16, verbose=0)
        res["train_on_batch"] = model.train_on_batch(x, y)
        res["weights"] = model.get_weights()
        sw = rs.rand(16).astype(np.float32)
        res["train_on_batch_sw"] = model.train_on_batch(x, y, sample_weight=sw)
        res["weights_sw"] = model.get_weights()
        res["evaluate_after"] = model.evaluate(x, y, batch_size=16, verbose=0)
        return res

    return scenario


# ----------------------------------------------------------------------------- 3 metrics
METRIC_MODELS = {
    # key: (final activation, units, target kind, loss, metrics as (class, kwargs) or strings)
    "categorical": ("softmax", 3, "onehot", "categorical_crossentropy",
                    ["mae", "mse", "accuracy", "acc", "categorical_accuracy",
                     ("TopKCategoricalAccuracy", {"k": 2}), ("AUC", {}),
                     ("AUC", {"curve": "PR", "num_thresholds": 50, "name": "pr_auc"}),
                     ("Precision", {}), ("Recall", {"thresholds": 0.4}),
                     "categorical_crossentropy", "crossentropy",
                     ("RootMeanSquaredError", {}), ("TruePositives", {}),
                     ("FalseNegatives", {"thresholds": [0.3, 0.6]}),
                     ("CategoricalAccuracy", {"name": "cat_acc"}),
                     "kullback_leibler_divergence", "mape", "msle", "cosine_similarity"]),
    "binary": ("sigmoid", 1, "binary1", "binary_crossentropy",
               ["accuracy", "binary_accuracy",
                ("BinaryAccuracy", {"threshold": 0.3, "name": "acc_03"}),
                ("AUC", {"name": "auc"}), ("Precision", {"thresholds": 0.3}), ("Recall", {}),
                "binary_crossentropy", "ce", ("TrueNegatives", {}), ("FalsePositives", {}),
                ("MeanSquaredError", {}), "hinge", "squared_hinge"]),
    "sparse": ("softmax", 3, "sparse", "sparse_categorical_crossentropy",
               ["accuracy", "sparse_categorical_accuracy",
                ("SparseTopKCategoricalAccuracy", {"k": 2}), "sparse_categorical_crossentropy",
                "crossentropy", ("SparseCategoricalAccuracy", {"name": "sacc"})]),
    "sparse_column": ("softmax", 3, "sparse_column", "sparse_categorical_crossentropy",
                      ["accuracy", "sparse_top_k_categorical_accuracy"]),
    "regression": (None, 2, "regression2", "mse",
                   ["mae", "mse", "mape", ("RootMeanSquaredError", {}), "logcosh",
                    ("CosineSimilarity", {}), "accuracy"]),
}


def _metric(K, spec):
    if isinstance(spec, str):
        return spec
    return getattr(K.metrics, spec[0])(**spec[1])


def metrics_case(key, weighted=False):
    activation, units, kind, loss, specs = METRIC_MODELS[key]

    def scenario(env, init):
        K = env.K
        x, labels = mlp_data(seed=7)
        rs = np.random.RandomState(11)
        if kind == "onehot":
            y = np.eye(3, dtype=np.float32)[labels]
        elif kind == "binary1":
            y = (labels[:, None] == 1).astype(np.float32)
        elif kind == "sparse":
            y = labels
        elif kind == "sparse_column":
            y = labels[:, None]
        else:
            y = rs.randn(40, 2).astype(np.float32)
        model = mlp(K, final=activation, units=units)
        res = {"init": setup(model, init)}
        metrics = [_metric(K, s) for s in specs]
        sw = rs.rand(40).astype(np.float32) if weighted else None
        if weighted:
            model.compile(K.optimizers.Adam(0.01), loss, weighted_metrics=metrics)
        else:
            model.compile(K.optimizers.Adam(0.01), loss, metrics=metrics)
        res.update(history(model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                                     sample_weight=sw)))
        res["metrics_names"] = model.metrics_names
        res["evaluate"] = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True,
                                         sample_weight=sw)
        res["weights"] = model.get_weights()
        return res

    return scenario


# ------------------------------------------------------------------------- 4 on_batch, multi-output
def on_batch(env, init):
    K = env.K
    x, y = mlp_data()
    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy", "mae"])
    res["names_before"] = model.metrics_names
    res["t1"] = model.train_on_batch(x[:8], y[:8])
    res["names_after"] = model.metrics_names
    res["t2"] = model.train_on_batch(x[8:16], y[8:16], return_dict=True)
    res["t3"] = model.train_on_batch(x[16:24], y[16:24], reset_metrics=False)
    res["t4"] = model.train_on_batch(x[24:40], y[24:40], reset_metrics=False, return_dict=True)
    res["e1"] = model.test_on_batch(x[:8], y[:8])
    res["e2"] = model.test_on_batch(x[8:20], y[8:20], reset_metrics=False, return_dict=True)
    res["e3"] = model.test_on_batch(x[20:], y[20:], return_dict=True)
    res["weights"] = model.get_weights()
    return res


def on_batch_weights(env, init):
    K = env.K
    x, y = mlp_data()
    sw = np.linspace(0.2, 1.8, 40).astype(np.float32)
    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    res["t1"] = model.train_on_batch(x[:16], y[:16], sample_weight=sw[:16])
    res["t2"] = model.train_on_batch(x[16:], y[16:], class_weight={0: 2.0, 1: 1.0, 2: 0.3})
    res["t3"] = model.train_on_batch(x[:16], y[:16], sample_weight=sw[:16],
                                     class_weight={0: 2.0, 1: 1.0, 2: 0.3})
    res["e1"] = model.test_on_batch(x, y, sample_weight=sw)
    res["names"] = model.metrics_names
    res["weights"] = model.get_weights()
    return res


def steps_and_recompile(env, init):
    """evaluate(steps=), fit(validation_steps=), and compiling again between fits."""
    K = env.K
    x, y = mlp_data()
    xv, yv = mlp_data(n=12, seed=9)
    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    res["first"] = history(model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                                     validation_data=(xv, yv), validation_steps=1,
                                     validation_batch_size=4))
    res["evaluate_steps"] = model.evaluate(x, y, batch_size=8, steps=2, verbose=0)
    model.compile(K.optimizers.Adam(0.02), "sparse_categorical_crossentropy",
                  metrics=["mae"])
    res["names_recompiled"] = model.metrics_names
    res.update(history(model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)))
    res["names"] = model.metrics_names
    res["evaluate"] = model.evaluate(x, y, verbose=0, return_dict=True)
    res["weights"] = model.get_weights()
    return res


def on_batch_no_metrics(env, init):
    K = env.K
    x, y = mlp_data()
    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    res["t1"] = model.train_on_batch(x[:8], y[:8])
    res["t2"] = model.train_on_batch(x[8:16], y[8:16], return_dict=True)
    res["e1"] = model.test_on_batch(x, y)
    res["evaluate"] = model.evaluate(x, y, verbose=0)
    res["names"] = model.metrics_names
    res["weights"] = model.get_weights()
    return res


def two_heads(K):
    inp = K.Input((6,), name="features")
    h = K.layers.Dense(8, activation="relu", name="hidden")(inp)
    out = K.layers.Dense(2, name="out")(h)
    out_1 = K.layers.Dense(1, activation="sigmoid", name="out_1")(h)
    return K.Model(inp, [out, out_1])


def two_head_data():
    rs = np.random.RandomState(3)
    x = rs.randn(40, 6).astype(np.float32)
    y0 = rs.randn(40, 2).astype(np.float32)
    y1 = rs.randint(0, 2, size=(40, 1)).astype(np.float32)
    return x, y0, y1


def multi_list(env, init):
    K = env.K
    x, y0, y1 = two_head_data()
    model = two_heads(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.Adam(0.01), ["mse", "binary_crossentropy"], loss_weights=[0.5, 2.0],
                  metrics=["mae", "acc"])
    res["t1"] = model.train_on_batch(x[:8], [y0[:8], y1[:8]])
    res["names"] = model.metrics_names
    res.update(history(model.fit(x, [y0, y1], batch_size=8, epochs=2, shuffle=False, verbose=0)))
    res["evaluate"] = model.evaluate(x, [y0, y1], batch_size=16, verbose=0)
    res["e1"] = model.test_on_batch(x[:8], [y0[:8], y1[:8]], return_dict=True)
    res["weights"] = model.get_weights()
    return res


def multi_dict(env, init):
    K = env.K
    x, y0, y1 = two_head_data()
    model = two_heads(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.05, momentum=0.5),
                  {"out": "mae", "out_1": K.losses.BinaryCrossentropy(label_smoothing=0.1)},
                  loss_weights={"out": 0.3, "out_1": 1.5},
                  metrics={"out": ["mse"], "out_1": ["accuracy", K.metrics.AUC(name="auc")]})
    ys = {"out": y0, "out_1": y1}
    res.update(history(model.fit({"features": x}, ys, batch_size=16, epochs=2, shuffle=False,
                                 verbose=0)))
    res["names"] = model.metrics_names
    res["evaluate"] = model.evaluate(x, ys, batch_size=16, verbose=0, return_dict=True)
    res["weights"] = model.get_weights()
    return res


def multi_one_loss(env, init):
    """Only one of two outputs has a loss (the other only a metric)."""
    K = env.K
    x, y0, y1 = two_head_data()
    model = two_heads(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.1), {"out_1": "binary_crossentropy"},
                  metrics={"out": "mae", "out_1": "accuracy"})
    ys = {"out": y0, "out_1": y1}
    res.update(history(model.fit(x, ys, batch_size=8, epochs=2, shuffle=False, verbose=0)))
    res["names"] = model.metrics_names
    res["weights"] = model.get_weights()
    return res


# ----------------------------------------------------------------------------- 5 fit options
def _fit_case(compile_kwargs=None, fit_kwargs=None, evaluate_kwargs=None, model_fn=mlp,
              weights=None, predict=False):
    def scenario(env, init):
        K = env.K
        x, y = mlp_data()
        model = model_fn(K)
        res = {"init": setup(model, init)}
        kw = dict(compile_kwargs or {})
        opt = kw.pop("optimizer", ("SGD", {"learning_rate": 0.1}))
        model.compile(getattr(K.optimizers, opt[0])(**opt[1]),
                      kw.pop("loss", "sparse_categorical_crossentropy"),
                      metrics=kw.pop("metrics", ["accuracy"]), **kw)
        fkw = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
        fkw.update({k: (v(x, y) if callable(v) else v) for k, v in (fit_kwargs or {}).items()})
        res.update(history(model.fit(x, y, **fkw)))
        ekw = {k: (v(x, y) if callable(v) else v) for k, v in (evaluate_kwargs or {}).items()}
        res["evaluate"] = model.evaluate(x, y, batch_size=8, verbose=0, **ekw)
        res["weights"] = model.get_weights()
        res["iterations"] = int(model.optimizer.iterations.numpy())
        if predict:
            res["predict"] = [model.predict(x, verbose=0)]
        return res

    return scenario


def _sw(x, y):
    return np.random.RandomState(5).rand(len(x)).astype(np.float32)


def _val_data(x, y):
    xv, yv = mlp_data(n=12, seed=9)
    return (xv, yv)


def bn_model(K):
    return K.Sequential([K.Input((6,)), K.layers.Dense(8),
                         K.layers.BatchNormalization(momentum=0.8),
                         K.layers.Activation("relu"), K.layers.Dense(3, activation="softmax")])


def reg_model(K):
    return mlp(K, hidden_reg=K.regularizers.l2(0.05))


def activity_reg_model(K):
    return K.Sequential([K.Input((6,)),
                         K.layers.Dense(8, activation="relu",
                                        activity_regularizer=K.regularizers.l1(0.01)),
                         K.layers.Dense(3, activation="softmax", bias_regularizer="l2")])


def _val_data_sw(x, y):
    xv, yv = mlp_data(n=12, seed=9)
    return (xv, yv, np.linspace(0.1, 2.0, 12).astype(np.float32))


FIT_CASES = {
    "sample_weight": dict(fit_kwargs={"sample_weight": _sw},
                          evaluate_kwargs={"sample_weight": _sw}),
    "class_weight": dict(fit_kwargs={"class_weight": {0: 1.0, 1: 2.5, 2: 0.5}}),
    "weighted_metrics": dict(compile_kwargs={"weighted_metrics": ["accuracy", "mae"]},
                             fit_kwargs={"sample_weight": _sw},
                             evaluate_kwargs={"sample_weight": _sw}),
    "validation_split": dict(fit_kwargs={"validation_split": 0.25}),
    "validation_data_freq": dict(fit_kwargs={"validation_data": _val_data, "validation_freq": 2,
                                             "epochs": 4}),
    "validation_freq_list": dict(fit_kwargs={"validation_data": _val_data,
                                             "validation_freq": [1, 3], "epochs": 3,
                                             "validation_batch_size": 5}),
    "initial_epoch": dict(fit_kwargs={"initial_epoch": 1, "epochs": 3}),
    "steps_per_epoch": dict(fit_kwargs={"steps_per_epoch": 2, "batch_size": 16, "epochs": 3}),
    "partial_batch": dict(fit_kwargs={"batch_size": 16},
                          compile_kwargs={"optimizer": ("Adam", {"learning_rate": 0.01})}),
    "batch_norm": dict(model_fn=bn_model, predict=True,
                       compile_kwargs={"optimizer": ("SGD", {"learning_rate": 0.1,
                                                             "momentum": 0.9})}),
    "regularizer": dict(model_fn=reg_model),
    "activity_regularizer": dict(model_fn=activity_reg_model),
    "validation_data_sample_weight": dict(fit_kwargs={"validation_data": _val_data_sw}),
    "validation_split_sample_weight": dict(fit_kwargs={"validation_split": 0.2,
                                                       "sample_weight": _sw}),
}


def class_weight_onehot(env, init):
    K = env.K
    x, labels = mlp_data()
    y = np.eye(3, dtype=np.float32)[labels]
    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.1), "categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    res.update(history(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                                 class_weight={0: 0.5, 1: 1.0, 2: 3.0},
                                 sample_weight=_sw(x, y))))
    res["weights"] = model.get_weights()
    return res


def temporal(env, init):
    """A (batch, time, classes) output with 2D (temporal) sample weights."""
    K = env.K
    rs = np.random.RandomState(21)
    x = rs.randn(24, 4, 5).astype(np.float32)
    y = rs.randint(0, 3, size=(24, 4)).astype(np.int64)
    sw = (rs.rand(24, 4) > 0.3).astype(np.float32)
    model = K.Sequential([K.Input((4, 5)), K.layers.Dense(6, activation="tanh"),
                          K.layers.Dense(3, activation="softmax")])
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.Adam(0.02), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    res.update(history(model.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False,
                                 verbose=0)))
    res["evaluate"] = model.evaluate(x, y, sample_weight=sw, verbose=0)
    res["weights"] = model.get_weights()
    return res


def multi_sample_weight(env, init):
    K = env.K
    x, y0, y1 = two_head_data()
    sw = {"out": np.linspace(0.0, 2.0, 40).astype(np.float32),
          "out_1": np.linspace(1.0, 0.2, 40).astype(np.float32)}
    model = two_heads(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.Adam(0.01), ["mse", "binary_crossentropy"],
                  metrics=["mae"], weighted_metrics=["mae"])
    res.update(history(model.fit(x, [y0, y1], sample_weight=sw, batch_size=16, epochs=2,
                                 shuffle=False, verbose=0)))
    res["evaluate"] = model.evaluate(x, [y0, y1], sample_weight=[sw["out"], sw["out_1"]],
                                     verbose=0, return_dict=True)
    res["weights"] = model.get_weights()
    return res


def nan_terminate(env, init):
    """A NaN in the data makes the loss NaN; TerminateOnNaN stops fit after that batch."""
    K = env.K
    x, y = mlp_data()
    x = x.copy()
    x[20] = np.nan
    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    res.update(history(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                                 callbacks=[K.callbacks.TerminateOnNaN()])))
    return res


def generator_data(env, init):
    """A Python generator and a ``utils.Sequence`` give the same run as the arrays."""
    K = env.K
    x, y = mlp_data()

    def batches():
        while True:
            for i in range(0, 40, 8):
                yield x[i:i + 8], y[i:i + 8]

    class Batches(K.utils.Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 10:(i + 1) * 10], y[i * 10:(i + 1) * 10]

    model = mlp(K)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    res.update(history(model.fit(batches(), steps_per_epoch=5, epochs=2, verbose=0)))
    res["sequence"] = history(model.fit(Batches(), epochs=2, verbose=0, shuffle=False))["history"]
    res["evaluate"] = model.evaluate(Batches(), verbose=0)
    res["weights"] = model.get_weights()
    return res


# ----------------------------------------------------------------------------- 6 custom steps
def custom_train_step(env, init):
    """The tf.keras guide's ``train_step`` (compute_loss, then every metric)."""
    K, tape_cls = env.K, env.GradientTape

    class CustomModel(K.Model):
        def train_step(self, data):
            x, y = data
            with tape_cls() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return _custom(env, init, CustomModel)


def custom_train_step_compiled(env, init):
    """The older guide's ``train_step``: compiled_loss and compiled_metrics."""
    K, tape_cls = env.K, env.GradientTape

    class CustomModel(K.Model):
        def train_step(self, data):
            x, y = data
            with tape_cls() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return _custom(env, init, CustomModel)


def custom_compute_loss(env, init):
    """``compute_loss`` overridden to add a penalty on the predictions."""
    K, ops = env.K, env.ops

    class CustomModel(K.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            loss = super().compute_loss(x, y, y_pred, sample_weight)
            return ops.add(loss, ops.multiply(ops.mean(ops.square(y_pred)), 0.5))

    return _custom(env, init, CustomModel)


def custom_test_step(env, init):
    K = env.K

    class CustomModel(K.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.compiled_loss(y, y_pred)
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return _custom(env, init, CustomModel, validation=True)


def _custom(env, init, cls, validation=False):
    K = env.K
    x, y = mlp_data()
    inp = K.Input((6,))
    h = K.layers.Dense(8, activation="relu")(inp)
    out = K.layers.Dense(3, activation="softmax")(h)
    model = cls(inp, out)
    res = {"init": setup(model, init)}
    model.compile(K.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    kw = {"validation_data": _val_data(x, y)} if validation else {}
    res.update(history(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **kw)))
    res["evaluate"] = model.evaluate(x, y, batch_size=8, verbose=0)
    res["weights"] = model.get_weights()
    return res


CUSTOM_CASES = {
    "custom_train_step": custom_train_step,
    "custom_train_step_compiled": custom_train_step_compiled,
    "custom_compute_loss": custom_compute_loss,
    "custom_test_step": custom_test_step,
}


# ----------------------------------------------------------------------------- all
def all_cases():
    cases = {}
    for key in OPTIMIZERS:
        cases[f"opt_{key}"] = optimizer_case(key)
    for key in LOSSES:
        cases[f"loss_{key}"] = loss_case(key)
    for key in METRIC_MODELS:
        cases[f"metrics_{key}"] = metrics_case(key)
    cases["metrics_weighted_categorical"] = metrics_case("categorical", weighted=True)
    cases["metrics_weighted_binary"] = metrics_case("binary", weighted=True)
    cases["on_batch"] = on_batch
    cases["on_batch_no_metrics"] = on_batch_no_metrics
    cases["on_batch_weights"] = on_batch_weights
    cases["fit_steps_and_recompile"] = steps_and_recompile
    cases["multi_list"] = multi_list
    cases["multi_dict"] = multi_dict
    cases["multi_one_loss"] = multi_one_loss
    for key, kw in FIT_CASES.items():
        cases[f"fit_{key}"] = _fit_case(**kw)
    cases["fit_nan_terminate"] = nan_terminate
    cases["fit_class_weight_onehot"] = class_weight_onehot
    cases["fit_temporal_sample_weight"] = temporal
    cases["multi_sample_weight"] = multi_sample_weight
    cases["fit_generator"] = generator_data
    cases.update(CUSTOM_CASES)
    return cases


CASES = all_cases()
