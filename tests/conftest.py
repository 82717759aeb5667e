"""Shared fixtures: Ultralytics kept out of the user's settings, and a tiny generated data set in YOLO layout.

Usage (in a test):
    def test_something(tiny_data_yaml):
        YOLO("yolov8n.yaml").train(data=str(tiny_data_yaml), epochs=1, imgsz=64, workers=0, device="cpu")
"""

import atexit
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

if "YOLO_CONFIG_DIR" not in os.environ:  # before anything imports Ultralytics, which writes its settings there
    os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="yolo-prune-tests-")
    atexit.register(shutil.rmtree, os.environ["YOLO_CONFIG_DIR"], ignore_errors=True)

import yolo_prune  # noqa: E402,F401  (sets Ultralytics' offline defaults before its first import)
from yolo_prune.demo.synthetic import generate_voc_dataset  # noqa: E402
from yolo_prune.offline import provide_local_fonts  # noqa: E402
from yolo_prune.tools.voc import voc_to_yolo  # noqa: E402

provide_local_fonts()  # Ultralytics' data checks would otherwise ask the web for Arial.ttf


@pytest.fixture(scope="session")
def tiny_data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data.yaml of 12 generated 64-pixel images of 3 shapes, split 10 train / 2 val; treat it as read-only."""
    root = tmp_path_factory.mktemp("tiny-data")
    voc = generate_voc_dataset(root / "voc", n_images=12, imgsz=64, n_classes=3, seed=0)
    return voc_to_yolo(voc, root / "yolo", train_ratio=0.8, seed=0).data_yaml


KEYPOINTS = 17  # the bundled pose yamls' kpt_shape [17, 3]: a model built from them trains on these labels


def _task_line(line: str, task: str) -> str:
    """A detection label line (class xc yc w h) as ``task`` labels the same shape: the ellipse inscribed in the box
    as a 16-point polygon (segment), 16 points on it and its centre as visible keypoints (pose), or the box's four
    corners (obb)."""
    cls, xc, yc, w, h = line.split()
    xc, yc, w, h = map(float, (xc, yc, w, h))
    ring = [(xc + w / 2 * math.cos(a), yc + h / 2 * math.sin(a)) for a in (2 * math.pi * i / 16 for i in range(16))]
    if task == "segment":
        coords = [c for point in ring for c in point]
    elif task == "pose":
        coords = [xc, yc, w, h] + [c for x, y in [*ring, (xc, yc)] for c in (x, y, 2)]
    else:
        coords = [xc - w / 2, yc - h / 2, xc + w / 2, yc - h / 2, xc + w / 2, yc + h / 2, xc - w / 2, yc + h / 2]
    return " ".join([cls, *(f"{c:.6g}" for c in coords)])


@pytest.fixture(scope="session")
def task_data_yaml(tiny_data_yaml: Path, tmp_path_factory: pytest.TempPathFactory):
    """``task_data_yaml(task)``: data.yaml of ``tiny_data_yaml``'s images labelled for ``task`` ("segment", "pose",
    "obb"), from its boxes (see ``_task_line``); treat it as read-only."""
    made: dict[str, Path] = {}

    def make(task: str) -> Path:
        if task not in made:
            root = tmp_path_factory.mktemp(f"tiny-{task}")
            source = tiny_data_yaml.parent
            shutil.copytree(source / "images", root / "images")
            for label in (source / "labels").rglob("*.txt"):
                target = root / label.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                lines = [_task_line(x, task) for x in label.read_text().splitlines() if x.strip()]
                target.write_text("\n".join(lines) + "\n")
            text = tiny_data_yaml.read_text().replace(str(source), str(root))
            extra = f"kpt_shape: [{KEYPOINTS}, 3]\n" if task == "pose" else ""
            (root / "data.yaml").write_text(text + extra)
            made[task] = root / "data.yaml"
        return made[task]

    return make


@pytest.fixture(scope="session")
def cls_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classification data set of 32-pixel shapes: train/ and val/ with a folder per class (3 classes, 8 train and
    3 val images each); treat it as read-only."""
    from yolo_prune.demo.classify import generate_class_folders

    return generate_class_folders(tmp_path_factory.mktemp("tiny-cls") / "data", n_images=33, imgsz=32, n_classes=3,
                                  seed=0, val_ratio=0.3)  # fmt: skip


@pytest.fixture(scope="session")
def run_python():
    """Run Python code in a fresh interpreter (as a user would load a saved model) and return its stdout."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def run(code: str) -> str:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    return run


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A yolov8n that detects the generated 128-pixel shapes (mAP50-95 about 0.15), as a checkpoint in tmp.

    The weights (tests/fixtures/yolov8n_shapes128.pt, fp16) come from the demo's own recipe; they are loaded into
    a model built from Ultralytics' bundled yaml, so the fixture does not depend on pickled module paths.
    """
    from ultralytics.nn.tasks import DetectionModel

    from yolo_prune.checkpoint import save_checkpoint

    saved = torch.load(Path(__file__).parent / "fixtures" / "yolov8n_shapes128.pt", map_location="cpu")
    model = DetectionModel(saved["yaml"], nc=len(saved["names"]), verbose=False)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()})
    model.names = saved["names"]
    return save_checkpoint(tmp_path_factory.mktemp("trained") / "shapes128.pt", model.eval(), {"imgsz": 128})


@pytest.fixture(scope="session")
def shapes128_data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 unseen images (seed 1) like the ones ``trained_model`` learnt, split 20 train / 20 val."""
    root = tmp_path_factory.mktemp("shapes128")
    voc = generate_voc_dataset(root / "voc", n_images=40, imgsz=128, n_classes=3, seed=1)
    return voc_to_yolo(voc, root / "yolo", train_ratio=0.5, seed=0).data_yaml


def _digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (or of ``roots`` themselves), keyed by root number and relative path."""
    out = {}
    for i, root in enumerate(roots):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[f"{i}:{f.relative_to(root) if f != root else f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def digests():
    """``digests(*paths)``: file hashes to prove that inputs were only read (a changed byte or an added file shows)."""
    return _digests
