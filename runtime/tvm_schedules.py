"""Default schedules for the CPU (LLVM) kernels of a TVM build.

Relax legalizes every operator to a naive TIR loop nest; without a schedule, a CPU
kernel runs single-threaded and unvectorized. These rules, in the style of TVM's dlight
(:mod:`tvm.s_tir.dlight`), give every kernel a reasonable schedule without tuning:

:class:`Contraction`
    kernels with one reduction block that reuses an operand across output axes (matrix
    products in every layout, batched ones, convolutions and both their gradients) and
    injective blocks around it (bias-add, relu, the relu gradient's mask, ...). The
    output's innermost axis is vectorized (the target's vector width); the block is
    tiled into register tiles (up to 8 rows x 2 vectors) accumulated in a local buffer
    over the whole reduction; the tiles are spread over the cores; the epilogue is
    computed from the register tile as it is written back. An operand read across the
    vectorized axis (the transposed ``B`` of ``a @ b.T``, the kernel in a convolution's
    input gradient) is first copied into a layout where that axis is contiguous. Rows
    of a symbolic extent (the batch) are padded to whole tiles.
:class:`Fallback`
    anything else: injective blocks inlined; a spatial block's innermost loop
    vectorized and its outer loops parallel; a reduction block's outer spatial loops
    parallel, its innermost spatial loop vectorized under the reduction loops when the
    output and an input are contiguous along it (pooling, column sums). Blocks with
    several outputs or conditional reads (arg-max, the pooling gradient) are left to
    LLVM.

:func:`apply_default_schedules` applies them to the kernels of a module that no
MetaSchedule record scheduled (those are marked ``tirx.is_scheduled``). A rule that
fails on a kernel (an unusual access pattern) leaves it to the next rule; a kernel no
rule fits stays as it is.
"""
from __future__ import annotations

import logging
import math
import os

logger = logging.getLogger(__name__)

# kernels doing fewer element operations than this run on one thread (starting the
# thread pool costs more than it saves)
PARALLEL_MIN_WORK = 1 << 16
# the same for the multiply-adds of a contraction
PARALLEL_MIN_MACS = 1 << 18
# extent assumed for a symbolic (batch) dimension when estimating work
_SYMBOLIC_GUESS = 64


# ------------------------------------------------------------------ target facts
def vector_bits(target) -> int:
    """The target's SIMD register width in bits (512 with AVX-512, 256 with AVX2, 128
    with SSE; for other architectures what LLVM says)."""
    from tvm.target import codegen
    try:  # (LLVM's vector width is the host's whatever the target's -mcpu says)
        for feature, bits in (("avx512f", 512), ("avx", 256), ("sse2", 128)):
            if codegen.target_has_features(feature, target):
                return bits
    except Exception:  # pragma: no cover (not an x86 target LLVM knows)
        pass
    try:
        bits = int(codegen.llvm_get_vector_width(target))
    except Exception:  # pragma: no cover (a target LLVM cannot describe)
        bits = 0
    return bits if bits > 0 else 128


