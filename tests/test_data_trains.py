"""The generated, converted data set is one that Ultralytics really loads and trains on."""

import math

import yaml

import yolo_prune  # noqa: F401  (before Ultralytics: offline defaults)


def _label_boxes(data_yaml, split: str) -> int:
    labels = data_yaml.parent / "labels" / split
    return sum(len(p.read_text().splitlines()) for p in labels.glob("*.txt"))


def test_ultralytics_trains_one_epoch(tiny_data_yaml, tmp_path):
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    metrics = model.train(
        data=str(tiny_data_yaml),
        epochs=1,
        imgsz=64,
        batch=4,
        workers=0,
        device="cpu",
        plots=False,
        val=True,
        project=str(tmp_path),
        name="t",
        exist_ok=False,
        amp=False,
        verbose=False,
    )
    trainer = model.trainer
    data = yaml.safe_load(tiny_data_yaml.read_text())
    assert trainer.data["nc"] == data["nc"] == 3
    assert trainer.data["names"] == data["names"]

    dataset = trainer.train_loader.dataset  # every image and box written by voc_to_yolo, none rejected as corrupt
    assert len(dataset.im_files) == 10
    assert sum(len(lb["cls"]) for lb in dataset.labels) == _label_boxes(tiny_data_yaml, "train")

    save_dir = tmp_path / "t"
    assert trainer.save_dir.resolve() == save_dir.resolve()
    assert (save_dir / "weights" / "last.pt").is_file() and (save_dir / "weights" / "best.pt").is_file()
    assert (save_dir / "results.csv").is_file()
    assert metrics.results_dict and all(math.isfinite(v) for v in metrics.results_dict.values())
    assert 0 <= metrics.box.map <= metrics.box.map50 <= 1
