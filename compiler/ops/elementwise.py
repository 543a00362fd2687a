"""Elementwise primitives: unary maths, binary arithmetic, comparisons, where, cast.

Each primitive is one block: shape rule, numpy kernel, ONNX lowering. The
public functions below promote Python scalars to the other operand's dtype
(Keras' weak typing), so ``x * 2`` keeps ``x``'s float32.
"""
from __future__ import annotations

import math

import numpy as np

from graphkeras.compiler.ir import AVal, canonical_dtype, is_float
from graphkeras.compiler.onnx_builder import ONNX_DTYPE
from graphkeras.compiler.primitive import Primitive, Tensor
from graphkeras.compiler.ops._rules import binary_rule, compare_rule, unary_rule

_erf = np.frompyfunc(math.erf, 1, 1)


def _np_erf(x):
    return _erf(x).astype(x.dtype)


def _np_sigmoid(x):
    # split by sign so exp never overflows
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1 + ex)
    return out


def _np_softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x).astype(x.dtype)


# name -> (numpy kernel, ONNX operator); all keep shape and dtype.
_UNARY = {
    "negative": (np.negative, "Neg"),
    "exp": (np.exp, "Exp"),
    "log": (np.log, "Log"),
    "sqrt": (np.sqrt, "Sqrt"),
    "abs": (np.abs, "Abs"),
    "sign": (np.sign, "Sign"),
    "floor": (np.floor, "Floor"),
    "ceil": (np.ceil, "Ceil"),
    "round": (np.round, "Round"),  # both round half to even
    "sin": (np.sin, "Sin"),
    "cos": (np.cos, "Cos"),
    "tanh": (np.tanh, "Tanh"),
    "sigmoid": (_np_sigmoid, "Sigmoid"),
    "erf": (_np_erf, "Erf"),
    "relu": (lambda x: np.maximum(x, np.zeros((), x.dtype)), "Relu"),
    "reciprocal": (lambda x: (np.ones((), x.dtype) / x).astype(x.dtype), "Reciprocal"),
    "softplus": (_np_softplus, "Softplus"),
    "softsign": (lambda x: x / (np.ones((), x.dtype) + np.abs(x)), "Softsign"),
}

def _zero(t):
    return np.zeros((), t.dtype)


def _masked(g, mask):
    """``where(mask, g, 0)`` for a finite cotangent ``g``, as ``g * mask``: ONNX Runtime's
    Where is several times slower than Cast + Mul on large tensors."""
    return multiply(g, cast(mask, g.dtype))


# name -> gradient rule (g, y, x) -> [dx]; floor/ceil/round/sign have none (piecewise constant)
_UNARY_VJP = {
    "negative": lambda g, y, x: [negative(g)],
    "exp": lambda g, y, x: [multiply(g, y)],
    "log": lambda g, y, x: [divide(g, x)],
    "sqrt": lambda g, y, x: [divide(multiply(g, 0.5), y)],
    "abs": lambda g, y, x: [multiply(g, sign(x))],
    "sin": lambda g, y, x: [multiply(g, cos(x))],
    "cos": lambda g, y, x: [negative(multiply(g, sin(x)))],
    "tanh": lambda g, y, x: [multiply(g, subtract(1.0, multiply(y, y)))],
    "sigmoid": lambda g, y, x: [multiply(g, multiply(y, subtract(1.0, y)))],
    "erf": lambda g, y, x: [multiply(g, multiply(exp(negative(multiply(x, x))),
                                                 float(2 / np.sqrt(np.pi))))],
    "relu": lambda g, y, x: [_masked(g, greater(y, 0.0))],
    "reciprocal": lambda g, y, x: [negative(multiply(g, multiply(y, y)))],
    "softplus": lambda g, y, x: [multiply(g, sigmoid(x))],
    "softsign": lambda g, y, x: [divide(g, square(add(abs(x), 1.0)))],
}

UNARY_PRIMITIVES: dict[str, Primitive] = {}

for _name, (_kernel, _onnx_op) in _UNARY.items():
    _p = Primitive(_name, unary_rule)
    _p.def_impl((lambda k: lambda x: np.asarray(k(x), dtype=x.dtype))(_kernel))
    _p.def_onnx((lambda op: lambda b, node, x: b.op(op, [x]))(_onnx_op))
    if _name in _UNARY_VJP:
        _p.def_vjp(_UNARY_VJP[_name])
    UNARY_PRIMITIVES[_name] = _p


