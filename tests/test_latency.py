"""Latency measurement with ONNX Runtime on small hand-built ONNX graphs (no Ultralytics needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from yolo_prune.errors import UserError
from yolo_prune.export import require_onnxruntime
from yolo_prune.latency import (
    MIN_RUNS, PRECISE_RUNS, LatencyStats, compare_latency, main, measure_interleaved, measure_latency, median_error,
    step_timing,
)  # fmt: skip


def _conv_model(path: Path, channels: int, batch: int | str = 1, imgsz: int = 64) -> Path:
    """A static-shape image model: two 3x3 convs with ReLU, ``channels`` wide (a stand-in for base/pruned)."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((channels, channels, 3, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["images", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["output0"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, channels, imgsz, imgsz])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("latency")
    return _conv_model(root / "base.onnx", 32), _conv_model(root / "final.onnx", 8)


def test_measure_latency_counts_runs_and_orders_percentiles(models, capsys):
    stats = measure_latency(models[0], runs=20, warmup=3, threads=1)
    assert isinstance(stats, LatencyStats)
    assert stats.runs == 20 and stats.batch == 1 and stats.imgsz == 64 and stats.provider == "cpu"
    assert 0 < stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert stats.mean_ms > 0 and stats.std_ms >= 0
    assert stats.as_dict() == {
        "median_ms": stats.median_ms,
        "p10_ms": stats.p10_ms,
        "p90_ms": stats.p90_ms,
        "mean_ms": stats.mean_ms,
        "std_ms": stats.std_ms,
        "runs": 20,
        "batch": 1,
        "imgsz": 64,
        "provider": "cpu",
        "threads": 1,
        "clock": "cpu",  # one thread is timed by its CPU time
        "rel_error": stats.rel_error,  # the median's relative standard error, from the runs' spread
    }
    assert 0 <= stats.rel_error < 0.2
    assert capsys.readouterr().err == "latency base.onnx: 23 runs\n"  # not a terminal: one plain line, no carriage-return redraws


def test_measure_latency_reads_batch_from_the_model_and_can_be_silent(tmp_path, capsys):
    stats = measure_latency(_conv_model(tmp_path / "b2.onnx", 4, batch=2, imgsz=32), runs=3, warmup=0, progress=False)
    assert (stats.batch, stats.imgsz, stats.runs) == (2, 32, 3)
    assert capsys.readouterr().err == ""


def test_compare_latency_interleaves_and_reports_speedup(models):
    result = compare_latency(*models, runs=10, warmup=2, progress=False)
    assert result["base"].runs == result["final"].runs == 10
    assert result["speedup"] == pytest.approx(result["base"].median_ms / result["final"].median_ms)
    assert result["speedup"] > 0
    same = compare_latency(models[0], models[0], runs=20, warmup=2, progress=False)
    assert 1 / 3 < same["speedup"] < 3  # one model against itself: interleaving keeps noise off the ratio


def test_compare_latency_refuses_different_input_shapes(models, tmp_path):
    other = _conv_model(tmp_path / "small.onnx", 8, imgsz=32)
    with pytest.raises(UserError, match="cannot compare"):
        compare_latency(models[0], other, runs=1, warmup=0, progress=False)


def test_bad_provider_dynamic_shape_and_missing_file_are_user_errors(models, tmp_path):
    with pytest.raises(UserError, match="latency_provider must be one of cpu, cuda, openvino, ncnn, tensorrt"):
        measure_latency(models[0], provider="tpu")
    with pytest.raises(UserError, match="dynamic=False"):
        measure_latency(_conv_model(tmp_path / "dyn.onnx", 4, batch="batch"), runs=1, warmup=0)
    with pytest.raises(UserError, match="not found"):
        measure_latency(tmp_path / "missing.onnx")
    with pytest.raises(UserError, match="runs"):
        measure_latency(models[0], runs=0)


def test_cuda_without_cuda_provider_names_the_available_ones(models):
    available = require_onnxruntime().get_available_providers()
    if "CUDAExecutionProvider" in available:
        pytest.skip("CUDA is available here")
    with pytest.raises(UserError, match="CPUExecutionProvider"):
        measure_latency(models[0], provider="cuda")


def test_cli_prints_a_table_and_speedup(models, capsys):
    assert main([str(models[0]), str(models[1]), "--runs", "5", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "base.onnx" in out and "final.onnx" in out and "speed-up" in out
    assert main([str(models[0]), "--runs", "3", "--warmup", "0", "--threads", "1"]) == 0
    assert "median ms" in capsys.readouterr().out
    assert main([str(models[0].with_name("nope.onnx"))]) == 2
    assert "not found" in capsys.readouterr().err


def test_timing_stops_at_its_precision_or_its_budget_never_before_the_minimum_rounds(models):
    """The speed target's timings: as many rounds as the medians need, within a time budget, at least MIN_RUNS."""
    assert MIN_RUNS < PRECISE_RUNS
    full = measure_interleaved(list(models), runs=12, warmup=0, threads=1)
    assert [s.runs for s in full] == [12, 12]  # neither precision nor budget: every round
    spent = measure_interleaved(list(models), runs=50, warmup=0, threads=1, budget_s=0.0)
    assert [s.runs for s in spent] == [MIN_RUNS, MIN_RUNS]  # a budget spent at the start: the minimum only
    loose = measure_interleaved(list(models), runs=50, warmup=0, threads=1, precision=1.0)
    assert [s.runs for s in loose] == [PRECISE_RUNS, PRECISE_RUNS]  # enough runs to judge the spread by, no more
    exact = measure_interleaved(list(models), runs=15, warmup=0, threads=1, precision=0.0)
    assert [s.runs for s in exact] == [15, 15]  # a precision never reached: the rounds asked for


def test_median_error_shrinks_with_runs_and_ignores_one_slow_run():
    assert median_error([10.0]) == math.inf
    steady = [10.0, 10.1, 9.9, 10.0, 10.2, 9.8]
    assert median_error(steady * 4) == pytest.approx(median_error(steady) / 2, rel=0.01)  # 1 / sqrt(runs)
    assert median_error([*steady, 1000.0]) < 0.02  # a run that waited for a core moves the median little


def test_step_timing_sums_each_steps_timings():
    timings = [{"step": 0, "what": "floor", "seconds": 1.0, "models": 2, "runs": 5},
               {"step": 1, "what": "latency model", "seconds": 4.0, "models": 10, "runs": 3},
               {"step": 1, "what": "proposal", "seconds": 0.5, "models": 2, "runs": 7}]  # fmt: skip
    assert step_timing(timings) == {0: {"seconds": 1.0, "models": 2, "runs": 10},
                                    1: {"seconds": 4.5, "models": 12, "runs": 44}}  # fmt: skip
