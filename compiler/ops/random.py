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


def _relax_random(kind, a, b):
    """TVM's own generator (``tvm.contrib.random``); like ONNX Runtime's, its draws are not
    numpy's, seeded or not."""
    def rule(bb, node, x):
        relax = bb.relax
        ty = relax.TensorType([bb.prim(d) for d in bb.shape(x)], node.inputs[0].dtype)
        return relax.call_dps_packed(f"tvm.contrib.random.{kind}",
                                     [relax.prim_value(float(a)), relax.prim_value(float(b))], ty)
    return rule


random_uniform_like_p.def_relax(_relax_random("uniform", 0.0, 1.0))


random_normal_like_p = Primitive("random_normal_like", lambda x, seed: AVal(x.shape, x.dtype))


@random_normal_like_p.def_impl
def _(x, seed):
    return np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)


@random_normal_like_p.def_onnx
def _(b, node, x):
    seed = node.attrs["seed"]
    return b.op("RandomNormalLike", [x], dtype=ONNX_DTYPE[node.inputs[0].dtype],
                seed=None if seed is None else float(seed))


random_normal_like_p.def_relax(_relax_random("normal", 0.0, 1.0))


def uniform_like(x, seed=None):
    """Uniform [0, 1) samples shaped like ``x``."""
    return random_uniform_like_p.bind(x, seed=seed)


def normal_like(x, seed=None):
    """Standard normal samples shaped like ``x``."""
    return random_normal_like_p.bind(x, seed=seed)


# A counter-based generator: uniform numbers as a hash of (key, position), the
# same bits in numpy and in ONNX (integer ops only), so a step that draws them
# is reproducible and the eager and compiled paths agree exactly. The key is
# state carried by the caller (a seed mixed with a step counter).
_M = 2147483647  # 2**31 - 1: products of two residues fit in int64


def _mix(n, key, mod, add, mul):
    """Rounds of affine and quadratic maps modulo a prime (nonlinear in the position)."""
    h = add(mul(n, 40503), key) % _M if mod is None else mod(add(mul(n, 40503), key))
    for a, c in ((48271, 12345), (None, 98765), (69621, 4321), (None, 1013904223)):
        h = mod(add(mul(h, h if a is None else a), c))
    return h


def _np_hash_uniform(like, key):
    n = np.arange(like.size, dtype=np.int64).reshape(like.shape)
    k = np.int64(key) % _M
    h = _mix(n, k, lambda v: v % _M, np.add, np.multiply)
    return (h.astype(np.float64) / _M).astype(np.float32)


hash_uniform_p = Primitive("hash_uniform", lambda like, key: AVal(like.shape, "float32"))
hash_uniform_p.def_impl(_np_hash_uniform)


@hash_uniform_p.def_onnx
def _(b, node, like, key):
    shape = b.op("Shape", [like])
    size = b.reduce("ReduceProd", shape, [0], keepdims=False)
    n = b.op("Reshape", [b.op("Range", [b.const(np.int64(0)), size, b.const(np.int64(1))]), shape])
    m = b.const(np.int64(_M))
    k = b.op("Mod", [b.cast(key, "int64"), m])

    def const(v):
        return b.const(np.int64(v))

    h = _mix(n, k, lambda v: b.op("Mod", [v, m]),
             lambda x, y: b.op("Add", [x, const(y) if isinstance(y, int) else y]),
             lambda x, y: b.op("Mul", [x, const(y) if isinstance(y, int) else y]))
    return b.cast(b.op("Div", [b.cast(h, "float64"), b.const(np.float64(_M))]), "float32")


@hash_uniform_p.def_relax
def _(bb, node, like, key):
    """The same integer arithmetic in int64, element by element (row-major positions)."""
    tir = bb.tir

    def compute(lt, kt):
        def element(*i):
            n = tir.const(0, "int64")
            for k, d in zip(i, lt.shape):
                n = n * d + k
            k = tir.floormod(tir.Cast("int64", kt[()]), _M)
            h = _mix(n, k, lambda v: tir.floormod(v, _M), lambda x, y: x + y, lambda x, y: x * y)
            return tir.Cast("float32", tir.Cast("float64", h) / tir.const(float(_M), "float64"))
        return bb.te.compute(lt.shape, element, name="hash_uniform")
    return bb.emit_te(compute, like, key, name="hash_uniform")


def hash_uniform(like, key):
    """Uniform [0, 1) float32 samples shaped like ``like``, a pure function of ``key``."""
    return hash_uniform_p.bind(like, key)
