"""ONNX export through Ultralytics, its agreement with PyTorch, its mAP, and the ONNX Runtime install check."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image, ImageDraw

import yolo_prune  # noqa: F401  (offline defaults before Ultralytics)
from ultralytics.nn.tasks import DetectionModel
from yolo_prune.errors import UserError
from yolo_prune.export import (
    ONNX_TOLERANCE,
    compare_with_torch,
    export_onnx,
    float32_rounding,
    onnx_input_shape,
    onnx_tolerance,
    require_onnxruntime,
    validate_onnx,
)

IMGSZ = 64
NAMES = {0: "red", 1: "green", 2: "blue"}


def _save_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny yolov8n (3 classes) saved as a whole pickled module, the way Ultralytics and this project save them.

    Freshly initialised, every seed gives nearly the same outputs (default BN stats, DFL means, score bias prior), so
    BN statistics are randomised like a trained model's and class biases zeroed: outputs then depend on the weights.
    """
    torch.manual_seed(seed)
    model = DetectionModel("yolov8n.yaml", nc=len(NAMES), verbose=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.5)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        for branch in model.model[-1].cv3:
            branch[-1].bias.zero_()
    model.names = dict(NAMES)
    model.args = {"imgsz": IMGSZ}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {}}, path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def no_pip():
    """Fail loudly if anything starts pip (Ultralytics' auto-install) while the fixture is active."""
    real = subprocess.Popen

    class Tripwire(real):
        def __init__(self, args, *a, **kw):
            assert "pip" not in " ".join(map(str, args if isinstance(args, (list, tuple)) else [args])), args
            super().__init__(args, *a, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "Popen", Tripwire)
        yield


@pytest.fixture(scope="module")
def exported(tmp_path_factory, no_pip):
    """Export once for the module; remember what the folder and checkpoint looked like before."""
    pt = _save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")
    before_hash, before_files = _sha256(pt), _files(pt.parent)
    env_before = os.environ.get("ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS")
    onnx_path = export_onnx(pt, imgsz=IMGSZ)
    assert os.environ.get("ULTRALYTICS_SKIP_REQUIREMENTS_CHECKS") == env_before
    return pt, onnx_path, before_hash, before_files


def test_export_writes_only_the_onnx_and_keeps_the_checkpoint(exported):
    pt, onnx_path, before_hash, before_files = exported
    assert onnx_path == pt.with_suffix(".onnx") and onnx_path.is_file()
    assert _files(pt.parent) == before_files | {onnx_path.name}
    assert _sha256(pt) == before_hash


def test_onnx_is_valid_static_and_carries_ultralytics_metadata(exported):
    _, onnx_path, _, _ = exported
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["names"] == str(NAMES)
    assert meta["imgsz"] == str([IMGSZ, IMGSZ]) and meta["stride"] == "32" and meta["batch"] == "1"
    assert onnx_input_shape(onnx_path) == (1, 3, IMGSZ, IMGSZ)
    out = model.graph.output[0]
    assert out.name == "output0"
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 4 + len(NAMES), 84]  # 8x8 + 4x4 + 2x2 anchors


def test_onnx_matches_torch_and_a_different_model_does_not(exported, tmp_path):
    pt, onnx_path, _, _ = exported
    diff = compare_with_torch(pt, onnx_path, IMGSZ)
    assert 0 <= diff < ONNX_TOLERANCE
    other = _save_checkpoint(tmp_path / "other.pt", seed=1)
    assert compare_with_torch(other, onnx_path, IMGSZ) > ONNX_TOLERANCE
    with pytest.raises(ValueError, match="imgsz"):
        compare_with_torch(pt, onnx_path, 2 * IMGSZ)


