"""The hard data set: identical bytes per settings, look-alike classes, valid boxes, the occlusion rule, cache keys."""

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from yolo_prune.demo import hard
from yolo_prune.demo.hard import (
    CLASSES,
    DISTRACTORS,
    LOOK_ALIKES,
    HardSettings,
    draw_shape,
    generate_hard_voc,
    hard_dataset,
    main,
    render_scene,
)
from yolo_prune.errors import UserError

TINY = {"n_images": 4, "imgsz": 96}


def _objects(xml: Path) -> list[tuple[str, list[int], str]]:
    root = ET.parse(xml).getroot()
    return [
        (o.findtext("name"), [int(o.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")],
         o.findtext("truncated"))
        for o in root.iter("object")
    ]  # fmt: skip


def test_same_settings_give_identical_bytes_and_other_seed_differs(tmp_path, digests):
    a = generate_hard_voc(tmp_path / "a", **TINY, seed=3)
    b = generate_hard_voc(tmp_path / "b", **TINY, seed=3)
    c = generate_hard_voc(tmp_path / "c", **TINY, seed=4)
    assert digests(a) == digests(b)
    assert len(digests(a)) == 8
    assert all(digests(a)[k] != digests(c)[k] for k in digests(a))


def test_every_class_has_a_look_alike_that_differs_only_in_a_detail():
    assert sorted(name for pair in LOOK_ALIKES for name in pair) == sorted(CLASSES)
    assert set(DISTRACTORS).isdisjoint(CLASSES)
    for first, second in LOOK_ALIKES:
        # the same random draws give both the same pose (orientation, rotation)
        a = draw_shape(first, 64, np.random.default_rng(0))[0] >= 128
        b, detail = draw_shape(second, 64, np.random.default_rng(0))
        b = b >= 128
        iou = (a & b).sum() / (a | b).sum()
        if first == "plus":  # the same cross, turned by 45 degrees: nearly the same area, different pixels
            assert abs(b.sum() / a.sum() - 1) < 0.15 and iou < 0.5
        else:
            assert 0.55 <= iou <= 0.95, (first, second, iou)
        if detail.any():  # the second lacks what its detail zone covers and is the first everywhere else
            core = detail.copy()  # its inner pixels: the zone's edge may be partly covered
            for shift, axis in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
                core &= np.roll(detail, shift, axis)
            assert not b[core].any() and a[core].all()
            assert ((a ^ b) & ~detail).sum() <= 0.02 * a.sum()
    circle, ring = (draw_shape(n, 64, np.random.default_rng(0))[0] for n in ("circle", "ring"))
    assert circle[32, 32] == 255 and ring[32, 32] == 0
    plus, x_cross = (draw_shape(n, 64, np.random.default_rng(0))[0] >= 128 for n in ("plus", "x_cross"))
    assert plus[32, 2] and not plus[8, 8] and x_cross[8, 8] and not x_cross[32, 2]


def test_shapes_fill_their_square_so_that_sizes_are_comparable():
    for name in CLASSES:
        mask = draw_shape(name, 64, np.random.default_rng(1))[0] >= 128
        ys, xs = np.nonzero(mask)
        assert max(xs.max() - xs.min(), ys.max() - ys.min()) + 1 >= 62, name


def test_boxes_are_valid_and_every_class_appears(tmp_path):
    out = generate_hard_voc(tmp_path / "voc", n_images=24, imgsz=128, classes=CLASSES, max_objects=10, seed=0)
    xmls = sorted((out / "Annotations").glob("*.xml"))
    assert [p.stem for p in xmls] == [p.stem for p in sorted((out / "JPEGImages").glob("*.jpg"))]
    seen, flags = set(), set()
    for xml in xmls:
        objects = _objects(xml)
        assert 1 <= len(objects) <= 10
        for name, (x0, y0, x1, y1), truncated in objects:
            seen.add(name)
            flags.add(truncated)
            assert 1 <= x0 < x1 <= 128 and 1 <= y0 < y1 <= 128
    assert seen == set(CLASSES)  # distractors are never labelled
    assert flags == {"0", "1"}  # objects cut by the border are marked


def test_occlusion_rule_holds_and_is_exercised():
    settings = HardSettings(n_images=30, imgsz=96, max_objects=10, max_distractors=8, min_visible=0.6)
    occluded = truncated = 0
    for i in range(settings.n_images):
        scene = render_scene(settings, i)
        boxes = iter(box for _, box in scene.objects)
        for k, shape in enumerate(scene.shapes):
            on_top = scene.owner == k
            assert shape.visible == on_top.sum()
            if not shape.labelled:
                continue
            assert shape.visible >= 0.6 * shape.area  # at least 60 % visible, else it is never drawn
            assert not np.isin(scene.owner[shape.detail], np.arange(k + 1, len(scene.shapes))).any()  # detail on top
            ys, xs = np.nonzero(on_top)
            assert next(boxes) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)  # the visible pixels' box
            truncated += shape.truncated
            occluded += not shape.truncated and shape.visible < shape.area
    assert occluded >= 5 and truncated >= 5


def test_every_setting_changes_the_cache_folder():
    d = HardSettings()
    changed = {"n_images": d.n_images + 1, "imgsz": d.imgsz + 32, "seed": d.seed + 1, "classes": d.classes[:4],
               "min_objects": d.min_objects + 1, "max_objects": d.max_objects + 1,
               "min_distractors": d.min_distractors + 1, "max_distractors": d.max_distractors + 1,
               "min_size": d.min_size - 0.01, "max_size": d.max_size - 0.05, "min_visible": d.min_visible + 0.1,
               "min_contrast": d.min_contrast - 10, "noise": d.noise + 1, "quality": d.quality + 1}  # fmt: skip
    assert set(changed) == {f.name for f in dataclasses.fields(HardSettings)}
    names = {d.name} | {dataclasses.replace(d, **{k: v}).name for k, v in changed.items()}
    assert len(names) == len(changed) + 1
    assert d.name.startswith(f"hard-{d.n_images}x{d.imgsz}-{len(d.classes)}cls-seed0-")


def test_dataset_is_generated_once_and_split_in_class_order(tmp_path, monkeypatch):
    data_yaml = hard_dataset(tmp_path, n_images=10, imgsz=64, classes=["ring", "circle"])
    name = HardSettings(n_images=10, imgsz=64, classes=("ring", "circle")).name
    assert data_yaml == tmp_path / name / "yolo" / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == {0: "ring", 1: "circle"} and data["path"] == str(data_yaml.parent.resolve())
    assert len(list((data_yaml.parent / "images" / "train").iterdir())) == 8
    assert not (data_yaml.parent.parent / "voc.partial").exists()

    def refuse(*args, **kwargs):
        raise AssertionError("the cached set was generated again")

    monkeypatch.setattr(hard, "generate_hard_voc", refuse)
    assert hard_dataset(tmp_path, n_images=10, imgsz=64, classes=["ring", "circle"]) == data_yaml


@pytest.mark.parametrize(
    "overrides",
    [{"n_images": 1}, {"imgsz": 16}, {"seed": -1}, {"classes": ["oval"]}, {"classes": []},
     {"min_objects": 5, "max_objects": 2}, {"min_size": 0.01}, {"min_visible": 0.1}, {"colour": "red"}],
)  # fmt: skip
def test_bad_settings_are_user_errors(tmp_path, overrides):
    with pytest.raises(UserError):
        generate_hard_voc(tmp_path / "voc", **overrides)
    assert not (tmp_path / "voc").exists()


def test_cli_prints_the_data_yaml_alone_and_refuses_bad_input(tmp_path, capsys):
    argv = ["--root", str(tmp_path), "--images", "4", "--imgsz", "64", "--classes", "square,notched_square"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.endswith("data.yaml\n") and out.count("\n") == 1
    assert yaml.safe_load(Path(out.strip()).read_text())["names"] == {0: "square", 1: "notched_square"}
    assert main(["--root", str(tmp_path), "--imgsz", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
