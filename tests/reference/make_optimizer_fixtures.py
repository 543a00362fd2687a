"""Generate reference fixtures for graphkeras' optimizers from real tf.keras 2.x
(the tf.keras 2.11+ optimizer classes, ``tf_keras.optimizers.*``, not ``legacy``).

Each optimizer case writes ``tests/fixtures/optimizers/<case>.npz`` holding

``init0, init1``        the two variables' starting values (shapes (3, 4) and (4,)),
``grad{s}_{i}``         the gradient for variable ``i`` at step ``s`` (5 steps),
``has_grad``            (5, 2) bool: False where that gradient is ``None`` (skipped),
``step{s}_{i}``         variable ``i`` after step ``s``,
``lr{s}``               the learning rate the optimizer reports after step ``s``,
``slot{j}``             ``optimizer.variables[j]`` after the last step (tf.keras order),
``meta``                a JSON string: ``{"case", "class_name", "kwargs", "config",
                        "slot_names", "keras_version"}``; ``kwargs`` are the constructor
                        arguments (a schedule as its ``serialize`` dict), ``config`` is
                        ``optimizer.get_config()`` as ``serialize`` writes it, ``slot_names``
                        the names of ``optimizer.variables`` (the model variables are named
                        ``dense/kernel`` and ``dense/bias``).

``schedules.npz`` holds, per schedule case ``c``: ``{c}_steps`` (int64) and
``{c}_values`` (float32, the schedule at those steps) and ``meta`` (JSON: case ->
``serialize(schedule)``).

Run from the repository root in the reference environment::

    .venv-ref/bin/python tests/reference/make_optimizer_fixtures.py
"""

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

O = keras.optimizers
S = keras.optimizers.schedules
OUT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "optimizers"
STEPS = 5
SHAPES = [(3, 4), (4,)]

EXP = S.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
PIECE = S.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01])
COS = S.CosineDecay(0.05, decay_steps=4, alpha=0.1, warmup_target=0.2, warmup_steps=2)

# (case, class name, constructor kwargs); gradients of the steps listed in `skip`
# are None for variable 1.
CASES = [
    ("sgd_default", "SGD", {}),
    ("sgd_lr", "SGD", {"learning_rate": 0.1}),
    ("sgd_momentum", "SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd_nesterov", "SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd_clipnorm", "SGD", {"learning_rate": 0.1, "clipnorm": 1.0}),
    ("sgd_clipvalue", "SGD", {"learning_rate": 0.1, "clipvalue": 0.5}),
    ("sgd_global_clipnorm", "SGD", {"learning_rate": 0.1, "global_clipnorm": 1.5}),
    ("sgd_weight_decay", "SGD", {"learning_rate": 0.1, "weight_decay": 0.5}),
    ("sgd_schedule", "SGD", {"learning_rate": EXP, "momentum": 0.5}),
    ("sgd_none_grad", "SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd_ema", "SGD", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.8,
                        "ema_overwrite_frequency": 2}),
    ("rmsprop_default", "RMSprop", {}),
    ("rmsprop_lr", "RMSprop", {"learning_rate": 0.05, "rho": 0.8}),
    ("rmsprop_momentum", "RMSprop", {"learning_rate": 0.05, "momentum": 0.7}),
    ("rmsprop_centered", "RMSprop", {"learning_rate": 0.05, "centered": True}),
    ("rmsprop_centered_momentum", "RMSprop",
     {"learning_rate": 0.05, "centered": True, "momentum": 0.5, "epsilon": 0.01}),
    ("rmsprop_weight_decay", "RMSprop", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("rmsprop_clipnorm", "RMSprop", {"learning_rate": 0.05, "clipnorm": 0.5}),
    ("adam_default", "Adam", {}),
    ("adam_lr", "Adam", {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 0.01}),
    ("adam_amsgrad", "Adam", {"learning_rate": 0.1, "amsgrad": True}),
    ("adam_adaptive_epsilon", "Adam",
     {"learning_rate": 0.1, "epsilon": 0.1, "adaptive_epsilon": True}),
    ("adam_weight_decay", "Adam", {"learning_rate": 0.1, "weight_decay": 0.3}),
    ("adam_clipnorm", "Adam", {"learning_rate": 0.1, "clipnorm": 0.8}),
    ("adam_clipvalue", "Adam", {"learning_rate": 0.1, "clipvalue": 0.3}),
    ("adam_global_clipnorm", "Adam", {"learning_rate": 0.1, "global_clipnorm": 1.0}),
    ("adam_schedule", "Adam", {"learning_rate": PIECE}),
    ("adam_none_grad", "Adam", {"learning_rate": 0.1}),
    ("adam_ema", "Adam", {"learning_rate": 0.1, "use_ema": True}),
    ("adamw_default", "AdamW", {}),
    ("adamw_lr", "AdamW", {"learning_rate": 0.1, "weight_decay": 0.1}),
    ("adamw_amsgrad", "AdamW", {"learning_rate": 0.1, "amsgrad": True}),
    ("adamw_schedule", "AdamW", {"learning_rate": COS, "weight_decay": 0.2}),
    ("adagrad_default", "Adagrad", {}),
    ("adagrad_lr", "Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5,
                               "epsilon": 0.01}),
    ("adagrad_zero_init", "Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.0}),
    ("adadelta_default", "Adadelta", {}),
    ("adadelta_lr", "Adadelta", {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-3}),
    ("adadelta_clipvalue", "Adadelta", {"learning_rate": 1.0, "clipvalue": 0.2}),
    ("adamax_default", "Adamax", {}),
    ("adamax_lr", "Adamax", {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.8}),
    ("adamax_weight_decay", "Adamax", {"learning_rate": 0.1, "weight_decay": 0.2}),
    ("nadam_default", "Nadam", {}),
    ("nadam_lr", "Nadam", {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.9}),
    ("nadam_schedule", "Nadam", {"learning_rate": EXP}),
    ("nadam_none_grad", "Nadam", {"learning_rate": 0.1}),
    ("ftrl_default", "Ftrl", {}),
    ("ftrl_lr", "Ftrl", {"learning_rate": 0.1}),
    ("ftrl_l1_l2", "Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.05,
                            "l2_regularization_strength": 0.2}),
    ("ftrl_shrinkage", "Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01,
                                "l2_shrinkage_regularization_strength": 0.3}),
    ("ftrl_beta_power", "Ftrl", {"learning_rate": 0.1, "beta": 0.5, "learning_rate_power": -0.7,
                                 "initial_accumulator_value": 0.3}),
    ("ftrl_power_zero", "Ftrl", {"learning_rate": 0.1, "learning_rate_power": 0.0,
                                 "l2_regularization_strength": 0.1}),
]
SKIP = {"sgd_none_grad": {2}, "adam_none_grad": {1, 3}, "nadam_none_grad": {2}}

