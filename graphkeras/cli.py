"""The ``graphkeras`` command line.

    graphkeras summary MODEL.json
    graphkeras export MODEL.json [--weights WEIGHTS.npz] -o predict.onnx [--opset N]

MODEL.json is what ``model.to_json()`` writes (graphkeras' or tf.keras 2.x's);
WEIGHTS.npz holds ``get_weights()`` as arrays ``arr_0, arr_1, ...`` (``np.savez``).
Errors print one line and exit with status 1; bad usage exits with 2.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import graphkeras as gk
from graphkeras.compiler.onnx_builder import DEFAULT_OPSET


class CliError(Exception):
    pass


def _load(path, weights):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}") from None
    try:
        model = gk.models.model_from_json(text)
    except ValueError as err:
        raise CliError(f"{path} is not a model JSON graphkeras can read: {err}") from None
    if weights:
        try:
            with np.load(weights) as data:
                arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, KeyError) as err:
            raise CliError(f"cannot read weights from {weights}: {err}") from None
        try:
            model.set_weights(arrays)
        except ValueError as err:
            raise CliError(f"weights in {weights} do not fit the model: {err}") from None
    return model


def cmd_summary(args):
    _load(args.model, args.weights).summary()


def cmd_export(args):
    model = _load(args.model, args.weights)
    path = gk.export.save_predict_onnx(model, args.output, opset=args.opset)
    print(f"wrote {path}")


def build_parser():
    parser = argparse.ArgumentParser(prog="graphkeras", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"graphkeras {gk.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="print a model's summary")
    p.add_argument("model")
    p.add_argument("--weights")
    p.set_defaults(fn=cmd_summary)
    p = sub.add_parser("export", help="write the predict graph as a self-contained ONNX file")
    p.add_argument("model")
    p.add_argument("--weights")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.set_defaults(fn=cmd_export)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except CliError as err:
        print(f"graphkeras: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
