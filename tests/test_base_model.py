"""The demo's base-model cache: keyed on what decides the weights, reused without training, path alone on stdout."""

import shutil

import pytest
import yaml

import yolo_prune  # noqa: F401  (before Ultralytics: offline defaults)
from yolo_prune.checkpoint import load_detector
from yolo_prune.demo import base_model
from yolo_prune.demo.base_model import RECIPE, cache_key, data_fingerprint, train_base_model
from yolo_prune.errors import UserError


@pytest.fixture
def data_copy(tiny_data_yaml, tmp_path):
    """A private copy of the tiny data set (with its own absolute path), free to modify."""
    root = shutil.copytree(tiny_data_yaml.parent, tmp_path / "data", ignore=shutil.ignore_patterns("*.cache"))
    data = yaml.safe_load((root / "data.yaml").read_text())
    (root / "data.yaml").write_text(yaml.safe_dump({**data, "path": str(root)}, sort_keys=False))
    return root / "data.yaml"


def test_fingerprint_ignores_location_and_label_caches(tiny_data_yaml, data_copy, monkeypatch):
    (data_copy.parent / "labels" / "train.cache").write_bytes(b"written by Ultralytics")
    monkeypatch.chdir(data_copy.parent.parent)  # a relative yaml path, as the demo passes it
    assert data_fingerprint(data_copy.relative_to(data_copy.parent.parent)) == data_fingerprint(tiny_data_yaml)


def test_fingerprint_follows_labels_and_classes(data_copy):
    before = data_fingerprint(data_copy)
    label = sorted((data_copy.parent / "labels" / "train").glob("*.txt"))[0]
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    changed_label = data_fingerprint(data_copy)
    data = yaml.safe_load(data_copy.read_text())
    data_copy.write_text(yaml.safe_dump({**data, "names": {**data["names"], 0: "disc"}}, sort_keys=False))
    assert len({before, changed_label, data_fingerprint(data_copy)}) == 3


def test_key_follows_recipe_and_model_but_not_device(tiny_data_yaml):
    key = cache_key(tiny_data_yaml, "yolov8n.yaml", RECIPE)
    assert cache_key(tiny_data_yaml, "yolov8n.yaml", {**RECIPE, "device": "0", "workers": 4}) == key
    assert cache_key(tiny_data_yaml, "yolov8n.yaml", {**RECIPE, "epochs": RECIPE["epochs"] + 1}) != key
    assert cache_key(tiny_data_yaml, "yolov8s.yaml", RECIPE) != key


def test_missing_data_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        data_fingerprint(tmp_path / "nope.yaml")


def test_trains_once_then_reuses_the_cache(tiny_data_yaml, tmp_path, monkeypatch, capsys):
    small = {"epochs": 1, "imgsz": 64, "batch": 4}
    first = train_base_model(tiny_data_yaml, cache_dir=tmp_path / "cache", **small)
    assert not first.cached and first.weights.is_file() and first.seconds > 0
    assert 0 <= first.map50_95 <= first.map50 <= 1
    assert load_detector(first.weights).model[-1].nc == 3

    import ultralytics

    monkeypatch.setattr(ultralytics, "YOLO", None)  # a cache hit must not build or train anything
    second = train_base_model(tiny_data_yaml, cache_dir=tmp_path / "cache", **small)
    assert second.cached and second.weights == first.weights and second.map50_95 == first.map50_95

    capsys.readouterr()
    argv = ["--data", str(tiny_data_yaml), "--cache-dir", str(tmp_path / "cache"), "--epochs", "1", "--imgsz", "64",
            "--batch", "4"]  # fmt: skip
    assert base_model.main(argv) == 0
    out = capsys.readouterr()
    assert out.out == f"{first.weights}\n" and "cached" in out.err


def test_fingerprint_of_a_class_folder_data_set_follows_its_files(tmp_path):
    for split in ("train", "val"):
        (tmp_path / "cls" / split / "circle").mkdir(parents=True)
        (tmp_path / "cls" / split / "circle" / "0.jpg").write_bytes(b"image")
    before = data_fingerprint(tmp_path / "cls")
    (tmp_path / "cls" / "val" / "circle" / "0.jpg").write_bytes(b"other image")
    assert data_fingerprint(tmp_path / "cls") != before


def test_an_entry_cached_before_metrics_were_named_by_task_still_loads(tiny_data_yaml, tmp_path, monkeypatch):
    import ultralytics

    entry = tmp_path / "cache" / cache_key(tiny_data_yaml, "yolov8n.yaml", {**RECIPE, "epochs": 1})
    entry.mkdir(parents=True)
    (entry / "base.pt").write_bytes(b"checkpoint")
    (entry / "base.json").write_text('{"map50_95": 0.8, "map50": 0.95, "seconds": 60.0, "recipe": {}}')
    monkeypatch.setattr(ultralytics, "YOLO", None)  # a cache hit must not build or train anything
    base = train_base_model(tiny_data_yaml, cache_dir=tmp_path / "cache", epochs=1)
    assert base.cached and base.task == "detect" and base.metrics == {"map50_95": 0.8, "map50": 0.95}
    assert (base.map50_95, base.map50) == (0.8, 0.95)
