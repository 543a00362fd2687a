"""Random primitives (dropout masks, noise layers)."""
from __future__ import annotations

import numpy as np

from graphkeras.compiler.ir import AVal
from graphkeras.compiler.onnx_builder import ONNX_DTYPE
from graphkeras.compiler.primitive import Primitive

random_uniform_like_p = Primitive("random_uniform_like", lambda x, seed: AVal(x.shape, x.dtype))


@random_uniform_like_p.def_impl
def _(x, seed):
    return np.random.default_rng(seed).random(x.shape).astype(x.dtype)


@random_uniform_like_p.def_onnx
def _(b, node, x):
    seed = node.attrs["seed"]
    return b.op("RandomUniformLike", [x], dtype=ONNX_DTYPE[node.inputs[0].dtype],
                seed=None if seed is None else float(seed))


random_normal_like_p = Primitive("random_normal_like", lambda x, seed: AVal(x.shape, x.dtype))


@random_normal_like_p.def_impl
def _(x, seed):
    return np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)


@random_normal_like_p.def_onnx
def _(b, node, x):
    seed = node.attrs["seed"]
    return b.op("RandomNormalLike", [x], dtype=ONNX_DTYPE[node.inputs[0].dtype],
                seed=None if seed is None else float(seed))


def uniform_like(x, seed=None):
    """Uniform [0, 1) samples shaped like ``x``."""
    return random_uniform_like_p.bind(x, seed=seed)


def normal_like(x, seed=None):
    """Standard normal samples shaped like ``x``."""
    return random_normal_like_p.bind(x, seed=seed)
