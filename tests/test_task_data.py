"""Each task's data check, as a user meets it: a data set labelled for another task, or with label lines its task
cannot read, is refused before any work in one ``error:`` line (exit 2) that says what the model's task reads; what
Ultralytics handles (a pose data set's boxes for a detector) goes through."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yolo_prune.checks import check_labels, check_model
from yolo_prune.cli import main

LINES = {
    "segment": "segmentation models read label lines 'class x1 y1 x2 y2 x3 y3 ... (a polygon)'",
    "obb": "oriented-box models read label lines 'class x1 y1 x2 y2 x3 y3 x4 y4 (the four corners)'",
}
NO_KPT = "has no kpt_shape: a pose data set states its keypoints, e.g. 'kpt_shape: [17, 3]'"


def _data(name: str, tiny_data_yaml: Path, task_data_yaml) -> Path:
    return tiny_data_yaml if name == "detect" else task_data_yaml(name)


def _relabelled(source: Path, out: Path, edit) -> Path:
    """A copy of the data set at ``source`` (a data.yaml) with each label file's lines passed through ``edit``."""
    shutil.copytree(source.parent, out)
    for label in (out / "labels").rglob("*.txt"):
        label.write_text("\n".join(edit(label.read_text().splitlines())) + "\n")
    yaml = out / "data.yaml"
    yaml.write_text(source.read_text().replace(str(source.parent), str(out)))
    return yaml


def _refused(model: str, data: Path, tmp_path: Path, capfd) -> str:
    project = tmp_path / "runs"
    code = main(["--model", model, "--data", str(data), "--imgsz", "64", "--workers", "0", "--device", "cpu",
                 "--project", str(project), "--quiet"])  # fmt: skip
    out, err = capfd.readouterr()
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err and not project.exists()
    return err


@pytest.mark.parametrize("model, data, expected", [
    ("yolov8n-seg.yaml", "detect", "requires equal numbers of boxes and segments"),  # boxes: no polygon for masks
    ("yolov8n-seg.yaml", "detect", LINES["segment"]),
    ("yolo11n-seg.yaml", "pose", LINES["segment"]),  # keypoint lines are no polygons
    ("yolov8n-obb.yaml", "detect", "OBB dataset requires equal numbers of boxes and segments"),  # boxes, no angle
    ("yolov8n-obb.yaml", "detect", LINES["obb"]),
    ("yolo26n-obb.yaml", "pose", LINES["obb"]),
    ("yolov8n-pose.yaml", "detect", NO_KPT),  # a detection data set given to a pose model
    ("yolo11n-pose.yaml", "segment", NO_KPT),
    ("yolo26n-pose.yaml", "obb", NO_KPT),
])  # fmt: skip
def test_a_data_set_of_another_task_is_refused_in_one_line(model, data, expected, tiny_data_yaml, task_data_yaml,
                                                             tmp_path, capfd):  # fmt: skip
    assert expected in _refused(model, _data(data, tiny_data_yaml, task_data_yaml), tmp_path, capfd)


def test_pose_labels_without_the_columns_of_kpt_shape_are_refused(task_data_yaml, tmp_path, capfd):
    """kpt_shape [17, 3] but keypoints written as x y only: every line has 5 + 34 values instead of 5 + 51."""
    data = _relabelled(task_data_yaml("pose"), tmp_path / "xy", lambda lines: [
        " ".join(v for i, v in enumerate(line.split()) if i < 5 or (i - 5) % 3 != 2) for line in lines])  # fmt: skip
    err = _refused("yolov8n-pose.yaml", data, tmp_path, capfd)
    assert "labels require 56 columns each" in err and "pose models read label lines" in err


def test_mixed_box_and_polygon_lines_are_dropped_with_a_warning(task_data_yaml, tmp_path):
    """Ultralytics drops an image whose label file mixes box and polygon lines; the run says so up front."""
    def mix(lines: list[str]) -> list[str]:
        return [*lines, "0 0.5 0.5 0.2 0.2"]

    seg = task_data_yaml("segment")
    data = _relabelled(seg, tmp_path / "mixed", lambda lines: lines)
    first = sorted((data.parent / "labels" / "train").glob("*.txt"))[0]
    first.write_text("\n".join(mix(first.read_text().splitlines())) + "\n")
    _, adapter, info = check_model("yolov8n-seg.yaml", str(data))
    warnings = check_labels(info, adapter.task)
    assert len(warnings) == 1 and "drops 1 of" in warnings[0] and "mix segment and detection rows" in warnings[0]
    assert first.stem in warnings[0]


@pytest.mark.parametrize("model, data", [("yolov8n.yaml", "pose"), ("yolo11n.yaml", "segment"),
                                         ("yolo26n.yaml", "obb"), ("yolo11n-obb.yaml", "segment")])
def test_labels_ultralytics_reads_for_the_models_task_go_through(model, data, tiny_data_yaml, task_data_yaml):
    """A detector on pose, segmentation or oriented-box labels learns their boxes, as Ultralytics reads them; an OBB
    model on polygons learns their smallest rotated rectangles."""
    _, adapter, info = check_model(model, str(_data(data, tiny_data_yaml, task_data_yaml)))
    assert check_labels(info, adapter.task) == []


@pytest.mark.parametrize("model, kind", [("yolo26n-sem.yaml", "semantic-segmentation"),
                                         ("yolo26n-depth.yaml", "depth-estimation")])
def test_yolo26_semantic_segmentation_and_depth_models_are_refused_naming_what_is_supported(model, kind,
                                                                                             tiny_data_yaml, tmp_path,
                                                                                             capfd):  # fmt: skip
    from yolo_prune.structure.tasks import supported_tasks

    err = _refused(model, tiny_data_yaml, tmp_path, capfd)
    assert err.strip() == f"error: {model} is a {kind} model; yolo-prune supports {supported_tasks()} models only"
