"""``--resume`` checks again what the run reads from outside its folder: a data set that changed since the run started
(a class added, a label edited, an image removed) is refused in one line that says what changed, before any work and
without writing anything, and so is a changed teacher; a data set that only moved is found again with ``--resume RUN
--data NEW.yaml``; a run from before ``inputs.json`` still resumes.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_resume_inputs.py
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml

import yolo_prune.pipeline
from yolo_prune import prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main

TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", latency_runs=2, verbose=False, compare_runtimes=False)


def partial_run(tmp_path: Path, tiny_data_yaml: Path, monkeypatch, **settings) -> tuple[Path, Path]:
    """A private copy of the tiny data set, and a run on it stopped right after its base row (epochs 0, 2 steps)."""
    data = tmp_path / "data" / "data.yaml"
    shutil.copytree(tiny_data_yaml.parent, data.parent, ignore=shutil.ignore_patterns("*.cache"))
    data.write_text(data.read_text().replace(str(tiny_data_yaml.parent), str(data.parent)))
    model = save_checkpoint(tmp_path / "model.pt", load_detector("yolov8n.yaml", nc=3), train_args={})

    def stop(run):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(yolo_prune.pipeline, "_refresh_plots", stop)
        with pytest.raises(KeyboardInterrupt):
            prune(model=str(model), data=str(data), project=str(tmp_path / "runs"), iterative_steps=2, epochs=0,
                  target_prune_rate=0.3, **TINY, **settings)  # fmt: skip
    run = tmp_path / "runs" / "exp"
    assert [r["phase"] for r in json.loads((run / "steps.json").read_text())] == ["base"]
    return run, data


@pytest.fixture
def partial(tmp_path, tiny_data_yaml, monkeypatch):
    return partial_run(tmp_path, tiny_data_yaml, monkeypatch)


def resume(run: Path, *more: str) -> int:
    return main(["--resume", str(run), "--quiet", *more])


def one_error_line(capfd) -> str:
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _add_a_class(data: Path) -> None:
    data.write_text(data.read_text().replace("names:", "names:\n  3: star\n", 1).replace("nc: 3", "nc: 4"))


def _edit_a_label(data: Path) -> None:
    label = sorted((data.parent / "labels" / "val").iterdir())[0]
    first, *rest = label.read_text().splitlines(keepends=True)
    label.write_text("".join([f"{(int(first.split()[0]) + 1) % 3}{first[first.index(' '):]}", *rest]))


def _remove_an_image(data: Path) -> None:
    sorted((data.parent / "images" / "train").iterdir())[0].unlink()


@pytest.mark.parametrize("change,expected", [
    (_add_a_class, "it now has 4 classes (run: 3)"),
    (_edit_a_label, "its val labels changed"),
    (_remove_an_image, "its train split now has 9 images (run: 10)"),
], ids=["class added", "label edited", "image removed"])  # fmt: skip
def test_a_changed_data_set_is_refused_saying_what_changed(change, expected, partial, capfd, digests):
    run, data = partial
    change(data)
    before = digests(run)
    capfd.readouterr()
    assert resume(run) == 2
    line = one_error_line(capfd)
    assert line.startswith(f"error: the data set {data} is not the one the run started with: {expected}")
    assert line.endswith("a run resumes only on its own data (start a new run for this one)")
    assert digests(run) == before


def _move(data: Path) -> Path:
    moved = data.parent.parent / "moved"
    shutil.move(data.parent, moved)
    new = moved / data.name
    new.write_text(new.read_text().replace(str(data.parent), str(moved)))
    return new


def test_a_moved_data_set_resumes_with_its_new_yaml(partial, capfd):
    run, data = partial
    new = _move(data)
    assert resume(run, "--data", str(new)) == 0
    assert yaml.safe_load((run / "settings.yaml").read_text())["data"] == str(new)
    assert [r["phase"] for r in json.loads((run / "steps.json").read_text())] == ["base", "prune", "prune"]
    assert (run / "weights" / "final.onnx").is_file()


def test_a_moved_data_set_without_its_new_yaml_says_to_give_it(partial, capfd, digests):
    run, data = partial
    _move(data)
    before = digests(run)
    capfd.readouterr()
    assert resume(run) == 2
    line = one_error_line(capfd)
    assert line.startswith(f"error: data yaml not found: {data}")
    assert line.endswith(f"; if the data set moved, give its yaml: yolo-prune --resume {run} --data NEW.yaml")
    assert digests(run) == before


def test_another_data_set_given_as_the_moved_one_is_refused(partial, capfd, digests):
    run, data = partial
    new = _move(data)
    _edit_a_label(new)
    before = digests(run)
    capfd.readouterr()
    assert resume(run, "--data", str(new)) == 2
    assert "is not the one the run started with: its val labels changed" in one_error_line(capfd)
    assert digests(run) == before


def test_a_run_from_before_inputs_json_resumes_and_is_still_checked_for_its_class_count(partial, capfd, digests):
    run, data = partial
    (run / "inputs.json").unlink()
    text = data.read_text()
    _add_a_class(data)
    before = digests(run)
    capfd.readouterr()
    assert resume(run) == 2
    assert f"the run's model predicts 3 classes but {data} now has 4" in one_error_line(capfd)
    assert digests(run) == before
    data.write_text(text)
    assert resume(run) == 0
    assert [r["phase"] for r in json.loads((run / "steps.json").read_text())] == ["base", "prune", "prune"]


def test_a_changed_teacher_is_refused(tmp_path, tiny_data_yaml, monkeypatch, capfd, digests):
    teacher = save_checkpoint(tmp_path / "teacher.pt", load_detector("yolov8n.yaml", nc=3), train_args={})
    run, _ = partial_run(tmp_path, tiny_data_yaml, monkeypatch, distill=True, teacher=str(teacher))
    save_checkpoint(teacher, load_detector("yolov8s.yaml", nc=3), train_args={})
    before = digests(run)
    capfd.readouterr()
    assert resume(run) == 2
    assert one_error_line(capfd) == (f"error: the teacher {teacher} changed since the run started (its sha256 "
                                     "differs); a run resumes only with its own teacher")  # fmt: skip
    assert digests(run) == before


def test_a_run_from_before_a_setting_was_added_resumes_with_its_default(partial, capfd):
    """A run written before ``latency_budget`` existed has none in its settings.yaml: resume takes the default
    instead of refusing the file as cut off."""
    run, _ = partial
    settings = run / "settings.yaml"
    settings.write_text("".join(x for x in settings.read_text().splitlines(keepends=True)
                                if not x.startswith("latency_budget:")))  # fmt: skip
    assert resume(run) == 0
    assert [r["phase"] for r in json.loads((run / "steps.json").read_text())] == ["base", "prune", "prune"]