def test_the_tolerance_widens_only_for_a_model_that_float32_rounding_moves_and_still_catches_a_wrong_graph(
    exported, tmp_path
):
    """A model whose BatchNorms amplify (as a barely trained one's recalibrated on a few images do) rounds its outputs
    far more than a trained one: its check allows ten times that, and another model's outputs stay far beyond it."""
    pt, onnx_path, _, _ = exported
    assert float32_rounding(pt, IMGSZ) < 1e-5 and onnx_tolerance(float32_rounding(pt, IMGSZ)) == ONNX_TOLERANCE
    amplifying = []
    for seed in (0, 1):
        path = _save_checkpoint(tmp_path / f"amplifying{seed}.pt", seed=seed)
        ckpt = torch.load(path, weights_only=False)
        for m in ckpt["model"].modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.mul_(0.1)  # each BN multiplies by about 3: activations in the thousands at the head
        torch.save(ckpt, path)
        amplifying.append(path)
    onnx_amplifying = export_onnx(amplifying[0], IMGSZ)
    rounding = float32_rounding(amplifying[0], IMGSZ)
    assert rounding > 1e-5  # 2e-4 here: a hundred times a trained model's
    assert compare_with_torch(amplifying[0], onnx_amplifying, IMGSZ) < onnx_tolerance(rounding) < 0.1
    assert compare_with_torch(amplifying[1], onnx_amplifying, IMGSZ) > 10 * onnx_tolerance(rounding)


def test_export_with_batch_2_is_compared_at_batch_2(exported, tmp_path, no_pip):
    pt = shutil.copy(exported[0], tmp_path / "b2.pt")
    onnx_path = export_onnx(Path(pt), imgsz=IMGSZ, batch=2)
    assert onnx_input_shape(onnx_path) == (2, 3, IMGSZ, IMGSZ)
    assert compare_with_torch(Path(pt), onnx_path, IMGSZ) < ONNX_TOLERANCE


def test_export_rejects_bad_inputs(exported, tmp_path):
    pt = exported[0]
    with pytest.raises(UserError, match="multiple of the model's stride 32"):
        export_onnx(pt, imgsz=70)
    with pytest.raises(UserError, match="not found"):
        export_onnx(tmp_path / "missing.pt", imgsz=IMGSZ)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot load"):
        export_onnx(bad, imgsz=IMGSZ)
    assert not (tmp_path / "bad.onnx").exists()


def _tiny_dataset(root: Path, n: int = 5) -> Path:
    """n 64x64 images, each with one coloured rectangle labelled by its colour, in Ultralytics' YOLO layout."""
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    rng = np.random.default_rng(0)
    colours = [(230, 30, 30), (30, 200, 30), (30, 30, 230)]
    for i in range(n):
        cls = i % len(NAMES)
        w, h = rng.integers(16, 40, size=2)
        x0, y0 = rng.integers(0, IMGSZ - w), rng.integers(0, IMGSZ - h)
        image = Image.new("RGB", (IMGSZ, IMGSZ), (114, 114, 114))
        ImageDraw.Draw(image).rectangle([x0, y0, x0 + w - 1, y0 + h - 1], fill=colours[cls])
        image.save(root / "images" / "val" / f"{i}.jpg")
        box = ((x0 + w / 2) / IMGSZ, (y0 + h / 2) / IMGSZ, w / IMGSZ, h / IMGSZ)
        (root / "labels" / "val" / f"{i}.txt").write_text(f"{cls} " + " ".join(f"{v:.6f}" for v in box) + "\n")
    names = "".join(f"  {k}: {v}\n" for k, v in NAMES.items())
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/val\nval: images/val\nnames:\n{names}")
    return data


def test_validate_onnx_gives_map_and_writes_only_in_save_dir(exported, tmp_path, monkeypatch, no_pip):
    pt, onnx_path, _, _ = exported
    data = _tiny_dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # Ultralytics' default runs/ folder would land here
    before_tmp, before_model = _files(tmp_path), _files(pt.parent)
    save_dir = tmp_path / "run" / "onnx_val"

    metrics = validate_onnx(onnx_path, str(data), IMGSZ, save_dir=save_dir)
    assert set(metrics) == {"map50_95", "map50"}
    for v in metrics.values():
        assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0
    assert metrics["map50_95"] <= metrics["map50"]

    new = _files(tmp_path) - before_tmp
    outside = {f for f in new if not f.startswith("run")}
    assert outside == {"data/labels/val.cache"}  # Ultralytics' label cache beside the data set, as in training
    assert _files(pt.parent) == before_model

    assert validate_onnx(onnx_path, str(data), IMGSZ) == metrics  # temporary save_dir, same numbers
    assert _files(tmp_path) - before_tmp == new
    with pytest.raises(ValueError, match="batch=2"):
        validate_onnx(onnx_path, str(data), IMGSZ, batch=2)
    with pytest.raises(UserError, match="not found"):
        validate_onnx(onnx_path, str(tmp_path / "nope.yaml"), IMGSZ)


