"""The compiler: IR, op registry, tracing, reference interpreter, lowerings.

It imports neither ``graphkeras``' user API nor the runtime.
"""
from graphkeras.compiler.ir import AVal, Graph, Node, Value  # noqa: F401
from graphkeras.compiler.primitive import PRIMITIVES, Primitive, Tensor, Trace  # noqa: F401
from graphkeras.compiler import ops  # noqa: F401
