"""TVM libraries of the deployment graphs (``graphkeras compile --tvm [--tune TRIALS]``).

Each graph written as ONNX also gets a compiled TVM library, ``<graph>.so`` (for
example ``train_step.so``), built from the same IR through TVM Relax (not from the ONNX
file) for this machine's CPU (or its CUDA GPU). It is a Relax VM executable: load it
with ``tvm.runtime.load_module(path)``, make ``tvm.relax.VirtualMachine(lib, device)``
and call its ``"main"`` function with the tensors named in the graph's
``manifest["graphs"][label]["tvm"]["inputs"]``, in that order (the same data and state
tensors as the ONNX graph; ``predict.so`` carries its weights, as ``predict.onnx``
does). It returns a tuple holding the ONNX graph's outputs, in the same order.

``--tune TRIALS`` first MetaSchedule-tunes the kernels of the train step (the predict
graph when there is no train step) with about TRIALS trials, recording the schedules
in the TVM cache folder (``GRAPHKERAS_TVM_CACHE``): every library of this compile, and
later ``jit_compile=True`` runs of the same model, use them. Tuned schedules are for
static shapes, so with ``--tune`` the libraries are built for one batch size
(``--batch-size``, default 32).
"""
from __future__ import annotations

import os

from graphkeras.compiler.interpreter import evaluate
from graphkeras.deploy.check import check_outputs
from graphkeras.deploy.loading import one_line
from graphkeras.deploy.specs import DeployError

TUNE_BATCH_SIZE = 32  # the batch size tuned libraries are built for without --batch-size


def library_file(onnx_file: str) -> str:
    return os.path.splitext(onnx_file)[0] + ".so"


def build_libraries(folder, artefacts, manifest, state, batch_size, tune_trials=0,
                    check=True, target=None) -> list[str]:
    """Build, write into ``folder`` and (with ``check``) verify a TVM library per artefact;
    record each in the manifest. Returns the files written."""
    from graphkeras.runtime import tvm_executor
    tvm = tvm_executor.require_tvm()
    target = tvm_executor._as_target(target)
    if tune_trials and batch_size is None:
        batch_size = TUNE_BATCH_SIZE
    tuned = _tuned_label(artefacts) if tune_trials else None
    order = sorted(artefacts, key=lambda a: a.label != tuned)  # tune first: the rest reuse it
    written = []
    for artefact in order:
        fed = len(artefact.data) + len(artefact.state_inputs)
        names = [v.name for v in artefact.graph.inputs]
        constants = dict(zip(names[fed:], artefact.constants))
        trials = int(tune_trials) if artefact.label == tuned else 0
        try:
            module = tvm_executor.build_module(artefact.graph, target, tune_trials=trials,
                                               batch_size=batch_size, constants=constants)
        except Exception as err:  # noqa: BLE001 - TVM raises its own error types
            raise DeployError(f"cannot build the TVM library of {artefact.file}: "
                              f"{one_line(err)}") from None
        file = library_file(artefact.file)
        module.export_library(os.path.join(folder, file))
        written.append(file)
        entry = {"file": file, "inputs": names[:fed], "batch_size": batch_size,
                 "tuned_trials": trials}
        if check:
            entry["max_abs_error"] = _check(module, artefact, state, batch_size)
        manifest["graphs"][artefact.label]["tvm"] = entry
    manifest["tvm"] = {"version": tvm.__version__, "target": str(target),
                       "tuned": tuned, "tuning_cache": str(tvm_executor.cache_folder() or "")}
    return written


def _tuned_label(artefacts) -> str:
    labels = [a.label for a in artefacts]
    return "train_step" if "train_step" in labels else labels[0]


def _check(module, artefact, state, batch_size) -> float:
    """Run the library and the numpy reference interpreter on the same inputs (at the
    library's batch size, or at two when it takes any); the largest difference."""
    worst = 0.0
    fed = len(artefact.data) + len(artefact.state_inputs)
    for batch in [batch_size] if batch_size is not None else [1, 3]:
        _, ref_inputs = artefact.feeds(state, batch)
        try:
            got = module(*ref_inputs[:fed])
        except Exception as err:  # noqa: BLE001
            raise DeployError(f"self-check failed: {library_file(artefact.file)} does not run "
                              f"at batch {batch}: {one_line(err)}") from None
        names = [v.name for v in artefact.graph.outputs]
        worst = max(worst, check_outputs(library_file(artefact.file), "TVM", names, got,
                                         evaluate(artefact.graph, ref_inputs), batch))
    return worst