@UNARY_PRIMITIVES["relu"].def_onnx
def _(b, node, x):
    dtype = node.inputs[0].dtype
    if is_float(dtype):
        return b.op("Relu", [x])
    return b.op("Max", [x, b.const(np.zeros((), dtype))])  # ONNX Runtime's Relu is float-only


# TVM Relax rules: Relax operators where their semantics are numpy's, else a TE kernel
# (NaN propagation as numpy's maximum/minimum/sign; integer inputs of floor/ceil/round).
def _relax_te_unary(fn):
    return lambda bb, node, x: bb.elementwise(lambda v: fn(bb, v), x, name=node.op)


def _relax_float_only(op):
    return lambda bb, node, x: getattr(bb.op, op)(x) if is_float(node.inputs[0].dtype) else x


def _te_sign(bb, v):
    tir = bb.tir
    one, zero = tir.const(1, v.dtype), tir.const(0, v.dtype)
    s = tir.Select(v > zero, one, tir.Select(v < zero, tir.const(-1, v.dtype), zero))
    return tir.Select(tir.isnan(v), v, s) if is_float(str(v.dtype)) else s


def _te_reciprocal(bb, v):
    if is_float(str(v.dtype)):
        return bb.tir.const(1, v.dtype) / v
    return bb.tir.truncdiv(bb.tir.const(1, v.dtype), v)


def _te_softplus(bb, v):  # numpy's logaddexp(0, x)
    tir = bb.tir
    return bb.fmax(v, tir.const(0, v.dtype)) + tir.log1p(tir.exp(-tir.abs(v)))


_UNARY_RELAX = {
    "negative": lambda bb, node, x: bb.op.negative(x),
    "exp": lambda bb, node, x: bb.op.exp(x),
    "log": lambda bb, node, x: bb.op.log(x),
    "sqrt": lambda bb, node, x: bb.op.sqrt(x),
    "abs": lambda bb, node, x: bb.op.abs(x),
    "sign": _relax_te_unary(_te_sign),
    "floor": _relax_float_only("floor"),
    "ceil": _relax_float_only("ceil"),
    "round": _relax_float_only("round"),  # half to even, as numpy
    "sin": lambda bb, node, x: bb.op.sin(x),
    "cos": lambda bb, node, x: bb.op.cos(x),
    "tanh": lambda bb, node, x: bb.op.tanh(x),
    "sigmoid": lambda bb, node, x: bb.op.sigmoid(x),
    "erf": lambda bb, node, x: bb.op.erf(x),
    "relu": _relax_te_unary(lambda bb, v: bb.fmax(v, bb.tir.const(0, v.dtype))),
    "reciprocal": _relax_te_unary(_te_reciprocal),
    "softplus": _relax_te_unary(_te_softplus),
    "softsign": _relax_te_unary(lambda bb, v: v / (bb.tir.const(1, v.dtype) + bb.tir.abs(v))),
}
for _name, _rule in _UNARY_RELAX.items():
    UNARY_PRIMITIVES[_name].def_relax(_rule)


# ------------------------------------------------------- unary with params
elu_p = Primitive("elu", unary_rule)


@elu_p.def_impl
def _(x, alpha):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)).astype(x.dtype)


@elu_p.def_onnx
def _(b, node, x):
    return b.op("Elu", [x], alpha=float(node.attrs["alpha"]))


@elu_p.def_relax
def _(bb, node, x):
    def f(v):
        tir = bb.tir
        neg = tir.const(node.attrs["alpha"], v.dtype) * (
            tir.exp(bb.fmin(v, tir.const(0, v.dtype))) - tir.const(1, v.dtype))
        return tir.Select(v > tir.const(0, v.dtype), v, neg)
    return bb.elementwise(f, x, name="elu")


@elu_p.def_vjp
def _(g, y, x, alpha):
    return [where(greater(x, 0.0), g, multiply(g, add(y, alpha)))]


leaky_relu_p = Primitive("leaky_relu", unary_rule)


@leaky_relu_p.def_impl
def _(x, alpha):
    return np.where(x >= 0, x, x * np.asarray(alpha, x.dtype)).astype(x.dtype)


@leaky_relu_p.def_onnx
def _(b, node, x):
    return b.op("LeakyRelu", [x], alpha=float(node.attrs["alpha"]))


