"""The task data generator: deterministic bytes, each task's label format, labels that Ultralytics reads without
dropping any, polygons that cover the drawn shapes, and one-line refusals of bad options."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from yolo_prune.demo.synthetic import SHAPES
from yolo_prune.demo.tasks import FLIP_IDX, KEYPOINTS, TASKS, generate_task_dataset, render_task_image, shape_mask
from yolo_prune.errors import UserError


def _lines(root: Path) -> dict[str, list[list[float]]]:
    """Label rows per image stem, as numbers."""
    return {
        p.stem: [[float(v) for v in line.split()] for line in p.read_text().splitlines()]
        for p in sorted((root / "labels").rglob("*.txt"))
    }


def _shapes(task: str, i: int, imgsz: int, n_classes: int = 5, seed: int = 0, **kwargs):
    """The shapes of image ``i`` as the generator drew them."""
    return render_task_image(np.random.default_rng([seed, i]), task, imgsz, SHAPES[:n_classes], **kwargs)[1]


@pytest.mark.parametrize("task", TASKS)
def test_same_arguments_give_identical_bytes_and_a_larger_set_starts_with_a_smaller_one(tmp_path, digests, task):
    a = generate_task_dataset(tmp_path / "a", task, n_images=6, imgsz=64, seed=3).parent
    b = generate_task_dataset(tmp_path / "b", task, n_images=6, imgsz=64, seed=3).parent
    c = generate_task_dataset(tmp_path / "c", task, n_images=6, imgsz=64, seed=4).parent
    large = generate_task_dataset(tmp_path / "large", task, n_images=12, imgsz=64, seed=3).parent
    files = {k: v for k, v in digests(a).items() if not k.endswith("data.yaml")}  # data.yaml holds the absolute path
    assert files == {k: v for k, v in digests(b).items() if not k.endswith("data.yaml")}
    assert len(files) == 12
    assert all(digests(c)[k] != v for k, v in files.items() if k.endswith(".jpg"))
    assert files.items() <= digests(large).items()
    assert (a / "data.yaml").read_text() == (b / "data.yaml").read_text().replace(str(b.resolve()), str(a.resolve()))


def test_layout_split_and_data_yaml(tmp_path):
    data_yaml = generate_task_dataset(tmp_path / "pose", "pose", n_images=10, imgsz=64, n_classes=2)
    root = data_yaml.parent
    data = yaml.safe_load(data_yaml.read_text())
    assert data["path"] == str(root.resolve()) and Path(data["path"]).is_absolute()
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    assert data["names"] == {0: "circle", 1: "square"}
    assert data["kpt_shape"] == [KEYPOINTS, 3] and data["flip_idx"] == FLIP_IDX == [0, 1, 4, 3, 2]
    assert sorted(p.stem for p in (root / "images/val").iterdir()) == ["000004", "000009"]  # one in five, spread
    for split in ("train", "val"):
        assert [p.stem for p in sorted((root / "images" / split).iterdir())] == [
            p.stem for p in sorted((root / "labels" / split).iterdir())
        ]
    assert "kpt_shape" not in yaml.safe_load(generate_task_dataset(tmp_path / "s", "segment", n_images=2).read_text())


def test_segment_polygons_are_the_drawn_outlines(tmp_path):
    """The polygon's area is the drawn shape's (soft mask summed; PIL fills its outline's edge pixels too), so the
    label is the shape itself, not a box or an ellipse."""
    root = generate_task_dataset(tmp_path / "seg", "segment", n_images=12, imgsz=128, n_classes=5).parent
    drawn_shapes = set()
    for stem, rows in _lines(root).items():
        shapes = _shapes("segment", int(stem), 128)
        assert len(rows) == len(shapes) >= 1
        for row, shape in zip(rows, shapes):
            assert row[0] == shape.cls
            xy = np.array(row[1:]).reshape(-1, 2) * 128
            assert len(xy) == {"circle": 64, "square": 4, "triangle": 3, "cross": 12, "star": 10}[SHAPES[shape.cls]]
            area = 0.5 * abs(np.dot(xy[:, 0], np.roll(xy[:, 1], 1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], 1)))
            perimeter = np.linalg.norm(xy - np.roll(xy, 1, axis=0), axis=1).sum()
            drawn = np.asarray(shape_mask(shape.outline, 128), dtype=float).sum() / 255
            assert abs(drawn - area) < 0.2 * perimeter  # within a fifth of a pixel along the outline
            drawn_shapes.add(SHAPES[shape.cls])
    assert drawn_shapes == set(SHAPES)


def test_pose_keypoints_are_centre_and_extreme_points_all_visible(tmp_path):
    root = generate_task_dataset(tmp_path / "pose", "pose", n_images=8, imgsz=128, n_classes=5).parent
    for stem, rows in _lines(root).items():
        for row, shape in zip(rows, _shapes("pose", int(stem), 128), strict=True):
            assert len(row) == 5 + 3 * KEYPOINTS
            kpts = np.array(row[5:]).reshape(KEYPOINTS, 3)
            assert (kpts[:, 2] == 2).all()
            xy, outline = kpts[:, :2] * 128, shape.outline
            assert xy[0] == pytest.approx(shape.centre, abs=1e-3)
            assert (xy[1, 1], xy[2, 0], xy[3, 1], xy[4, 0]) == pytest.approx(
                (outline[:, 1].min(), outline[:, 0].max(), outline[:, 1].max(), outline[:, 0].min()), abs=1e-3
            )
            x0, y0, x1, y1 = (row[1] - row[3] / 2, row[2] - row[4] / 2, row[1] + row[3] / 2, row[2] + row[4] / 2)
            assert (x0, y0, x1, y1) == pytest.approx((*outline.min(0) / 128, *outline.max(0) / 128), abs=1e-5)


def test_obb_labels_are_the_turned_square_around_the_shape(tmp_path):
    root = generate_task_dataset(tmp_path / "obb", "obb", n_images=8, imgsz=128, n_classes=5).parent
    angles = []
    for stem, rows in _lines(root).items():
        for row, shape in zip(rows, _shapes("obb", int(stem), 128), strict=True):
            corners = np.array(row[1:]).reshape(4, 2) * 128
            sides = np.linalg.norm(corners - np.roll(corners, 1, axis=0), axis=1)
            assert sides == pytest.approx([sides[0]] * 4, rel=1e-4)  # a square
            assert np.dot(corners[1] - corners[0], corners[2] - corners[1]) == pytest.approx(0, abs=1e-2)
            assert corners.mean(0) == pytest.approx(shape.centre, abs=1e-3)
            axes = np.array([corners[1] - corners[0], corners[2] - corners[1]]) / sides[0]
            reach = np.abs((shape.outline - corners.mean(0)) @ axes.T).max()  # in the square's own frame
            assert reach <= sides[0] / 2 + 1e-2  # the shape lies inside its box
            if SHAPES[shape.cls] != "star":  # the others reach their square's sides
                assert reach == pytest.approx(sides[0] / 2, abs=1e-2)
            angles.append(np.arctan2(*(corners[1] - corners[0])[::-1]) % (np.pi / 2))
    assert np.ptp(angles) > 0.5  # turned by different angles


@pytest.mark.parametrize("task", TASKS)
def test_ultralytics_reads_every_label_and_its_masks_cover_the_drawn_shapes(tmp_path, task):
    from ultralytics.cfg import get_cfg
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    imgsz = 256 if task == "segment" else 64  # Ultralytics' masks grow by up to a pixel each side: big shapes
    data = check_det_dataset(str(generate_task_dataset(tmp_path / task, task, n_images=10, imgsz=imgsz, n_classes=5)))
    cfg = get_cfg(overrides={"task": task, "imgsz": imgsz, "mask_ratio": 1, "overlap_mask": False})
    for split in ("train", "val"):
        ds = YOLODataset(img_path=data[split], imgsz=imgsz, augment=False, data=data, task=task, hyp=cfg, batch_size=1)
        rows = _lines(Path(data["path"]))
        assert len(ds.labels) == len(list(Path(data[split]).iterdir()))  # no image dropped as corrupt
        for j, label in enumerate(ds.labels):
            stem = Path(label["im_file"]).stem
            assert len(label["cls"]) == len(rows[stem])  # no label line dropped
            if task == "pose":
                assert label["keypoints"].shape == (len(rows[stem]), KEYPOINTS, 3)
            if task == "segment":
                shapes = _shapes(task, int(stem), imgsz)
                for mask, shape in zip(ds[j]["masks"].numpy() > 0, shapes, strict=True):
                    drawn = np.asarray(shape_mask(shape.outline, imgsz)) >= 128
                    assert (mask & drawn).sum() / (mask | drawn).sum() > 0.9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"task": "detect"},
        {"task": "segment", "n_images": 1},
        {"task": "segment", "imgsz": 16},
        {"task": "pose", "n_classes": 9},
        {"task": "obb", "classes": ["hexagon"]},
        {"task": "obb", "seed": -1},
        {"task": "segment", "val_ratio": 1.0},
    ],
)
def test_bad_options_are_user_errors(tmp_path, kwargs):
    with pytest.raises(UserError):
        generate_task_dataset(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_never_written_into(tmp_path, digests):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    before = digests(tmp_path / "out")
    with pytest.raises(UserError, match="not empty"):
        generate_task_dataset(tmp_path / "out", "segment", n_images=2)
    assert digests(tmp_path / "out") == before


@pytest.mark.parametrize(
    "args", [["--task", "detect"], ["--task", "pose", "--images", "0"], ["--task", "obb", "--imgsz", "big"]]
)
def test_cli_refuses_bad_options_in_one_line(tmp_path, args):
    out = subprocess.run([sys.executable, "-m", "yolo_prune.demo.tasks", "--out", str(tmp_path / "o"), *args],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_writes_the_data_set(tmp_path):
    args = ["--task", "obb", "--out", str(tmp_path / "o"), "--images", "3", "--imgsz", "64", "--seed", "1"]
    out = subprocess.run([sys.executable, "-m", "yolo_prune.demo.tasks", *args], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "o" / "labels").rglob("*.txt"))) == 3 and (tmp_path / "o" / "data.yaml").is_file()


@pytest.mark.parametrize("args", [["segmentation"], ["pose", "obb"], [""]])
def test_demo_refuses_a_task_it_does_not_know_before_any_work(args):
    demo = Path(__file__).resolve().parents[1] / "scripts" / "demo.sh"
    out = subprocess.run(["bash", str(demo), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert out.stdout == ""  # nothing installed, generated or trained
