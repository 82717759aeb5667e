"""The synthetic shapes generator: deterministic bytes, valid VOC XML, boxes inside the image, options respected."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from yolo_prune.demo.synthetic import SHAPES, generate_voc_dataset, main
from yolo_prune.errors import UserError


def _objects(xml: Path) -> list[tuple[str, list[int]]]:
    root = ET.parse(xml).getroot()
    return [
        (o.findtext("name"), [int(o.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")])
        for o in root.iter("object")
    ]


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path, digests):
    a = generate_voc_dataset(tmp_path / "a", n_images=5, imgsz=64, seed=3)
    b = generate_voc_dataset(tmp_path / "b", n_images=5, imgsz=64, seed=3)
    c = generate_voc_dataset(tmp_path / "c", n_images=5, imgsz=64, seed=4)
    assert digests(a) == digests(b)
    assert len(digests(a)) == 10
    assert all(digests(a)[k] != digests(c)[k] for k in digests(a) if k.endswith(".jpg"))


def test_larger_set_starts_with_the_smaller_one(tmp_path, digests):
    small = digests(generate_voc_dataset(tmp_path / "s", n_images=3, imgsz=64))
    large = digests(generate_voc_dataset(tmp_path / "l", n_images=6, imgsz=64))
    assert small.items() <= large.items()


def test_annotations_are_valid_voc_with_boxes_inside_the_image(tmp_path):
    out = generate_voc_dataset(tmp_path / "voc", n_images=12, imgsz=96, n_classes=4, min_objects=2, max_objects=4)
    xmls = sorted((out / "Annotations").glob("*.xml"))
    assert [p.stem for p in xmls] == [p.stem for p in sorted((out / "JPEGImages").glob("*.jpg"))] == [
        f"{i:06d}" for i in range(12)
    ]
    names = set()
    for xml in xmls:
        root = ET.parse(xml).getroot()
        assert root.tag == "annotation"
        assert root.findtext("filename") == f"{xml.stem}.jpg"
        assert [int(root.findtext(f"size/{t}")) for t in ("width", "height", "depth")] == [96, 96, 3]
        with Image.open(out / "JPEGImages" / root.findtext("filename")) as im:
            assert im.size == (96, 96) and im.mode == "RGB"
        objects = _objects(xml)
        assert 2 <= len(objects) <= 4
        for obj in root.iter("object"):
            assert obj.findtext("pose") == "Unspecified"
            assert obj.findtext("truncated") == obj.findtext("difficult") == "0"
        for name, (x0, y0, x1, y1) in objects:
            names.add(name)
            assert 1 <= x0 < x1 <= 96 and 1 <= y0 < y1 <= 96
            assert x1 - x0 >= 0.1 * 96 and y1 - y0 >= 0.1 * 96  # large enough to learn quickly
    assert names == set(SHAPES[:4])


def test_classes_by_name(tmp_path):
    out = generate_voc_dataset(tmp_path / "voc", n_images=6, imgsz=64, classes=["star", "cross"], max_objects=2)
    assert {n for x in (out / "Annotations").glob("*.xml") for n, _ in _objects(x)} == {"star", "cross"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_images": 0},
        {"imgsz": 16},
        {"n_classes": 9},
        {"classes": ["hexagon"]},
        {"min_objects": 3, "max_objects": 1},
        {"seed": -1},
    ],
)
def test_bad_options_are_user_errors(tmp_path, kwargs):
    with pytest.raises(UserError):
        generate_voc_dataset(tmp_path / "voc", **kwargs)


def test_refuses_non_empty_output(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        generate_voc_dataset(tmp_path, n_images=1, imgsz=64)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_cli(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "voc"), "--images", "2", "--imgsz", "64", "--seed", "1"]) == 0
    assert len(list((tmp_path / "voc" / "JPEGImages").glob("*.jpg"))) == 2
    assert main(["--out", str(tmp_path / "voc"), "--images", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "--imgsz" in capsys.readouterr().out