def _fake_installed(monkeypatch, *dists: str) -> None:
    """Make importlib.metadata see exactly ``dists`` among the ONNX Runtime builds."""
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name in ("onnxruntime", "onnxruntime-gpu"):
            if name in dists:
                return "1.20.0"
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)


def test_require_onnxruntime_refuses_cpu_and_gpu_together(monkeypatch):
    _fake_installed(monkeypatch, "onnxruntime", "onnxruntime-gpu")
    with pytest.raises(UserError, match="pip uninstall onnxruntime-gpu") as e:
        require_onnxruntime()
    assert "pip uninstall onnxruntime'" in str(e.value)


def test_require_onnxruntime_says_how_to_install(monkeypatch):
    _fake_installed(monkeypatch)
    with pytest.raises(UserError, match=r"yolo-prune\[cpu\]"):
        require_onnxruntime()


@pytest.mark.parametrize("dist", ["onnxruntime", "onnxruntime-gpu"])
def test_require_onnxruntime_accepts_either_build(monkeypatch, dist):
    _fake_installed(monkeypatch, dist)
    assert hasattr(require_onnxruntime(), "InferenceSession")


def test_a_model_the_exporter_refuses_ends_in_one_error_line_and_keeps_the_run(tiny_data_yaml, tmp_path):
    """Pruned to almost nothing (rate 0.99, exact shares), yolov8n exports to a 76 kB ONNX file, which Ultralytics' exporter
    rejects as "too small (likely corrupt)". Found only after all the work: exit 1 (the run could not finish,
    whereas 2 means a command to fix), one error line, every computed file kept, and a resume that says the same."""
    project = tmp_path / "runs"
    args = ["--model", "yolov8n.yaml", "--data", str(tiny_data_yaml), "--target-prune-rate", "0.99",
            "--round-to", "1", "--yaml-widths", "false", "--iterative-steps", "1", "--epochs", "0", "--imgsz", "64", "--batch", "2", "--workers", "0",
            "--device", "cpu", "--latency-runs", "2", "--project", str(project), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = project / "exp"
    for command in (args, ["--resume", str(run), "--quiet"]):
        p = subprocess.run([sys.executable, "-m", "yolo_prune.cli", *command], capture_output=True, text=True,
                           env=env, timeout=600)  # fmt: skip
        assert p.returncode == 1, p.stderr[-3000:]
        assert "Traceback" not in p.stdout + p.stderr
        assert p.stderr.startswith(f"error: ONNX export of {run / 'weights' / 'final.pt'} failed: AssertionError: ")
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "output model too small" in p.stderr and f"yolo-prune --resume {run} tries the export" in p.stderr
        assert "ONNX export was not possible" in p.stdout and f"report: {run / 'report.md'}" in p.stdout
    for kept in ("steps.json", "layers.json", "summary.json", "report.md", "report.html", "weights/base.pt",
                 "weights/step_01.pt", "weights/final.pt", "weights/base.onnx"):  # fmt: skip
        assert (run / kept).is_file(), kept
    assert not (run / "weights" / "final.onnx").exists()  # what the exporter wrote before refusing it is removed
    summary = json.loads((run / "summary.json").read_text())
    assert "output model too small" in summary["onnx_error"]
    assert summary["final"]["onnx_bytes"] is None and summary["speedup"] is None
    assert summary["final"]["params"] < summary["base"]["params"] / 100
    assert "> **Warning:** ONNX export was not possible" in (run / "report.md").read_text()
    assert [r["step"] for r in json.loads((run / "steps.json").read_text())] == [0, 1]  # the resume added nothing
