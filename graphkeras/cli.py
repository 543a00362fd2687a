"""The graphkeras command line: turn saved models into deployment artefacts.

    graphkeras compile MODEL -o OUT_DIR [--target predict|train|all] [--provider cpu|cuda|tensorrt]
                       [--opset N] [--batch-size N] [--sample-weight] [--tvm [--tune TRIALS]]
    graphkeras summary MODEL
    graphkeras predict MODEL DATA.npy|DATA.npz -o OUT.npy|OUT.npz [--batch-size N]
    graphkeras bench MODEL [--batch-size N] [--steps N]
    graphkeras doctor MODEL
    graphkeras export MODEL -o predict.onnx [--opset N]

MODEL is a ``.h5`` file (tf.keras' layout, ours or tf.keras 2.x's), a ``.keras`` file, a
folder written by ``model.save``, or model JSON (``to_json()``; its weights with
``--weights W.npz|W.h5``). Exit status: 0 success, 1 error (one line on stderr, no
traceback; ``GRAPHKERAS_TRACEBACK=1`` shows it), 2 bad usage.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

PROG = "graphkeras"


class CliError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _load(args):
    """The model; the loader's warnings (e.g. "no training configuration") are left out:
    what they mean for a command is said by its own error."""
    import logging
    from graphkeras.deploy import load_model_file
    logger = logging.getLogger("graphkeras")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return load_model_file(args.model, getattr(args, "weights", None))
    finally:
        logger.setLevel(level)


def _use_provider(args):
    name = getattr(args, "provider", None)
    if name:
        from graphkeras.runtime.providers import set_providers
        try:
            set_providers([name])
        except ValueError as err:
            raise CliError(str(err)) from None


def _size(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


# ----------------------------------------------------------------- commands
def cmd_compile(args):
    from graphkeras.deploy import MANIFEST, STATE_FILE, compile_artifacts
    tvm = args.tvm or args.tune is not None
    if tvm:
        from graphkeras.runtime.tvm_executor import require_tvm
        try:
            require_tvm()
        except ImportError as err:
            raise CliError(f"--tvm: {err}") from None
    t0 = time.perf_counter()
    _use_provider(args)
    model = _load(args)
    manifest = compile_artifacts(model, args.output, target=args.target, opset=args.opset,
                                 batch_size=args.batch_size,
                                 sample_weight=True if args.sample_weight else None,
                                 source=os.path.basename(os.path.normpath(args.model)),
                                 tvm=tvm, tune_trials=args.tune or 0)
    elapsed = time.perf_counter() - t0
    print(f"compiled model {model.name!r} from {args.model} into {args.output} "
          f"in {elapsed:.2f} s")
    for label in ("predict", "predict_from_state", "train_step", "test_step"):
        entry = manifest["graphs"].get(label)
        if entry is None:
            continue
        path = os.path.join(args.output, entry["file"])
        data = ", ".join(f"{t['name']} {t['dtype']}{_shape(t['shape'])}"
                         for t in entry["inputs"] if t["kind"] == "data")
        print(f"  {entry['file']:<24}{_size(os.path.getsize(path)):>11}  data: {data}")
        library = entry.get("tvm")
        if library:
            path = os.path.join(args.output, library["file"])
            tuned = f", tuned ({library['tuned_trials']} trials)" if library["tuned_trials"] else ""
            batch = library["batch_size"]
            print(f"  {library['file']:<24}{_size(os.path.getsize(path)):>11}  TVM library, "
                  f"batch {'any' if batch is None else batch}{tuned}")
    if manifest.get("state"):
        path = os.path.join(args.output, STATE_FILE)
        print(f"  {STATE_FILE:<24}{_size(os.path.getsize(path)):>11}  "
              f"{len(manifest['state']['tensors'])} state tensors")
    print(f"  {MANIFEST}")
    checked = manifest.get("checked")
    if checked:
        worst = max(checked["max_abs_error"].values(), default=0.0)
        sizes = ", ".join(map(str, checked["batch_sizes"]))
        print(f"self-check passed: onnx.checker with full shape inference; onnxruntime equals "
              f"the numpy reference at batch size {sizes} (max abs error {worst:.2g})")


def _shape(shape):
    return "[" + ",".join("batch" if d is None else str(d) for d in shape) + "]"


def cmd_summary(args):
    _load(args).summary()


def cmd_export(args):
    import graphkeras as gk
    model = _load(args)
    try:
        path = gk.export.save_predict_onnx(model, args.output, opset=args.opset)
    except OSError as err:
        raise CliError(f"cannot write {args.output}: {err.strerror}") from None
    print(f"wrote {path}")


def cmd_predict(args):
    import numpy as np
    _use_provider(args)
    model = _load(args)
    names = [s[0] for s in model._input_specs() or []]
    try:
        loaded = np.load(args.data, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read {args.data} as a .npy or .npz array file: "
                       f"{getattr(err, 'strerror', None) or err}") from None
    if isinstance(loaded, np.ndarray):
        x = loaded
    else:
        with loaded:
            files = list(loaded.files)
            if set(names) <= set(files):
                x = {n: loaded[n] for n in names}
            elif len(files) == len(names):
                x = [loaded[f] for f in files]
            else:
                raise CliError(f"{args.data} holds arrays {files}; the model takes inputs "
                               f"{names} (name the arrays after them)")
            x = x[0] if isinstance(x, list) and len(x) == 1 else x
    out = model.predict(x, batch_size=args.batch_size, verbose=0)
    outs = out if isinstance(out, (list, tuple)) else (list(out.values()) if isinstance(out, dict)
                                                       else [out])
    out_names = list(out) if isinstance(out, dict) else \
        (model.output_names or [f"output_{i + 1}" for i in range(len(outs))])
    as_npz = args.output.endswith(".npz")
    if len(outs) > 1 and not as_npz:
        raise CliError(f"the model has {len(outs)} outputs: write them to a .npz file "
                       "(-o OUT.npz)")
    from graphkeras.saving.atomic import atomic_path
    try:
        with atomic_path(args.output) as tmp:
            with open(tmp, "wb") as f:
                if as_npz:
                    np.savez(f, **dict(zip(out_names, outs)))
                else:
                    np.save(f, outs[0])
    except OSError as err:
        raise CliError(f"cannot write {args.output}: {err.strerror}") from None
    shapes = ", ".join(f"{n} {tuple(o.shape)}" for n, o in zip(out_names, outs))
    print(f"wrote {args.output}: {shapes}")


def cmd_bench(args):
    from graphkeras.deploy.bench import bench_model, format_results
    _use_provider(args)
    model = _load(args)
    results = bench_model(model, batch_size=args.batch_size, steps=args.steps)
    for line in format_results(model, results, args.batch_size, args.steps):
        print(line)


def cmd_doctor(args):
    from graphkeras.deploy.doctor import report
    problems = report(_load(args))
    return 1 if problems else 0


# ----------------------------------------------------------------- parser
def build_parser():
    from graphkeras import __version__
    from graphkeras.compiler.onnx_builder import DEFAULT_OPSET
    parser = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                     epilog="Run 'graphkeras COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"graphkeras {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, fn, help, description=None):
        p = sub.add_parser(name, help=help, description=description or help)
        p.add_argument("model", metavar="MODEL",
                       help="a .h5 or .keras file, a saved model folder, or model JSON")
        p.add_argument("--weights", metavar="W",
                       help="weights for a model JSON: .npz of get_weights() arrays, or .h5")
        p.set_defaults(fn=fn)
        return p

    def provider(p):
        p.add_argument("--provider", choices=("cpu", "cuda", "tensorrt"),
                       help="ONNX Runtime execution provider (default: GRAPHKERAS_PROVIDERS, "
                            "else cpu); tensorrt falls back to cuda, then cpu")

    p = command("compile", cmd_compile, "write deployment artefacts: ONNX graphs, state, manifest",
                "Write predict.onnx (weights embedded), train_step.onnx, test_step.onnx, "
                "predict_from_state.onnx (weights as inputs, like the steps), state.bin and "
                "manifest.json to OUT_DIR, each graph checked against the numpy reference.")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR")
    p.add_argument("--target", choices=("predict", "train", "all"), default="all",
                   help="predict: predict.onnx; train: the train and test steps and their "
                        "state; all (default): both, and predict_from_state.onnx")
    provider(p)
    p.add_argument("--opset", type=_positive, default=None,
                   help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--batch-size", type=_positive, default=None, metavar="N",
                   help="fix the batch axis to N (default: dynamic)")
    p.add_argument("--sample-weight", action="store_true",
                   help="the steps take per-sample weights (input 'sample_weight')")
    p.add_argument("--tvm", action="store_true", help="also build a TVM library")
    p.add_argument("--tune", type=_positive, default=None, metavar="TRIALS",
                   help="tune the TVM build with TRIALS MetaSchedule trials")

    command("summary", cmd_summary, "print the model's summary")

    p = command("predict", cmd_predict, "run the model on arrays from a .npy/.npz file",
                "Run the model on DATA (.npy for one input; .npz with arrays named after the "
                "inputs) and write its outputs to OUT (.npy, or .npz named after the outputs).")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--batch-size", type=_positive, default=None, metavar="N")
    provider(p)

    p = command("bench", cmd_bench, "time predict and the train step",
                "Time predict and the train step per batch, against the same graph in a plain "
                "onnxruntime session and against the GEMM limit (the step's matrix products "
                "as numpy matmuls).")
    p.add_argument("--batch-size", type=_positive, default=32, metavar="N")
    p.add_argument("--steps", type=_positive, default=20, metavar="N",
                   help="batches per timed pass (default 20)")
    provider(p)

    command("doctor", cmd_doctor, "show which backends lower each layer's ops",
            "For each layer: its ops, whether each lowers to ONNX and to TVM, and whether it "
            "has a gradient. Exit status 1 when an op cannot be lowered to ONNX or lacks a "
            "gradient the train step needs.")

    p = command("export", cmd_export, "write the predict graph as one self-contained ONNX file")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--opset", type=_positive, default=DEFAULT_OPSET)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    from graphkeras.deploy import DeployError
    from graphkeras.runtime import providers
    chosen = providers._chosen
    try:
        return args.fn(args) or 0
    except (CliError, DeployError) as err:
        _error(err)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one line, not a traceback
        if os.environ.get("GRAPHKERAS_TRACEBACK"):
            raise
        from graphkeras.deploy.loading import one_line
        _error(f"{type(err).__name__}: {one_line(err)}")
    finally:
        providers._chosen = chosen  # --provider lasts one command (main may run in-process)
    return 1


def _error(err):
    from graphkeras.deploy.loading import one_line
    print(f"{PROG}: error: {one_line(err)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
