"""Rebuilding a model from a file: weights are allocated without initializers, read in
place, and any weight the file did not fill comes out as zeros, never uninitialized."""
import io

import h5py
import numpy as np
import pytest

import graphkeras as gk
from graphkeras.saving.rebuild import read_into, weights_from_file


def test_weights_read_in_place_and_unread_ones_zeroed():
    kernel = np.arange(12, dtype="float32").reshape(3, 4) + 1
    with h5py.File(io.BytesIO(), "w") as f:
        ds = f.create_dataset("kernel", data=kernel)
        with weights_from_file(2**20, "test"):
            junk = [np.full(4, 7.0, "float32") for _ in range(8)]
            del junk  # freed buffers of the bias's size, which an uninitialized one may reuse
            layer = gk.layers.Dense(4)
            layer.build((None, 3))
            host = layer.kernel.numpy()
            read_into(layer.kernel, ds)
            assert layer.kernel.numpy() is host  # read into the variable's own buffer
        np.testing.assert_array_equal(layer.kernel.numpy(), kernel)
        np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(4, "float32"))  # not read


def test_weight_budget_is_enforced():
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        with weights_from_file(1000, "test"):
            gk.layers.Dense(400).build((None, 3))


def test_weights_outside_the_scope_are_initialized():
    with weights_from_file(2**20, "test"):
        pass
    layer = gk.layers.Dense(4, kernel_initializer="ones")
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel.numpy(), np.ones((3, 4), "float32"))
