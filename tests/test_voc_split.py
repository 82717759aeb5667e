"""Pascal VOC to YOLO conversion on hand-made annotations: every rule, the untouched source, and the CLI script."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from yolo_prune.errors import UserError
from yolo_prune.tools.voc import SplitSummary, voc_to_yolo

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "voc_split.py"


def _obj(name: str, box: tuple, difficult: int = 0) -> str:
    xmin, ymin, xmax, ymax = box
    return (
        f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>{difficult}</difficult><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def _add(voc: Path, stem: str, objects: list[str], size=(200, 100), with_size: bool = True, suffix: str = ".jpg"):
    """One image (solid grey) and its annotation."""
    Image.new("RGB", size, (128, 128, 128)).save(voc / "JPEGImages" / f"{stem}{suffix}")
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if with_size else ""
    head = f"<folder>VOC</folder><filename>{stem}{suffix}</filename>{size_xml}"
    xml = f"<annotation>{head}{''.join(objects)}</annotation>"
    (voc / "Annotations" / f"{stem}.xml").write_text(xml)


def _voc(root: Path, n_plain: int = 0) -> Path:
    """A VOC folder with one image per rule, plus ``n_plain`` ordinary ones."""
    voc = root / "voc"
    (voc / "JPEGImages").mkdir(parents=True)
    (voc / "Annotations").mkdir()
    _add(voc, "known", [_obj("cat", (11, 21, 60, 80))])  # pixel edges 10..60 x 20..80 of 200x100
    _add(voc, "empty", [])
    _add(voc, "hard", [_obj("dog", (1, 1, 50, 50), difficult=1), _obj("cat", (101, 11, 150, 90))])
    _add(voc, "outside", [_obj("dog", (-10, 6, 250, 50)), _obj("cat", (300, 10, 350, 20))])  # clipped; no area
    _add(voc, "bird", [_obj("bird", (5, 5, 30, 30)), _obj("cat", (41, 41, 90, 90))])
    _add(voc, "nosize", [_obj("dog", (1, 1, 64, 48))], size=(64, 48), with_size=False, suffix=".png")
    for i in range(n_plain):
        _add(voc, f"plain{i:02d}", [_obj("cat", (10 + i, 10, 60 + i, 60))])
    return voc


def _labels(dst: Path) -> dict[str, list[list[float]]]:
    """Label rows by stem, across both splits."""
    return {
        p.stem: [[float(v) for v in line.split()] for line in p.read_text().splitlines()]
        for p in (dst / "labels").rglob("*.txt")
    }


def test_conversion_rules_and_summary(tmp_path, digests):
    voc = _voc(tmp_path)
    before = digests(voc)
    s = voc_to_yolo(voc, tmp_path / "out")
    assert digests(voc) == before  # the source is only read

    assert isinstance(s, SplitSummary)
    assert s.names == ["bird", "cat", "dog"]  # sorted names from the annotations
    assert (s.images, s.train, s.val) == (6, 5, 1)  # round(6 * 0.8) = 5
    assert s.boxes_per_class == {"bird": 1, "cat": 3, "dog": 3}
    assert (s.clipped_boxes, s.zero_area_boxes, s.skipped_unknown, s.dropped_difficult) == (1, 1, 0, 0)
    assert s.empty_images == 1

    labels = _labels(tmp_path / "out")
    assert labels["known"] == [[1, 0.175, 0.5, 0.25, 0.6]]
    assert labels["empty"] == []  # kept, with an empty label file
    assert labels["hard"][0][0] == 2  # difficult objects are kept by default
    assert labels["outside"] == [[2, 0.5, 0.275, 1.0, 0.45]]  # clipped to the image; the no-area box is gone
    assert labels["nosize"] == [[2, 0.5, 0.5, 1.0, 1.0]]  # size read from the image when <size> is missing
    for rows in labels.values():
        for cls, *xywh in rows:
            assert all(0 <= v <= 1 for v in xywh)
            assert xywh[0] - xywh[2] / 2 >= -1e-6 and xywh[0] + xywh[2] / 2 <= 1 + 1e-6
    text = (tmp_path / "out" / "labels").rglob("known.txt").__next__().read_text()
    assert text == "1 0.175000 0.500000 0.250000 0.600000\n"

    images = sorted(p.name for p in (tmp_path / "out" / "images").rglob("*") if p.is_file())
    assert images == sorted(["known.jpg", "empty.jpg", "hard.jpg", "outside.jpg", "bird.jpg", "nosize.png"])
    assert (tmp_path / "out" / "images").rglob("known.jpg").__next__().read_bytes() == (
        voc / "JPEGImages" / "known.jpg"
    ).read_bytes()

    report = str(s)
    assert "clipped to the image: 1" in report and "6 images: 5 train, 1 val" in report
    assert report == s.format()


def test_data_yaml(tmp_path):
    s = voc_to_yolo(_voc(tmp_path), tmp_path / "out")
    data = yaml.safe_load(s.data_yaml.read_text())
    assert data == {
        "path": str((tmp_path / "out").resolve()),
        "train": "images/train",
        "val": "images/val",
        "nc": 3,
        "names": {0: "bird", 1: "cat", 2: "dog"},
    }


def test_drop_difficult(tmp_path):
    s = voc_to_yolo(_voc(tmp_path), tmp_path / "out", drop_difficult=True)
    assert s.dropped_difficult == 1
    assert s.boxes_per_class["dog"] == 2
    assert _labels(tmp_path / "out")["hard"] == [[1, 0.625, 0.5, 0.25, 0.8]]


def test_classes_given_skips_and_counts_the_others(tmp_path):
    s = voc_to_yolo(_voc(tmp_path), tmp_path / "out", classes=["dog", "cat"])
    assert s.names == ["dog", "cat"]  # the given order defines the ids
    assert s.skipped_unknown == 1 and s.unknown_names == ["bird"]
    assert _labels(tmp_path / "out")["bird"] == [[1, 0.325, 0.65, 0.25, 0.5]]
    assert "(bird)" in str(s)
    assert yaml.safe_load(s.data_yaml.read_text())["names"] == {0: "dog", 1: "cat"}


def test_split_sizes_and_determinism(tmp_path):
    voc = _voc(tmp_path, n_plain=14)  # 20 images

    def split(name: str, **kw) -> tuple[set, set]:
        s = voc_to_yolo(voc, tmp_path / name, **kw)
        parts = tuple({p.stem for p in (tmp_path / name / "images" / k).iterdir()} for k in ("train", "val"))
        assert (len(parts[0]), len(parts[1])) == (s.train, s.val)
        return parts

    a, b, c = split("a"), split("b"), split("c", seed=1)
    assert a == b and a != c
    assert len(a[0]) == 16 and len(a[1]) == 4 and not a[0] & a[1] and len(a[0] | a[1]) == 20
    assert tuple(map(len, split("d", train_ratio=0.99))) == (19, 1)  # val always keeps one image
    assert tuple(map(len, split("e", train_ratio=0.01))) == (1, 19)
    for name in "abcde":
        for k in ("train", "val"):
            images = {p.stem for p in (tmp_path / name / "images" / k).iterdir()}
            assert images == {p.stem for p in (tmp_path / name / "labels" / k).iterdir()}


def test_malformed_xml_names_the_file(tmp_path):
    voc = _voc(tmp_path)
    (voc / "Annotations" / "broken.xml").write_text("<annotation><object><name>cat</name>")
    with pytest.raises(UserError, match="broken.xml"):
        voc_to_yolo(voc, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # everything is checked before anything is written


def test_bad_box_names_the_file(tmp_path):
    voc = _voc(tmp_path)
    _add(voc, "nobox", ["<object><name>cat</name><bndbox><xmin>a</xmin></bndbox></object>"])
    with pytest.raises(UserError, match="nobox.xml"):
        voc_to_yolo(voc, tmp_path / "out")


def test_missing_image_names_the_file(tmp_path):
    voc = _voc(tmp_path)
    (voc / "JPEGImages" / "hard.jpg").unlink()
    with pytest.raises(UserError, match="hard.xml"):
        voc_to_yolo(voc, tmp_path / "out")


def test_image_found_by_xml_stem(tmp_path):
    voc = _voc(tmp_path)
    (voc / "Annotations" / "known.xml").write_text(
        (voc / "Annotations" / "known.xml").read_text().replace("known.jpg", "renamed.jpg")
    )
    voc_to_yolo(voc, tmp_path / "out")
    assert _labels(tmp_path / "out")["known"] == [[1, 0.175, 0.5, 0.25, 0.6]]


def test_bad_folders_are_user_errors(tmp_path):
    voc = _voc(tmp_path)
    with pytest.raises(UserError, match="Annotations"):
        voc_to_yolo(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        voc_to_yolo(voc, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    with pytest.raises(UserError, match="inside the source"):
        voc_to_yolo(voc, voc / "yolo")
    with pytest.raises(UserError, match="ratio"):
        voc_to_yolo(voc, tmp_path / "out", train_ratio=1.0)
    (tmp_path / "empty").mkdir()
    voc_to_yolo(voc, tmp_path / "empty")  # an existing empty folder is fine


def _script(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_cli_script(tmp_path):
    voc = _voc(tmp_path)
    ok = _script("--src", str(voc), "--dst", str(tmp_path / "out"), "--classes", "cat,dog", "--drop-difficult")
    assert ok.returncode == 0, ok.stderr
    assert "6 images: 5 train, 1 val" in ok.stdout and "dropped as difficult: 1" in ok.stdout
    assert "skipped, class not in the list: 1 boxes (bird)" in ok.stdout
    assert (tmp_path / "out" / "data.yaml").is_file()

    (voc / "Annotations" / "broken.xml").write_text("<annotation>")
    for args in (
        ("--src", str(voc), "--dst", str(tmp_path / "out2")),  # malformed XML
        ("--src", str(tmp_path / "nowhere"), "--dst", str(tmp_path / "out3")),  # not a VOC folder
        ("--src", str(voc), "--dst", str(tmp_path / "out"), "--train-ratio", "0.5"),  # destination not empty
        ("--dst", str(tmp_path / "out4")),  # argparse: --src missing
    ):
        bad = _script(*args)
        assert bad.returncode == 2
        assert "Traceback" not in bad.stderr and bad.stdout == ""
    bad = _script("--src", str(voc), "--dst", str(tmp_path / "out2"))
    assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1 and "broken.xml" in bad.stderr


def test_cli_script_writes_into_datasets_by_default(tmp_path):
    voc = _voc(tmp_path / "VOCdevkit")
    ok = _script("--src", str(voc), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    data = tmp_path / "datasets" / "voc-yolo" / "data.yaml"  # datasets/<source folder name>-yolo
    assert yaml.safe_load(data.read_text())["path"] == str(data.parent)
    assert sorted(p.name for p in (data.parent / "labels").iterdir()) == ["train", "val"]


def test_example_data_yaml_reads_the_demos_data_set(tmp_path):
    """datasets/example.yaml points at where the demo puts its generated shapes, with the demo's class names."""
    from yolo_prune.checks import check_data
    from yolo_prune.demo.synthetic import generate_voc_dataset
    from yolo_prune.structure import TASKS

    example = Path(__file__).resolve().parents[1] / "datasets" / "example.yaml"
    demo = tmp_path / "datasets" / "generated" / "shapes-400x128-3cls-seed0"  # scripts/demo.sh's folder, fewer images
    generate_voc_dataset(demo / "voc", n_images=10, imgsz=64, n_classes=3, seed=0)
    made = voc_to_yolo(demo / "voc", demo / "yolo", train_ratio=0.8, seed=0)
    shutil.copy(example, tmp_path / "datasets" / "example.yaml")
    info = check_data(str(tmp_path / "datasets" / "example.yaml"), TASKS["detect"])
    assert info["names"] == yaml.safe_load(made.data_yaml.read_text())["names"]
    assert Path(info["val"]) == demo / "yolo" / "images" / "val"
