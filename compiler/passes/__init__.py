"""Graph passes: each ``run(graph) -> modified`` rewrites a graph in place.

``optimize(graph)`` runs them to a fixed point (and, with ``verify=True``,
checks the graph after every pass, as the tests do).
"""
from graphkeras.compiler.passes.cse import CommonSubexpressions
from graphkeras.compiler.passes.dce import DeadCode
from graphkeras.compiler.passes.loop_invariants import LoopInvariants
from graphkeras.compiler.passes.pad_sum import SumOfPadsToConcat
from graphkeras.compiler.passes.pool_mask import MaskBeforeMaxPoolGrad
from graphkeras.compiler.passes.scan_outputs import PruneScanOutputs
from graphkeras.compiler.passes.scan_residuals import ScanResiduals
from graphkeras.compiler.passes.scan_sums import ScanProductSums
from graphkeras.compiler.passes.simplify import Simplify
from graphkeras.compiler.verify import check_graph

PIPELINE = (Simplify(), SumOfPadsToConcat(), CommonSubexpressions(), DeadCode())
# for a graph nothing will differentiate any more: a loop's gradient reads the forward loop's
# costly values instead of recomputing them, loops drop what only a gradient reads, run their
# invariant work once and sum per-step products as one, and masks after max-pool gradients
# move onto the pooled grid
FINAL_PIPELINE = (ScanResiduals(), PruneScanOutputs(), LoopInvariants(), ScanProductSums(),
                  MaskBeforeMaxPoolGrad()) + PIPELINE


def optimize(graph, passes=PIPELINE, max_rounds=4, verify=False):
    """Run ``passes`` until none changes the graph (at most ``max_rounds`` rounds)."""
    for _ in range(max_rounds):
        changed = False
        for p in passes:
            changed |= p.run(graph)
            if verify:
                check_graph(graph)
        if not changed:
            break
    return graph


def rewrite(graph, decide) -> bool:
    """One sweep in topological order: ``decide(node)`` returns, for each output of
    ``node``, the value that replaces it (or None to keep the node). Reads of
    replaced values, by later nodes and graph outputs, are redirected as the sweep
    goes, so each node sees its final inputs. Returns whether anything changed."""
    mapping = {}

    def resolve(v):
        while id(v) in mapping:
            v = mapping[id(v)]
        return v

    for node in graph.nodes:
        if any(id(v) in mapping for v in node.inputs):
            node.inputs = [resolve(v) for v in node.inputs]
        replacements = decide(node)
        if replacements:
            for old, new in zip(node.outputs, replacements):
                if new is not None and new is not old:
                    mapping[id(old)] = new
    graph.outputs = [resolve(v) for v in graph.outputs]
    return bool(mapping)
