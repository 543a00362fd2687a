"""One replica: the Ray actor that runs the step graphs on its shard of each batch.

A worker holds ONNX Runtime sessions for the graphs the driver sends it
(:class:`graphkeras.distribute.graphs.WorkerGraph`) and the datasets the driver put
in the Ray object store. It keeps no training state between calls: each call
brings the weights it reads (one object in the store, shared by every worker)
and returns the gradients and the state the graph wrote. So any worker can be
replaced by a fresh one at any step.

Inputs of a graph, by role (the plan's ``state`` entries):

* ``bcast``: the driver's current value (weights, moving statistics ...);
* ``zero``: zeros — metric accumulators: the graph's new value is then this
  shard's contribution, which the driver adds to the global state;
* ``rng``: a random generator's counter; worker ``rank`` adds ``rank * RNG_STRIDE``
  to it (and subtracts it from the counter the graph returns), so each worker
  draws its own, deterministic Dropout masks and worker 0 draws what a single
  process draws.

This module imports no other part of graphkeras, and the strategy ships the
class to Ray by value: a worker process needs numpy, onnxruntime and Ray only.
"""
from __future__ import annotations

import os
import socket
import time

import numpy as np

RNG_STRIDE = 2**32


class Replica:
    """The actor's class (wrapped with ``ray.remote`` by the strategy)."""

    def __init__(self, rank: int, threads: int = 1):
        self.rank = int(rank)
        self.threads = int(threads)
        self.graphs: dict = {}
        self.data: dict = {}

    def info(self) -> dict:
        try:
            import ray
            node = ray.util.get_node_ip_address()
        except Exception:  # noqa: BLE001 - informational only
            node = "?"
        return {"rank": self.rank, "pid": os.getpid(), "node": node, "host": socket.gethostname()}

    # graphs and data --------------------------------------------------
    def load_graph(self, gid: str, model_bytes: bytes, plan: dict) -> bool:
        if gid in self.graphs:
            return True
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        zeros = {name: np.zeros(shape, dtype) for name, role, shape, dtype in plan["state"]
                 if role == "zero"}
        self.graphs[gid] = (session, plan, zeros)
        return True

    def has_graph(self, gid: str) -> bool:
        return gid in self.graphs

    def load_data(self, token: str, refs: list) -> int:
        """Keep the dataset behind ``refs[0]`` (a list of arrays in the object store;
        wrapped in a list so Ray hands over the reference, not the value)."""
        if token not in self.data:
            import ray
            self.data[token] = ray.get(refs[0])
        return len(self.data[token][0]) if self.data[token] else 0

    def drop_data(self, token: str) -> None:
        self.data.pop(token, None)

    # running ----------------------------------------------------------
    def run(self, gid: str, payload, state: list):
        """Run graph ``gid`` on this worker's shard. ``payload`` is ``("slice", token,
        lo, hi)``, ``("take", token, indices)`` (rows of a stored dataset) or
        ``("arrays", arrays)`` (a shard the driver scattered). ``state`` holds the
        values of the plan's ``bcast`` and ``rng`` inputs, in order. Returns
        ``(n_samples, outputs)``."""
        session, plan, zeros = self.graphs[gid]
        arrays = self._shard(payload)
        feed = dict(zip(plan["data"], arrays))
        values = iter(state)
        offset = np.int64(self.rank * RNG_STRIDE)
        for name, role, _, _ in plan["state"]:
            if role == "zero":
                feed[name] = zeros[name]
            elif role == "rng":
                feed[name] = np.asarray(np.asarray(next(values)) + offset)
            else:
                feed[name] = next(values)
        start = time.perf_counter()
        outs = session.run(plan["outputs"], feed)
        seconds = time.perf_counter() - start
        for i in plan["rng_outputs"]:
            outs[i] = np.asarray(outs[i] - offset)
        n = int(arrays[0].shape[0]) if arrays else 0
        return n, outs, seconds

    def _shard(self, payload):
        kind = payload[0]
        if kind == "slice":
            _, token, lo, hi = payload
            return [a[lo:hi] for a in self.data[token]]
        if kind == "take":
            _, token, index = payload
            return [a[index] for a in self.data[token]]
        return list(payload[1])

    def ping(self) -> int:
        return os.getpid()