SCHEDULES = {
    "exponential": S.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.7),
    "exponential_staircase": S.ExponentialDecay(0.2, 4, 0.5, staircase=True),
    "piecewise": S.PiecewiseConstantDecay([3, 7], [1.0, 0.5, 0.1]),
    "polynomial": S.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=2.0),
    "polynomial_linear": S.PolynomialDecay(0.5, 8),
    "polynomial_cycle": S.PolynomialDecay(0.1, decay_steps=4, end_learning_rate=0.02,
                                          power=0.5, cycle=True),
    "inverse_time": S.InverseTimeDecay(0.5, decay_steps=2, decay_rate=0.3),
    "inverse_time_staircase": S.InverseTimeDecay(0.5, 3, 1.5, staircase=True),
    "cosine": S.CosineDecay(0.1, decay_steps=10),
    "cosine_alpha": S.CosineDecay(0.1, decay_steps=10, alpha=0.2),
    "cosine_warmup": S.CosineDecay(0.0, decay_steps=10, alpha=0.1, warmup_target=0.5,
                                   warmup_steps=4),
    "cosine_warmup_from": S.CosineDecay(0.1, decay_steps=6, warmup_target=0.3, warmup_steps=3),
    "cosine_restarts": S.CosineDecayRestarts(0.1, first_decay_steps=3),
    "cosine_restarts_mul": S.CosineDecayRestarts(0.2, 2, t_mul=1.5, m_mul=0.7, alpha=0.1),
    "cosine_restarts_tmul1": S.CosineDecayRestarts(0.2, 3, t_mul=1.0, m_mul=0.5),
}
SCHEDULE_STEPS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17, 20, 31, 50], np.int64)


def to_json(obj):
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, S.LearningRateSchedule):
        return S.serialize(obj)
    return obj


def run_case(case, class_name, kwargs, rng):
    init = [rng.normal(size=s).astype(np.float32) for s in SHAPES]
    grads = [[rng.normal(size=s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]
    has_grad = np.ones((STEPS, 2), bool)
    for s in SKIP.get(case, ()):
        has_grad[s, 1] = False
    variables = [tf.Variable(init[0], name="dense/kernel"), tf.Variable(init[1], name="dense/bias")]
    opt = getattr(O, class_name)(**kwargs)
    arrays = {"init0": init[0], "init1": init[1], "has_grad": has_grad}
    for s in range(STEPS):
        pairs = []
        for i in range(2):
            arrays[f"grad{s}_{i}"] = grads[s][i]
            if has_grad[s, i]:
                pairs.append((tf.constant(grads[s][i]), variables[i]))
        opt.apply_gradients(pairs)
        for i in range(2):
            arrays[f"step{s}_{i}"] = variables[i].numpy()
        lr = opt.learning_rate
        arrays[f"lr{s}"] = np.asarray(lr.numpy() if hasattr(lr, "numpy") else lr, np.float32)
    for j, v in enumerate(opt.variables):
        arrays[f"slot{j}"] = v.numpy()
    meta = {"case": case, "class_name": class_name, "kwargs": to_json(kwargs),
            "config": to_json(O.serialize(opt)["config"]),
            "slot_names": [v.name for v in opt.variables], "keras_version": keras.__version__}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT_DIR / f"{case}.npz", **arrays)


def main():
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    for n, (case, class_name, kwargs) in enumerate(CASES):
        run_case(case, class_name, kwargs, np.random.default_rng(1000 + n))
    arrays, meta = {}, {}
    for name, schedule in SCHEDULES.items():
        arrays[f"{name}_steps"] = SCHEDULE_STEPS
        arrays[f"{name}_values"] = np.array(
            [float(schedule(tf.constant(int(s), tf.int64))) for s in SCHEDULE_STEPS], np.float32)
        meta[name] = to_json(S.serialize(schedule))
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(OUT_DIR / "schedules.npz", **arrays)
    print(f"wrote {len(CASES) + 1} files to {OUT_DIR}")


if __name__ == "__main__":
    main()
