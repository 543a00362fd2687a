"""Deployment artefacts: a model's graphs as files any ONNX Runtime can run.

``graphkeras compile MODEL -o OUT`` (or :func:`compile_artifacts`) writes:

* ``predict.onnx``: the inference graph, weights embedded as initializers (named like
  the state tensors they come from), a dynamic batch axis ``batch`` unless
  ``--batch-size`` fixed it;
* ``predict_from_state.onnx`` (target ``all``): the same graph with the weights as inputs
  named like the steps' state inputs, to predict with weights trained on the device;
* ``train_step.onnx`` / ``test_step.onnx``: one fused training (evaluation) step.
  Inputs: the data (model inputs, targets ``y``/``y0..``, optional ``sample_weight``)
  then every piece of state the step reads; outputs: the logs (``loss``, metrics) then
  the new state, ``<name>/new`` (see :mod:`graphkeras.engine.steps`);
* ``state.bin``: the initial state (weights, optimizer slots and step counter, metric
  accumulators, random-generator counters), each tensor's raw little-endian C-order
  bytes at a 64-byte aligned offset — readable from any language without a parser;
* ``manifest.json``::

    {"format": "graphkeras-deploy", "version": 1, "model", "source", "opset",
     "batch_size": null | N, "providers": [...],
     "state": {"file": "state.bin", "byte_order": "little", "alignment": 64,
               "tensors": [{"name", "shape", "dtype", "kind": "state", "role",
                            "variable", "offset", "nbytes"}]},
     "graphs": {
       "predict":    {"file", "inputs", "outputs", "weights": [initializers]},
       "train_step": {"file", "kind": "train", "batch_size",
                      "inputs":  [{"name", "shape", "dtype", "kind", "role", ("state")}],
                      "outputs": [{"name", "shape", "dtype", "kind", "role", ("state", "feeds")}],
                      "feedback": {"<output>": "<input>"}},
       "test_step":  {... as train_step},
       "predict_from_state": {"file", "inputs" (data, then state), "outputs"}},
     "checked": {"batch_sizes", "max_abs_error": {file: error}, "onnx_checker"},
     "tvm": {"version", "target", "tuned", "tuning_cache"}}          (with --tvm)

  With ``--tvm`` each graph entry also has ``"tvm": {"file": "<graph>.so", "inputs":
  [names in call order], "batch_size", "tuned_trials", "max_abs_error"}`` (see
  :mod:`graphkeras.deploy.tvm_libs`).

  ``kind`` is ``data`` (``role`` ``x``, ``y`` or ``sample_weight``), ``state`` (``role``
  ``weight``, ``optimizer``, ``counter``, ``metric`` or ``rng``), ``log`` or
  ``output``; shapes use ``null`` for the batch axis. A state input's ``state`` names
  its tensor in ``state.bin``; a state output's ``feeds`` names the input it becomes
  on the next step (``feedback`` lists the same pairs).

A driver loads the state, then per batch feeds the data and the state, runs the step,
reads the logs and replaces each fed-back input by its ``/new`` output. Metric
accumulators (role ``metric``) hold running means: reset them to their values in
``state.bin`` where an epoch (or an evaluation) starts.
"""
from graphkeras.deploy.artifacts import (  # noqa: F401
    FILES, MANIFEST, STATE_FILE, compile_artifacts, read_state)
from graphkeras.deploy.loading import load_model_file  # noqa: F401
from graphkeras.deploy.specs import DeployError  # noqa: F401
