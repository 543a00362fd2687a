"""One replica: the Ray actor that runs the step graphs on its shard of each batch.

A worker holds ONNX Runtime sessions for the graphs the driver sends it
(:class:`graphkeras.distribute.graphs.WorkerGraph` and the update graph), the
datasets the driver put in the Ray object store, and — while training — its
resident copy of the training state (weights, optimizer slots and iterations,
learning rate, moving statistics, random counters; by ``Variable.key``). Every
worker holds the same state: each applies the same update graph to the same
all-reduced gradients.

A training step is three calls per worker, chained through the object store
(the driver submits them all at once and only waits for the small results):

* :meth:`Replica.grads`: the gradient graph on this worker's shard; returns the
  reduce contributions (gradients and moving statistics times the shard weight
  ``n_r / b``, flattened into one vector split into ``parts`` chunks; its own
  chunk stays here) and a small ``aux`` object (sample count, logs, metric
  contributions, random counters);
* :meth:`Replica.reduce` (worker ``r``): chunk ``r`` of every worker summed in rank
  order — the reduce-scatter;
* :meth:`Replica.apply`: every reduced chunk (the all-gather; its own from
  ``reduce``), concatenated; the moving statistics and worker 0's random counters
  become the resident values and the update graph runs on the gradients.

The summation order is fixed, so every worker computes the same bits.

Inputs of the gradient graph, by role (the plan's ``state`` entries):

* ``bcast``: the resident value (weights, moving statistics ...);
* ``zero``: zeros — metric accumulators: the graph's new value is then this
  shard's contribution, which the driver adds to the global metric state;
* ``rng``: a random generator's counter; worker ``rank`` adds ``rank * RNG_STRIDE``
  to it (and subtracts it from the counter the graph returns), so each worker
  draws its own, deterministic Dropout masks and worker 0 draws what a single
  process draws.

The test and predict graphs (:meth:`Replica.run`) are stateless: each call brings
the weights it reads.

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
        self.state: dict = {}  # resident training state: Variable.key -> array
        self._kept = None  # this step's own chunk, between grads and reduce
        self._reduced = None  # this step's reduced chunk, between reduce and apply

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
        zeros = {entry[0]: np.zeros(entry[2], entry[3]) for entry in plan.get("state", ())
                 if len(entry) == 4 and entry[1] == "zero"}  # (the update's entries are pairs)
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

    # training with resident state -------------------------------------
    def set_state(self, keys: list, values: dict) -> int:
        """Make ``values[key]`` the resident value of each of ``keys`` (``values`` is one
        object in the store, shared by the workers of a node)."""
        for key in keys:
            self.state[key] = values[key]
        return len(keys)

    def get_state(self, keys: list) -> list:
        return [self.state[key] for key in keys]

    def drop_state(self, keys: list) -> None:
        for key in keys:
            self.state.pop(key, None)

    def grads(self, gid: str, payload, weight, parts: int, keep=None):
        """Run gradient graph ``gid`` on this worker's shard with the resident state.
        Returns the ``parts`` chunks of the reduce vector (gradients, then the written
        moving statistics, each times ``weight``, flattened) but chunk ``keep``, which
        this worker reduces itself (kept here for :meth:`reduce`), and ``aux``:
        ``(n_samples, seconds, {output index: value})`` for the logs, metric
        contributions and the written random counters and integer state."""
        plan = self.graphs[gid][1]
        outs, aux = self._forward(gid, payload)
        w = np.float32(weight)
        pieces = [np.ravel(outs[i]) * w for i, kind in enumerate(plan["kinds"])
                  if kind in ("grad", "mean")]
        flat = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        chunks = np.array_split(flat, parts)
        if keep is not None:
            self._kept = chunks.pop(keep)
        return (*chunks, aux)

    def reduce(self, at, *chunks):
        """The sum of one chunk of every worker that had samples, in rank order (the
        same bits on every worker); this worker's own chunk (kept by :meth:`grads`)
        goes at position ``at`` (None: it had no samples). The sum is kept for
        :meth:`apply` too. Returns ``(sum, seconds)``."""
        start = time.perf_counter()
        if at is not None:
            chunks = chunks[:at] + (self._kept,) + chunks[at:]
            self._kept = None
        acc = chunks[0] + chunks[1] if len(chunks) > 1 else np.array(chunks[0])
        for chunk in chunks[2:]:
            acc += chunk
        self._reduced = acc
        return acc, time.perf_counter() - start

    def apply(self, gid: str, uid, aux0, *chunks):
        """The reduced chunks (all of them, in order; ``None`` for the one this worker
        reduced) into the resident state: the moving statistics, worker 0's random
        counters and integer state (``aux0``), then the update graph ``uid`` on the
        gradients. Returns the seconds the update graph took."""
        plan = self.graphs[gid][1]
        if any(chunk is None for chunk in chunks):
            chunks = [self._reduced if chunk is None else chunk for chunk in chunks]
            self._reduced = None
        flat = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        reduced = {}
        at = 0
        for i, kind in enumerate(plan["kinds"]):
            if kind in ("grad", "mean"):
                shape = plan["out_vars"][i][1]
                size = int(np.prod(shape, dtype=np.int64))
                reduced[i] = flat[at:at + size].reshape(shape)
                at += size
        return self._update(gid, uid, aux0, reduced)

    def step(self, gid: str, uid, payload):
        """:meth:`grads` then :meth:`apply` on this worker alone (one worker: the
        all-reduce is the identity, nothing is flattened). Returns ``(aux, update
        seconds)``."""
        outs, aux = self._forward(gid, payload)
        return aux, self._update(gid, uid, aux, dict(enumerate(outs)))

    def _forward(self, gid, payload):
        """The gradient graph's outputs on this worker's shard, and ``aux``."""
        session, plan, zeros = self.graphs[gid]
        arrays = self._shard(payload)
        feed = dict(zip(plan["data"], arrays))
        offset = np.int64(self.rank * RNG_STRIDE)
        state = self.state
        for (name, role, _, _), key in zip(plan["state"], plan["keys"]):
            if role == "zero":
                feed[name] = zeros[name]
            elif role == "rng":
                feed[name] = np.asarray(np.asarray(state[key]) + offset)
            else:
                feed[name] = state[key]
        start = time.perf_counter()
        outs = session.run(plan["outputs"], feed)
        seconds = time.perf_counter() - start
        for i in plan["rng_outputs"]:
            outs[i] = np.asarray(outs[i] - offset)
        aux = {i: outs[i] for i, kind in enumerate(plan["kinds"])
               if kind in ("log", "sum", "rng", "first")}
        n = int(arrays[0].shape[0]) if arrays else 0
        return outs, (n, seconds, aux)

    def _update(self, gid, uid, aux0, reduced):
        """Set the resident state from the reduced moving statistics and worker 0's
        counters, then run the update graph on the reduced gradients (``reduced``:
        gradient-graph output index -> value)."""
        plan = self.graphs[gid][1]
        state = self.state
        grads = []
        for i, kind in enumerate(plan["kinds"]):
            if kind == "grad":
                grads.append(reduced[i])
            elif kind == "mean":
                key, _, dtype = plan["out_vars"][i]
                state[key] = reduced[i].astype(dtype, copy=False)
        for i, value in aux0[2].items():
            if plan["kinds"][i] in ("rng", "first"):
                state[plan["out_vars"][i][0]] = value
        if uid is None:
            return 0.0
        session, update, _ = self.graphs[uid]
        feed = {name: g.astype(dtype, copy=False) for (name, dtype), g in
                zip(update["grads"], grads)}
        for name, key in update["state"]:
            feed[name] = state[key]
        start = time.perf_counter()
        outs = session.run([name for name, _ in update["outputs"]], feed)
        seconds = time.perf_counter() - start
        for (_, key), value in zip(update["outputs"], outs):
            state[key] = value
        return seconds

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
