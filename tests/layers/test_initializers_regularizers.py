"""Initializers (tf.keras defaults, statistics, seeds, configs) and regularizers."""
import math

import numpy as np
import pytest

import graphkeras as gk
from graphkeras import initializers, regularizers


@pytest.mark.parametrize("name,cls,config", [
    ("glorot_uniform", "GlorotUniform", {"seed": None}),
    ("he_normal", "HeNormal", {"seed": None}),
    ("zeros", "Zeros", {}),
    ("ones", "Ones", {}),
    ("random_normal", "RandomNormal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
    ("random_uniform", "RandomUniform", {"minval": -0.05, "maxval": 0.05, "seed": None}),
    ("truncated_normal", "TruncatedNormal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
    ("orthogonal", "Orthogonal", {"gain": 1.0, "seed": None}),
])
def test_names_and_default_configs(name, cls, config):
    init = initializers.get(name)
    assert type(init).__name__ == cls
    assert init.get_config() == config
    spec = initializers.serialize(init)
    assert spec["class_name"] == cls and spec["module"] == "keras.initializers"
    assert type(initializers.deserialize(spec)).__name__ == cls


def test_glorot_uniform_limits_and_statistics():
    w = initializers.GlorotUniform(seed=1)((400, 600))
    limit = math.sqrt(6 / (400 + 600))
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert abs(w.std() - limit / math.sqrt(3)) < 0.01 * limit


def test_variance_scaling_truncated_normal_std():
    w = initializers.HeNormal(seed=3)((500, 400))
    assert np.abs(w).max() <= 2 * math.sqrt(2 / 500) / 0.87962566103423978 + 1e-6
    assert abs(w.std() - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)


def test_conv_kernel_fans():
    w = initializers.VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", seed=0)((3, 3, 8, 16))
    assert np.abs(w).max() <= math.sqrt(3 / (3 * 3 * 8))


def test_orthogonal_is_orthogonal():
    w = initializers.Orthogonal(seed=0)((6, 4))
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-5)


def test_seeds():
    a = initializers.GlorotUniform(seed=7)((3, 3))
    b = initializers.GlorotUniform(seed=7)((3, 3))
    np.testing.assert_array_equal(a, b)
    gk.utils.set_random_seed(5)
    first = gk.layers.Dense(3)
    first.build((None, 4))
    gk.utils.set_random_seed(5)
    second = gk.layers.Dense(3)
    second.build((None, 4))
    np.testing.assert_array_equal(first.kernel.numpy(), second.kernel.numpy())


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=-1)
    with pytest.raises(ValueError, match="Unknown"):
        initializers.get("no_such_init")


def test_regularizers_contribute_to_losses():
    x = gk.Input((3,))
    dense = gk.layers.Dense(2, kernel_regularizer=regularizers.l2(0.1),
                            bias_regularizer=regularizers.L1(0.5))
    model = gk.Model(x, dense(x))
    dense.set_weights([np.ones((3, 2), np.float32), np.array([1.0, -2.0], np.float32)])
    losses = [float(np.asarray(v)) for v in model.losses]
    assert losses == pytest.approx([0.1 * 6, 0.5 * 3])
    assert float(np.asarray(regularizers.l1_l2(l1=0.01, l2=0.01)(np.ones(4, np.float32)))) == \
        pytest.approx(0.08)


def test_regularizer_configs_round_trip():
    reg = regularizers.L1L2(l1=0.1, l2=0.2)
    back = regularizers.deserialize(regularizers.serialize(reg))
    assert back.get_config() == {"l1": 0.1, "l2": 0.2}
    x = gk.Input((3,))
    model = gk.Model(x, gk.layers.Dense(2, kernel_regularizer="l2")(x))
    clone = gk.models.model_from_json(model.to_json())
    assert clone.layers[1].kernel_regularizer.get_config() == {"l2": 0.01}


@pytest.mark.parametrize("name,fn", [
    ("relu", lambda x: np.maximum(x, 0)),
    ("relu6", lambda x: np.clip(x, 0, 6)),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("hard_sigmoid", lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("swish", lambda x: x / (1 + np.exp(-x))),
    ("softplus", lambda x: np.log1p(np.exp(x))),
    ("softsign", lambda x: x / (1 + np.abs(x))),
    ("elu", lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    ("exponential", np.exp),
    ("tanh", np.tanh),
    ("linear", lambda x: x),
])
def test_activations_against_numpy(name, fn):
    x = np.linspace(-8, 8, 41, dtype=np.float32).reshape(1, -1)
    np.testing.assert_allclose(gk.activations.get(name)(x), fn(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_relu_options_and_gelu_approximate():
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    got = gk.activations.relu(x, alpha=0.1, max_value=2.0, threshold=0.5)
    want = np.where(x > 0.5, np.minimum(x, 2.0), 0.1 * (x - 0.5))  # tf: x * (x > threshold)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    approx = gk.activations.gelu(x, approximate=True)
    want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(approx, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Unknown activation"):
        gk.activations.get("nope")
