"""The GEMM limit of a graph: its matrix products (convolutions as im2col products)
timed as numpy matmuls at their own shapes. A step cannot run faster than its
products do on the same BLAS, so ``step time / GEMM limit`` says how much time goes
elsewhere. Shared by ``graphkeras bench`` and ``bench/train.py``."""
from __future__ import annotations

import time

import numpy as np


def _size(shape, batch):
    return [batch if d is None else int(d) for d in shape]


def _prod(dims):
    return int(np.prod(dims, dtype=np.int64)) if len(dims) else 1


def gemm_shapes(graph, batch) -> list[tuple]:
    """``(m, k, n)`` (or ``(m, k, n, count)`` for ``count`` equal products) of every
    matrix product in ``graph`` with the batch axis set to ``batch``: ``matmul``, and
    ``conv``/``conv_transpose`` and the convolution gradients as im2col products."""
    out = []
    for node in graph.nodes:
        ins = [_size(v.shape, batch) for v in node.inputs]
        outs = [_size(v.shape, batch) for v in node.outputs]
        op, attrs = node.op, node.attrs
        if op == "matmul":
            a, b = ins[0], ins[1]
            m = a[-2] if len(a) >= 2 else 1
            k = a[-1]
            n = b[-1] if len(b) >= 2 else 1
            lead = _prod(outs[0][:-2]) if len(outs[0]) > 2 else 1
            out.append((m, k, n) if lead == 1 else (m, k, n, lead))
            continue
        groups = int(attrs.get("groups", 1) or 1)
        if op == "conv":          # x (B, *sp, Cin), w (*k, Cin/g, Cout) -> (B, *out, Cout)
            x, w, y = ins[0], ins[1], outs[0]
            shape = (_prod(y[:-1]), _prod(w[:-1]), w[-1] // groups)
        elif op == "conv_input_grad":   # g (B, *out, Cout), w -> dx (B, *sp, Cin)
            g, w = ins[0], ins[1]
            shape = (_prod(g[:-1]), w[-1] // groups, _prod(w[:-1]))
        elif op == "conv_kernel_grad":  # x, g -> dw (*k, Cin/g, Cout)
            g, dw = ins[1], outs[0]
            shape = (_prod(dw[:-1]), _prod(g[:-1]), dw[-1] // groups)
        elif op == "conv_transpose":    # x (B, *sp, Cin), w (*k, Cout, Cin)
            x, w = ins[0], ins[1]
            shape = (_prod(x[:-1]), w[-1], _prod(w[:-1]))
        else:
            continue
        out.append(shape if groups == 1 else shape + (groups,))
    return out


def gemm_flops(shapes) -> int:
    return sum(2 * s[0] * s[1] * s[2] * (s[3] if len(s) > 3 else 1) for s in shapes)


def gemm_limit(shapes, repeats: int = 20, seed: int = 0) -> float:
    """Seconds: the sum over ``shapes`` of the best of ``repeats`` numpy matmuls at each
    shape (``(m, k, n)`` or ``(m, k, n, count)``: ``count`` products, timed batched)."""
    total = 0.0
    rng = np.random.default_rng(seed)
    for shape in shapes:
        m, k, n = shape[:3]
        count = shape[3] if len(shape) > 3 else 1
        lead = (count,) if count > 1 else ()
        a = rng.random(lead + (m, k), dtype=np.float32)
        b = rng.random(lead + (k, n), dtype=np.float32)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        total += best
    return total