@leaky_relu_p.def_relax
def _(bb, node, x):
    tir = bb.tir
    return bb.elementwise(lambda v: tir.Select(v >= tir.const(0, v.dtype), v, v * tir.const(
        node.attrs["alpha"], v.dtype)), x, name="leaky_relu")


@leaky_relu_p.def_vjp
def _(g, y, x, alpha):
    return [where(greater(x, 0.0), g, multiply(g, alpha))]


# tf.nn.selu's constants
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
selu_p = Primitive("selu", unary_rule)


@selu_p.def_impl
def _(x):
    neg = SELU_ALPHA * (np.exp(np.minimum(x, 0)) - 1)
    return (SELU_SCALE * np.where(x > 0, x, neg)).astype(x.dtype)


@selu_p.def_onnx
def _(b, node, x):
    return b.op("Selu", [x], alpha=SELU_ALPHA, gamma=SELU_SCALE)


@selu_p.def_relax
def _(bb, node, x):
    def f(v):
        tir = bb.tir
        neg = tir.const(SELU_ALPHA, v.dtype) * (
            tir.exp(bb.fmin(v, tir.const(0, v.dtype))) - tir.const(1, v.dtype))
        return tir.const(SELU_SCALE, v.dtype) * tir.Select(v > tir.const(0, v.dtype), v, neg)
    return bb.elementwise(f, x, name="selu")


@selu_p.def_vjp
def _(g, y, x):
    return [where(greater(x, 0.0), multiply(g, SELU_SCALE),
                  multiply(g, add(y, SELU_SCALE * SELU_ALPHA)))]


# The identity that gradients do not flow through.
stop_gradient_p = Primitive("stop_gradient", unary_rule)
stop_gradient_p.def_impl(lambda x: x)
stop_gradient_p.def_onnx(lambda b, node, x: b.op("Identity", [x]))
stop_gradient_p.def_relax(lambda bb, node, x: x)


def stop_gradient(x):
    return stop_gradient_p.bind(x)


cast_p = Primitive("cast", lambda x, dtype: AVal(x.shape, dtype))


@cast_p.def_impl
def _(x, dtype):
    return x.astype(dtype)


@cast_p.def_onnx
def _(b, node, x):
    return b.op("Cast", [x], to=ONNX_DTYPE[node.attrs["dtype"]])


cast_p.def_relax(lambda bb, node, x: bb.op.astype(x, node.attrs["dtype"]))


@cast_p.def_vjp
def _(g, y, x, dtype):
    return [cast(g, x.dtype) if is_float(x.dtype) and is_float(dtype) else None]


# ------------------------------------------------------------------ binary
_BINARY = {
    "add": (np.add, "Add"),
    "subtract": (np.subtract, "Sub"),
    "multiply": (np.multiply, "Mul"),
    "divide": (np.divide, "Div"),
    "power": (np.power, "Pow"),
    "maximum": (np.maximum, "Max"),
    "minimum": (np.minimum, "Min"),
}
_COMPARE = {
    "equal": (np.equal, "Equal"),
    "less": (np.less, "Less"),
    "less_equal": (np.less_equal, "LessOrEqual"),
    "greater": (np.greater, "Greater"),
    "greater_equal": (np.greater_equal, "GreaterOrEqual"),
    "logical_and": (np.logical_and, "And"),
    "logical_or": (np.logical_or, "Or"),
    "logical_xor": (np.logical_xor, "Xor"),
}
# gradient rules (g, out, x, y) -> [dx, dy]; the autodiff engine un-broadcasts them
_BINARY_VJP = {
    "add": lambda g, out, x, y: [g, g],
    "subtract": lambda g, out, x, y: [g, negative(g)],
    "multiply": lambda g, out, x, y: [multiply(g, y), multiply(g, x)],
    "divide": lambda g, out, x, y: [divide(g, y), negative(multiply(g, divide(out, y)))],
    # tf: d/dy x**y = x**y * log(x) where x > 0, else 0
    "power": lambda g, out, x, y: [
        multiply(g, multiply(y, power(x, subtract(y, 1.0)))),
        multiply(g, where(greater(x, 0.0), multiply(out, log(where(greater(x, 0.0), x, 1.0))),
                          _zero(out)))],
    # ties go to x, as tf's Maximum/Minimum gradients do
    "maximum": lambda g, out, x, y: [_masked(g, greater_equal(x, y)), _masked(g, less(x, y))],
    "minimum": lambda g, out, x, y: [_masked(g, less_equal(x, y)), _masked(g, greater(x, y))],
}
BINARY_PRIMITIVES: dict[str, Primitive] = {}

