"""GEMM shapes read off a traced step equal the hand-written tables of bench/train.py."""
import importlib.util
import os
from collections import Counter

import graphkeras as gk
from graphkeras.deploy.artifacts import _predict_graph, _steps
from graphkeras.deploy.gemm import gemm_flops, gemm_limit, gemm_shapes
from graphkeras.deploy.specs import input_specs, output_specs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench_train():
    spec = importlib.util.spec_from_file_location("bench_train", os.path.join(ROOT, "bench",
                                                                              "train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_graph(model):
    predict = _predict_graph(model)
    train, _ = _steps(model, input_specs(model), output_specs(predict.graph, model), None)
    return train.graph


def test_shapes_of_the_benchmark_workloads():
    bench = bench_train()
    for kind, build, batch in (("w1", bench.w1, 128), ("w2", bench.w2, 64)):
        shapes = gemm_shapes(train_graph(build()), batch)
        assert Counter(shapes) == Counter(bench.GEMMS[kind](batch)), kind


def test_grouped_and_transposed_convolutions():
    model = gk.Sequential([gk.layers.DepthwiseConv2D(3, input_shape=(6, 6, 2)),
                           gk.layers.Conv2DTranspose(5, 2, strides=2)])
    shapes = gemm_shapes(_predict_graph(model).graph, 4)
    assert shapes == [(4 * 4 * 4, 9, 1, 2), (4 * 4 * 4, 2, 2 * 2 * 5)]
    assert gemm_flops(shapes) == 2 * 64 * 9 * 1 * 2 + 2 * 64 * 2 * 20
    assert gemm_limit(shapes, repeats=2) > 0