def vector_lanes(target, dtype_bits: int = 32) -> int:
    return max(vector_bits(target) // max(dtype_bits, 8), 1)


def _vector_registers(target) -> int:
    # AVX-512 has 32 vector registers; AVX2/SSE/NEON-128 16 (AArch64 has 32, a safe
    # underestimate)
    return 32 if vector_bits(target) >= 512 else 16


def _cores(target) -> int:
    try:
        n = int(target.attrs.get("num-cores", 0) or 0)
    except Exception:
        n = 0
    return max(n, 1)


def physical_cores() -> int:
    """The cores this process may run on (hardware threads sharing a core count once)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return max((os.cpu_count() or 2) // 2, 1)
    groups = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                groups.add(f.read().strip())
        except OSError:
            groups.add(str(cpu))
    return max(len(groups), 1)


_THREADS_SET = False


def use_all_cores() -> None:
    """Size TVM's thread pool to the cores this process may use, unless
    ``TVM_NUM_THREADS`` says otherwise. (Left alone, TVM assumes two hardware threads per
    x86 core and starts half as many threads as there are CPUs: one thread on a
    two-core machine, and the parallel loops of the schedules run serially.) Takes
    effect if called before TVM first runs a parallel loop."""
    global _THREADS_SET
    if not _THREADS_SET:
        _THREADS_SET = True
        os.environ.setdefault("TVM_NUM_THREADS", str(physical_cores()))


# ------------------------------------------------------------------ helpers
def _int(expr):
    """The value of a constant extent, else None."""
    from tvm import tirx
    if isinstance(expr, int):
        return expr
    if isinstance(expr, tirx.IntImm):
        return int(expr.value)
    return None


def _extent(sch, loop):
    return _int(sch.get(loop).extent)


def _work(extents) -> int:
    return math.prod(e if e is not None else _SYMBOLIC_GUESS for e in extents)


def _pick_factor(extent, candidates):
    """The candidate tile for ``extent``: the largest dividing it, else the one wasting
    the fewest iterations (a predicated tail); ``extent`` itself when it is smaller."""
    if extent is None:
        return candidates[0]
    if extent <= candidates[-1]:
        return max(extent, 1)
    for c in candidates:
        if extent % c == 0:
            return c
    return min(candidates, key=lambda c: (-(-extent // c) * c - extent, -c))


def _root_blocks(sch):
    from tvm.s_tir.dlight.analysis import get_root_block
    return list(sch.get_child_blocks(get_root_block(sch)))


def _iter_kinds(sch, block) -> str:
    from tvm import tirx
    return "".join({tirx.IterVar.DataPar: "S", tirx.IterVar.CommReduce: "R"}
                   .get(iv.iter_type, "O") for iv in sch.get(block).iter_vars)


def _try(fn, *args) -> bool:
    try:
        fn(*args)
        return True
    except Exception:  # (a primitive's precondition does not hold: leave it)
        return False


def _inline_all(sch, keep) -> None:
    """Inline every block that can be, except those in ``keep`` (block names) and those
    whose output a kept block reads (they stay materialized: a padded input, a copy)."""
    changed = True
    while changed:
        changed = False
        for block in _root_blocks(sch):
            name = sch.get(block).name_hint
            if name in keep:
                continue
            kept_consumers = [c for c in sch.get_consumers(block)
                              if sch.get(c).name_hint in keep]
            if kept_consumers:
                continue
            if _try(sch.compute_inline, block):
                changed = True


def _vectorize_innermost(sch, block, lanes: int) -> None:
    """Vectorize the innermost loop of ``block`` (split to ``lanes`` when longer)."""
    loops = sch.get_loops(block)
    if not loops:
        return
    inner = loops[-1]
    extent = _extent(sch, inner)
    if extent is None or extent < 2:
        return
    if extent > lanes:
        if extent % lanes:
            return  # (a predicated vector loop: leave it to LLVM)
        _, inner = sch.split(inner, factors=[None, lanes])
    sch.vectorize(inner)


def _has_if_then_else(sch, block) -> bool:
    """Whether the block reads conditionally (padding, scatter): TVM's vectorizer runs
    such a loop as a scalar loop, and LLVM vectorizes the plain loop better."""
    return "if_then_else" in str(sch.get(block).body)


def _vector_split(sch, loop, lanes: int):
    """``loop`` split into ``(outer, vectorizable inner)``: inner ``lanes`` long (or a
    divisor of the extent of at least 4), or the whole loop (outer None) when it is no
    longer; None when neither fits (a symbolic or awkward extent)."""
    extent = _extent(sch, loop)
    if extent is None or extent < 2:
        return None
    if extent <= lanes:
        return None, loop
    width = math.gcd(extent, lanes)
    if width < 4:
        return None
    outer, inner = sch.split(loop, factors=[None, width])
    return outer, inner


def _schedule_spatial(sch, block, lanes: int, cores: int, vectorize: bool = True) -> None:
    """A spatial block at the root: the innermost loop vectorized, the outer loops fused
    and parallel (when the block does enough work). (A transposing copy is better left
    to LLVM than vectorized: its stores would scatter.)"""
    loops = sch.get_loops(block)
    if not loops:
        return
    work = _work([_extent(sch, lp) for lp in loops])
    outer = list(loops) if vectorize else list(loops[:-1])
    split = _vector_split(sch, loops[-1], lanes) if vectorize else None
    if split is not None:
        rest, vector = split
        outer = loops[:-1] + ([rest] if rest is not None else [])
        sch.vectorize(vector)
    if outer and cores > 1 and work >= PARALLEL_MIN_WORK:
        sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])


def _schedule_reduction_block(sch, block, lanes: int, cores: int) -> None:
    """A reduction block at the root, not a contraction the tiled rule took. When the
    output is contiguous along its innermost spatial axis and an input too (pooling,
    column sums), that axis is vectorized under the reduction loops (accumulating in
    place) and the other spatial loops are parallel; else the spatial loops are parallel
    and the reduction runs inside (row sums). Blocks with several outputs or
    conditional reads (arg-max, the pooling gradient's scatter) are left to LLVM."""
    loops = sch.get_loops(block)
    kinds = _iter_kinds(sch, block)
    stmt = sch.get(block)
    if len(loops) != len(kinds) or "O" in kinds or len(stmt.writes) != 1 or \
            _has_if_then_else(sch, block):
        return
    spatial = [lp for lp, k in zip(loops, kinds) if k == "S"]
    reduce = [lp for lp, k in zip(loops, kinds) if k == "R"]
    if not reduce:
        return
    work = _work([_extent(sch, lp) for lp in loops])
    write = stmt.writes[0].region
    split = None
    if spatial and write:
        last_var = stmt.iter_vars[[i for i, k in enumerate(kinds) if k == "S"][-1]].var
        contiguous = any(r.region and r.region[-1].min.same_as(last_var) for r in stmt.reads)
        if write[-1].min.same_as(last_var) and contiguous:
            split = _vector_split(sch, spatial[-1], lanes)
    if split is not None:
        rest, vector = split
        spatial = spatial[:-1] + ([rest] if rest is not None else [])
        sch.reorder(*spatial, *reduce, vector)
        sch.vectorize(vector)
    else:
        sch.reorder(*spatial, *reduce)
    if spatial and cores > 1 and work >= PARALLEL_MIN_WORK:
        outer = sch.fuse(*spatial) if len(spatial) > 1 else spatial[0]
        if _extent(sch, outer) != 1:
            sch.parallel(outer)
    if split is not None:
        init = sch.decompose_reduction(block, reduce[0])
        _vectorize_innermost(sch, init, lanes)


def _vars_of(region) -> set:
    from tvm.tirx.analysis import undefined_vars
    found = set()
    for r in region.region:
        found.update(undefined_vars(r.min))
    return found


def _move_to_last(d: int):
    """The index map moving axis ``d`` last."""
    def index_map(*axes):
        return [*axes[:d], *axes[d + 1:], axes[d]]
    return index_map


# ------------------------------------------------------------------ rules
def _rule_base():
    from tvm.s_tir.dlight import ScheduleRule

    class CPURule(ScheduleRule):
        name = "cpu"

        def is_target_available(self, target) -> bool:
            return target.kind.name == "llvm"

        def apply(self, func, target, tunable):
            from tvm import s_tir, tirx
            if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
                return None
            sch = s_tir.Schedule(func)
            try:
                return sch if self.schedule(sch, target) else None
            except Exception as e:  # (this rule does not fit the kernel: the next one)
                logger.debug("%s does not apply: %s", type(self).__name__, e)
                return None

        def schedule(self, sch, target) -> bool:
            raise NotImplementedError

    return CPURule


class _Lazy:
    """Rules are classes built on TVM's ScheduleRule when first needed (TVM is imported
    lazily)."""
    _classes = None

    @classmethod
    def classes(cls):
        if cls._classes is None:
            cls._classes = _make_rules(_rule_base())
        return cls._classes


def _make_rules(CPURule):  # noqa: C901 (one closure per rule)
    class Contraction(CPURule):
        """One reduction block reusing an operand across output axes (matrix product,
        convolution, their gradients) with injective blocks before or after it:
        register-tiled, vectorized along the output's innermost axis, tiles in parallel,
        epilogue fused into the write-back."""

        def schedule(self, sch, target) -> bool:
            from tvm import tirx
            from tvm.s_tir.dlight.analysis import normalize_prim_func
            infos = normalize_prim_func(sch)
            if not infos:
                return False
            reductions = [b for b in infos if not b.is_injective()]
            if len(reductions) != 1 or any("O" in b.dom_kind() for b in infos):
                return False
            main = reductions[0].block_rv
            main_name = sch.get(main).name_hint
            stmt = sch.get(main)
            if len(stmt.writes) != 1 or len(stmt.iter_vars) != len(sch.get_loops(main)):
                return False
            out_dtype = stmt.writes[0].source.dtype
            lanes = vector_lanes(target, out_dtype.bits)
            cores = _cores(target)

            # the vectorized axis: the output's innermost index, a spatial iterator
            iters = {iv.var: (i, iv) for i, iv in enumerate(stmt.iter_vars)}
            kinds = _iter_kinds(sch, main)
            index = [r.min for r in stmt.writes[0].region]
            v_pos = next((iters[e][0] for e in index[-1:] if e in iters), None)
            if v_pos is None or kinds[v_pos] != "S":
                return False
            v_var = stmt.iter_vars[v_pos].var
            v_ext = _int(stmt.iter_vars[v_pos].dom.extent)
            if v_ext is None or v_ext < 2:
                return False
            # the register tile's rows: the next output axis outwards with extent > 1
            u_pos = None
            for e in reversed(index[:-1]):
                if e in iters and kinds[iters[e][0]] == "S" and \
                        _int(iters[e][1].dom.extent) != 1:
                    u_pos = iters[e][0]
                    break

            # a contraction reuses an operand across an output axis (pooling and column
            # sums do not: the plain reduction schedule suits them)
            spatial_vars = {iv.var for iv, k in zip(stmt.iter_vars, kinds)
                            if k == "S" and _int(iv.dom.extent) != 1}
            if all(spatial_vars <= _vars_of(r) for r in stmt.reads):
                return False
            # operands read across the vectorized axis and reused enough: copied so that
            # the axis is innermost (the transposed operand of a @ b.T)
            volume = _work([_int(iv.dom.extent) for iv in stmt.iter_vars])
            contiguous = False
            packs = set()
            for i, read in enumerate(list(stmt.reads)):
                region = [r.min for r in read.region]
                where = [d for d, e in enumerate(region) if e.same_as(v_var)]
                if not where:
                    continue
                if where[0] == len(region) - 1:
                    contiguous = True
                    continue
                simple = all(isinstance(e, tirx.Var) and e in iters or _int(e) is not None
                             for e in region)
                size = _work([_int(x) for x in read.source.shape])
                if not simple or volume < 8 * size:
                    continue
                copy = sch.cache_read(main, i, "global")
                sch.transform_layout(main, ("read", i), _move_to_last(where[0]))
                packs.add(sch.get(copy).name_hint)
                contiguous = True
            if not contiguous:
                return False
            _inline_all(sch, keep={main_name})
            # the epilogue: the one block reading the product, if it is an output block
            # (it is computed from the register tile as it is written back)
            others = [sch.get(b).name_hint for b in _root_blocks(sch)
                      if not sch.get(b).same_as(sch.get(main))]
            consumers = sch.get_consumers(main)
            epilogue = sch.get(consumers[0]).name_hint if len(consumers) == 1 else None
            if epilogue is not None and sch.get_consumers(consumers[0]):
                epilogue = None
            if any("R" in _iter_kinds(sch, sch.get_sblock(n)) for n in others):
                return False

            # tile sizes
            if v_ext <= lanes:
                vec, v_reg = v_ext, 1
            else:
                vec = next((c for c in (lanes, lanes // 2, lanes // 4)
                            if c >= 4 and v_ext % c == 0), lanes)
                n_vec = -(-v_ext // vec)
                v_reg = 2 if n_vec % 2 == 0 else 1
            budget = _vector_registers(target) // 2
            rows_max = max(1, min(8, budget // v_reg))
            candidates = [c for c in (8, 7, 6, 5, 4) if c <= rows_max] or [rows_max]
            padded = False
            u_ext = _int(stmt.iter_vars[u_pos].dom.extent) if u_pos is not None else None
            if u_pos is not None and u_ext is None:
                # rows of a symbolic extent (the batch): a tile predicated on it would
                # keep its accumulators in memory (TVM cannot bound the local buffer), so
                # the operands are padded to whole tiles (a copy of the rows read: cheap
                # beside the product); where they cannot be, the rows are not tiled.
                # (A constant extent no tile divides keeps a predicated last tile.)
                rows = candidates[0]
                try:
                    sch.pad_einsum(main, [rows if i == u_pos else 1
                                          for i in range(len(stmt.iter_vars))])
                    padded = True
                except Exception:
                    u_pos = None
            if padded:
                _inline_all(sch, keep={main_name} | {
                    sch.get(b).name_hint for b in sch.get_producers(main)})
                others = [sch.get(b).name_hint for b in _root_blocks(sch)
                          if not sch.get(b).same_as(sch.get(main))]
                consumers = sch.get_consumers(main)
                epilogue = sch.get(consumers[0]).name_hint if len(consumers) == 1 \
                    and not sch.get_consumers(consumers[0]) else None
                stmt = sch.get(main)
                candidates = [rows]

            loops = sch.get_loops(main)
            spatial_other, reduce = [], []
            u_loops, v_loops = [], []
            for pos, (lp, kind) in enumerate(zip(loops, kinds)):
                if pos == v_pos:
                    v_loops = list(sch.split(lp, factors=[None, v_reg, vec]))
                elif pos == u_pos:
                    rows = _pick_factor(_int(stmt.iter_vars[pos].dom.extent), candidates)
                    u_loops = list(sch.split(lp, factors=[None, rows]))
                elif kind == "S":
                    spatial_other.append(lp)
                else:
                    reduce.append(lp)
            v_o, v_r, v_vec = v_loops
            u_o, u_r = u_loops if u_loops else (None, None)
            inner = ([u_r] if u_r is not None else []) + [v_r, v_vec]
            work = _work([_int(iv.dom.extent) for iv in stmt.iter_vars])
            outer = spatial_other + ([u_o] if u_o is not None else []) + [v_o]
            sch.reorder(*outer, *reduce, *inner)
            fused = tile_loop = sch.fuse(*outer) if len(outer) > 1 else outer[0]
            if cores > 1 and work >= PARALLEL_MIN_MACS and _extent(sch, fused) != 1:
                sch.parallel(fused)

            if u_r is not None and _extent(sch, u_r) > 1:
                sch.unroll(u_r)
            if _extent(sch, v_r) > 1:
                sch.unroll(v_r)
            if vec >= 2:
                sch.vectorize(v_vec)

            # accumulate the tile in a local buffer; write it back (through the epilogue)
            if reduce:
                local = sch.cache_write(main, 0, "local")
                # (inlined into the write-back of a padded tile, TVM would let the
                # epilogue write the padding rows too: there it follows the write-back)
                if epilogue is not None and not padded and \
                        _try(sch.reverse_compute_inline, sch.get_sblock(epilogue)):
                    others.remove(epilogue)
                    epilogue = None
                sch.reverse_compute_at(local, tile_loop, preserve_unit_loops=True)
                _vectorize_innermost(sch, local, vec)
                if epilogue is not None and _try(sch.reverse_compute_at,
                                                 sch.get_sblock(epilogue), tile_loop, True):
                    others.remove(epilogue)
                    _vectorize_innermost(sch, sch.get_sblock(epilogue), vec)
                init = sch.decompose_reduction(main, reduce[0])
                _vectorize_innermost(sch, init, vec)

            # the other blocks (copies, padded inputs, epilogues left): spatial schedules
            for name in others:
                _schedule_spatial(sch, sch.get_sblock(name), vector_lanes(target, 32), cores,
                                  vectorize=name not in packs)
            return True

    class Fallback(CPURule):
        """Any kernel: injective blocks inlined; each remaining block parallel over its
        outer spatial loops and vectorized along its innermost one."""

        def schedule(self, sch, target) -> bool:
            lanes = vector_lanes(target, 32)
            cores = _cores(target)
            keep = {sch.get(b).name_hint for b in _root_blocks(sch)
                    if "R" in _iter_kinds(sch, b)}
            _inline_all(sch, keep=keep)
            for block in _root_blocks(sch):
                if sch.get(block).name_hint in keep:
                    _schedule_reduction_block(sch, block, lanes, cores)
                else:
                    _schedule_spatial(sch, block, lanes, cores)
            return True

    return {"Contraction": Contraction, "Fallback": Fallback}


def __getattr__(name):  # the rule classes, built on first use
    classes = _Lazy.classes()
    if name in classes:
        return classes[name]
    raise AttributeError(name)


def _vectorizable_isnan() -> None:
    """Let TVM's loop vectorizer vectorize ``isnan`` (it is elementwise, and LLVM
    compiles it on vectors: an unordered compare). TVM does not mark it so, and a
    vectorized loop containing it (relu, max pooling: NaN-propagating maxima) is then
    silently run as a scalar loop."""
    import tvm
    op = tvm.ir.Op.get("tirx.isnan")
    if not op.get_attr("TVectorizable"):
        try:
            tvm.ir.register_op_attr("tirx.isnan", "TVectorizable", True)
        except Exception:  # pragma: no cover (registered meanwhile)
            pass


def cpu_rules() -> list:
    """The CPU rules, most specific first."""
    _vectorizable_isnan()
    classes = _Lazy.classes()
    return [classes["Contraction"](), classes["Fallback"]()]


def apply_default_schedules(mod, target=None):
    """``mod`` with every kernel that is not scheduled yet (by a MetaSchedule record)
    given a CPU schedule (see the module's doc); kernels no rule fits stay as they are."""
    from tvm.s_tir import dlight
    if target is not None and target.kind.name != "llvm":
        return mod
    return dlight.ApplyDefaultSchedule(*cpu_rules())(mod)