for _table, _rule in ((_BINARY, binary_rule), (_COMPARE, compare_rule)):
    for _name, (_kernel, _onnx_op) in _table.items():
        _p = Primitive(_name, _rule)
        if _rule is binary_rule:
            _p.def_impl((lambda k: lambda x, y: np.asarray(k(x, y), dtype=x.dtype))(_kernel))
        else:
            _p.def_impl((lambda k: lambda x, y: np.asarray(k(x, y)))(_kernel))
        _p.def_onnx((lambda op: lambda b, node, x, y: b.op(op, [x, y]))(_onnx_op))
        if _name in _BINARY_VJP:
            _p.def_vjp(_BINARY_VJP[_name])
        BINARY_PRIMITIVES[_name] = _p


# TVM Relax rules of the binary ops
def _relax_binary(op):
    def rule(bb, node, x, y):
        if node.inputs[0].dtype == "bool":  # (TVM's LLVM codegen compares bools as floats)
            x, y = bb.op.astype(x, "int8"), bb.op.astype(y, "int8")
        return getattr(bb.op, op)(*bb.unify(x, y))
    return rule


def _relax_logical(op):
    def rule(bb, node, x, y):
        if node.inputs[0].dtype != "bool":
            x, y = bb.op.astype(x, "bool"), bb.op.astype(y, "bool")
        return getattr(bb.op, op)(*bb.unify(x, y))
    return rule


def _relax_power(bb, node, x, y):
    dtype = node.inputs[0].dtype
    if is_float(dtype):
        return bb.op.power(x, y)
    tir = bb.tir  # integers: exact through float64 for the small powers integers hold
    return bb.elementwise(lambda a, b: tir.Cast(dtype, tir.round(tir.power(
        tir.Cast("float64", a), tir.Cast("float64", b)))), x, y, name="power")


for _name, _rule in {
        "add": _relax_binary("add"), "subtract": _relax_binary("subtract"),
        "multiply": _relax_binary("multiply"),
        "divide": _relax_binary("divide"),  # integers: C's truncation, as numpy's cast back
        "power": _relax_power,
        "maximum": lambda bb, node, x, y: bb.elementwise(bb.fmax, x, y, name="maximum"),
        "minimum": lambda bb, node, x, y: bb.elementwise(bb.fmin, x, y, name="minimum"),
        "equal": _relax_binary("equal"), "less": _relax_binary("less"),
        "less_equal": _relax_binary("less_equal"), "greater": _relax_binary("greater"),
        "greater_equal": _relax_binary("greater_equal"),
        "logical_and": _relax_logical("logical_and"), "logical_or": _relax_logical("logical_or"),
        "logical_xor": _relax_logical("logical_xor")}.items():
    BINARY_PRIMITIVES[_name].def_relax(_rule)

logical_not_p = Primitive("logical_not", lambda x: AVal(x.shape, "bool"))
logical_not_p.def_impl(lambda x: np.logical_not(x))
logical_not_p.def_onnx(lambda b, node, x: b.op("Not", [x]))
logical_not_p.def_relax(lambda bb, node, x: bb.op.logical_not(
    x if node.inputs[0].dtype == "bool" else bb.op.astype(x, "bool")))

is_nan_p = Primitive("is_nan", lambda x: AVal(x.shape, "bool"))
is_nan_p.def_impl(lambda x: np.isnan(x))
is_nan_p.def_onnx(lambda b, node, x: b.op("IsNaN", [x]))
is_nan_p.def_relax(lambda bb, node, x: bb.op.isnan(x))

is_inf_p = Primitive("is_inf", lambda x: AVal(x.shape, "bool"))
is_inf_p.def_impl(lambda x: np.isinf(x))
is_inf_p.def_onnx(lambda b, node, x: b.op("IsInf", [x]))
is_inf_p.def_relax(lambda bb, node, x: bb.op.isinf(x))


def _where_rule(c, x, y):
    from graphkeras.compiler.ops._rules import broadcast_shapes, same_dtype
    if c.dtype != "bool":
        raise TypeError(f"where() needs a bool condition; received {c.dtype}.")
    return AVal(broadcast_shapes(c.shape, x.shape, y.shape), same_dtype(x, y))


