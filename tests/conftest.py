import numpy as np
import pytest

import graphkeras as gk


@pytest.fixture(autouse=True)
def _fresh_names():
    """Each test starts with tf.keras' default names (dense, dense_1, ...)."""
    gk.backend.clear_session()
    gk.utils.set_random_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)
