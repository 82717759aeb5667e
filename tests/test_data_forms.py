"""Every form of a data split that Ultralytics accepts works, and a text list in an encoding that names no files is
refused in one line: a folder, a list of folders, a ``.txt`` list (UTF-8, with or without a byte-order mark, or
UTF-16 with one) and a single image file.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_data_forms.py
"""

import shutil
from pathlib import Path

import pytest

from yolo_prune import prune
from yolo_prune.checks import check_data, check_labels, data_view, record_inputs
from yolo_prune.cli import main
from yolo_prune.errors import UserError
from yolo_prune.structure import TASKS

DETECT = TASKS["detect"]

TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", latency_runs=2, verbose=False, compare_runtimes=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_data_yaml) -> Path:
    """A private copy of the tiny data set, with the val images also split over two folders."""
    root = tmp_path_factory.mktemp("forms") / "data"
    shutil.copytree(tiny_data_yaml.parent, root, ignore=shutil.ignore_patterns("*.cache"))
    val = sorted((root / "images" / "val").iterdir())
    for k, image in enumerate(val):
        for kind, src in (("images", image), ("labels", root / "labels" / "val" / f"{image.stem}.txt")):
            (root / kind / f"val{k}").mkdir()
            shutil.copy2(src, root / kind / f"val{k}" / src.name)
    return root


def val_images(root: Path) -> list[Path]:
    return sorted((root / "images" / "val").iterdir())


def write_yaml(root: Path, name: str, val: str) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(f"path: {root}\ntrain: images/train\nval: {val}\nnames: [a, b, c]\n")
    return path


def listing(root: Path) -> str:
    return "".join(f"./images/val/{p.name}\n" for p in val_images(root))


FORMS = {
    "folder": lambda root: "images/val",
    "list of folders": lambda root: "[images/val0, images/val1]",
    "utf-8 list": lambda root: (root / "utf8.txt").write_text(listing(root), encoding="utf-8") and "utf8.txt",
    "utf-8 list with BOM": lambda root: (root / "bom.txt").write_text(listing(root), encoding="utf-8-sig")
    and "bom.txt",
    "utf-16 list": lambda root: (root / "u16.txt").write_text(listing(root), encoding="utf-16") and "u16.txt",
    "single image": lambda root: f"images/val/{val_images(root)[0].name}",
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_split_form_is_read_as_ultralytics_reads_it(form, root, tmp_path):
    """The run's view of the split holds the same images and labels, and Ultralytics finds boxes in it."""
    data = write_yaml(root, form.replace(" ", "_"), FORMS[form](root))
    info = check_data(str(data), DETECT)
    assert check_labels(info, DETECT) == []
    view = data_view(info, tmp_path / "dataset")
    images = sorted(p.name for p in (view.parent / "val").rglob("*") if p.suffix == ".jpg")
    expected = [val_images(root)[0].name] if form == "single image" else [p.name for p in val_images(root)]
    assert images == expected
    labels = sorted(p.name for p in (view.parent / "val").rglob("*.txt"))
    assert labels == [Path(n).with_suffix(".txt").name for n in expected]


@pytest.mark.parametrize("encoding,first,problem", [
    ("latin-1", "./images/val/caf\u00e9.jpg\n", "byte 0xe9 at offset 16"),
    ("utf-16-le", "", "NUL characters: UTF-16 without a byte-order mark"),
])  # fmt: skip
def test_a_list_in_another_encoding_is_one_error_line(encoding, first, problem, root, tmp_path, capfd):
    name = f"list_{encoding}.txt"
    (root / name).write_text(first + listing(root), encoding=encoding)
    data = write_yaml(root, f"list_{encoding}", name)
    with pytest.raises(UserError, match=problem):
        check_data(str(data), DETECT)
    code = main(["--model", "yolov8n.yaml", "--data", str(data), "--project", str(tmp_path / "runs"), "--quiet"])
    out, err = capfd.readouterr()
    assert code == 2
    assert err.startswith(f"error: the val image list of {data}, {root / name}, is not text in UTF-8 or UTF-16 with")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err
    assert not (tmp_path / "runs").exists()


def test_a_single_image_val_split_trains_and_validates_end_to_end(root, tmp_path):
    data = write_yaml(root, "one_val_image", FORMS["single image"](root))
    result = prune(model="yolov8n.yaml", data=str(data), project=str(tmp_path), iterative_steps=1, epochs=1,
                   target_prune_rate=0.3, **TINY)  # fmt: skip
    assert [r["phase"] for r in result.steps] == ["base", "prune"]
    assert (result.run_dir / "finetune" / "step_01" / "results.csv").is_file()
    assert result.final_pt.is_file() and result.onnx.is_file()


def test_a_list_that_names_a_missing_image_is_warned_about_and_fingerprinted(root, tmp_path):
    """Ultralytics drops an image a list names but that is not there: a warning line, and the run's record of its
    inputs (``record_inputs``, read again on resume) notes the file as missing rather than failing on it."""
    (root / "gap.txt").write_text(f"./images/val/gone.jpg\n{listing(root)}")
    info = check_data(str(write_yaml(root, "gap", "gap.txt")), DETECT)
    (warning,) = check_labels(info, DETECT)
    assert warning.startswith("warning: Ultralytics drops 1 of 3 val images")
    with_gap = record_inputs(info, "yolov8n.yaml", None)["data"]["splits"]["val"]
    (root / "gap.txt").write_text(listing(root))
    without = record_inputs(info, "yolov8n.yaml", None)["data"]["splits"]["val"]
    assert (with_gap["images"], without["images"]) == (3, 2)
