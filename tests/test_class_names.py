"""A model trained under other class names than the data set's: the run says so in one line and every checkpoint it
writes carries the data set's names, class by class id, as Ultralytics' own fine-tuning would name them.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_class_names.py
"""

import pytest
import torch

import yolo_prune.pipeline
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main

DATA_NAMES = {0: "circle", 1: "square", 2: "triangle"}  # the tiny data set's


def saved_names(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"].names


@pytest.mark.parametrize("names,notice", [
    ({0: "cat", 1: "square", 2: "dog"}, "names its classes otherwise than {data} (0: 'cat' -> 'circle', 2: 'dog' -> "
     "'triangle'); the pruned model predicts the same class ids under the data set's names"),
    (DATA_NAMES, None),
], ids=["other names", "same names"])  # fmt: skip
def test_other_class_names_are_noted_and_replaced_by_the_data_sets(names, notice, tiny_data_yaml, tmp_path, capfd,
                                                                    monkeypatch):  # fmt: skip
    model = load_detector("yolov8n.yaml", nc=3)
    model.names = names
    source = save_checkpoint(tmp_path / "model.pt", model, train_args={})

    def stop(run):  # the base checkpoint is written: enough to see the names a run saves
        raise KeyboardInterrupt

    monkeypatch.setattr(yolo_prune.pipeline, "_refresh_plots", stop)
    args = ["--model", str(source), "--data", str(tiny_data_yaml), "--project", str(tmp_path / "runs"), "--imgsz",
            "64", "--epochs", "0", "--device", "cpu", "--workers", "0", "--quiet"]  # fmt: skip
    assert main(args) == 130
    err = capfd.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == ([f"note: {source} {notice.format(data=tiny_data_yaml)}"] if notice else [])
    assert saved_names(tmp_path / "runs" / "exp" / "weights" / "base.pt") == DATA_NAMES