where_p = Primitive("where", _where_rule)
where_p.def_impl(lambda c, x, y: np.where(c, x, y))
where_p.def_onnx(lambda b, node, c, x, y: b.op("Where", [c, x, y]))
where_p.def_relax(lambda bb, node, c, x, y: bb.op.where(*bb.unify(c, x, y)))
where_p.def_vjp(lambda g, out, c, x, y: [None, _masked(g, c), _masked(g, logical_not(c))])


# -------------------------------------------------------- public functions
def _dtype_of(x):
    if isinstance(x, Tensor):
        return x.dtype
    if hasattr(x, "dtype") and not isinstance(x, (bool, int, float)):
        return canonical_dtype(x.dtype)
    return None


def promote(x, y):
    """Give Python scalars (and scalar-like lists) the dtype of the other operand."""
    dx, dy = _dtype_of(x), _dtype_of(y)
    if dx is None and dy is not None:
        x = np.asarray(x, dtype=dy)
    elif dy is None and dx is not None:
        y = np.asarray(y, dtype=dx)
    elif dx is None and dy is None:
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype == np.float64 or y.dtype == np.float64:
            x, y = x.astype(np.float32), y.astype(np.float32)
    return x, y


def _binary_fn(prim):
    def fn(x1, x2):
        return prim.bind(*promote(x1, x2))
    fn.__name__ = prim.name
    fn.__doc__ = f"Elementwise ``{prim.name}`` with numpy broadcasting."
    return fn


def _unary_fn(prim):
    def fn(x):
        if _dtype_of(x) is None:
            x = np.asarray(x, dtype=np.float32)
        return prim.bind(x)
    fn.__name__ = prim.name
    fn.__doc__ = f"Elementwise ``{prim.name}``."
    return fn


for _name, _p in {**UNARY_PRIMITIVES, **BINARY_PRIMITIVES}.items():
    globals()[_name] = (_unary_fn if _name in UNARY_PRIMITIVES else _binary_fn)(_p)


def logical_not(x):
    return logical_not_p.bind(x)


def isnan(x):
    return is_nan_p.bind(x)


def isinf(x):
    return is_inf_p.bind(x)


def cast(x, dtype):
    dtype = canonical_dtype(dtype)
    if _dtype_of(x) == dtype:
        return x
    if _dtype_of(x) is None:
        return np.asarray(x, dtype=dtype)
    return cast_p.bind(x, dtype=dtype)


def where(condition, x1, x2):
    x1, x2 = promote(x1, x2)
    if _dtype_of(condition) != "bool":
        condition = cast(condition, "bool")
    return where_p.bind(condition, x1, x2)


def elu(x, alpha=1.0):
    return elu_p.bind(x, alpha=float(alpha))


def leaky_relu(x, alpha=0.2):
    return leaky_relu_p.bind(x, alpha=float(alpha))


def selu(x):
    return selu_p.bind(x)


def square(x):
    return multiply(x, x)  # noqa: F821  (defined by the loop above)


def rsqrt(x):
    return reciprocal(sqrt(x))  # noqa: F821


def not_equal(x1, x2):
    return logical_not(equal(x1, x2))  # noqa: F821


def clip(x, x_min, x_max):
    return minimum(maximum(x, x_min), x_max)  # noqa: F821


def log1p(x):
    return log(add(x, 1.0))  # noqa: F821


def expm1(x):
    return subtract(exp(x), 1.0)  # noqa: F821


def floor_divide(x1, x2):
    x1, x2 = promote(x1, x2)
    dtype = _dtype_of(x1)
    if is_float(dtype):
        return floor(divide(x1, x2))  # noqa: F821
    q = floor(divide(cast(x1, "float64"), cast(x2, "float64")))  # noqa: F821
    return cast(q, dtype)


def mod(x1, x2):
    x1, x2 = promote(x1, x2)
    return subtract(x1, multiply(floor_divide(x1, x2), x2))  # noqa: F821


def true_divide(x1, x2):
    return divide(x1, x2)  # noqa: F821


__all__ = sorted(set(UNARY_PRIMITIVES) | set(BINARY_PRIMITIVES) | {
    "logical_not", "isnan", "isinf", "cast", "where", "elu", "leaky_relu", "selu", "square",
    "rsqrt", "not_equal", "clip", "log1p", "expm1", "floor_divide", "mod", "true_divide",
    "promote", "stop_gradient"})
