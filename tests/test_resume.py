"""Interrupted runs: a killed run resumes after its last finished step and ends as if it had never stopped, Ctrl-C
ends a run cleanly with the command that resumes it, the same seed chooses the same channels, and no run writes into
the user's model or data set.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_resume.py
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from yolo_prune import prune
from yolo_prune.checks import check_data, data_view
from yolo_prune.structure import TASKS
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", latency_runs=2, verbose=False, compare_runtimes=False)
STEPS = dict(iterative_steps=3, epochs=1, target_prune_rate=0.5)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_data_yaml):
    """A private copy of the tiny data set and a 3-class detector checkpoint: the files the runs must not touch."""
    d = tmp_path_factory.mktemp("resume-inputs")
    shutil.copytree(tiny_data_yaml.parent, d / "data", ignore=shutil.ignore_patterns("*.cache"))
    data = d / "data" / tiny_data_yaml.name
    data.write_text(data.read_text().replace(str(tiny_data_yaml.parent), str(d / "data")))
    model = save_checkpoint(d / "model.pt", load_detector("yolov8n.yaml", nc=3), train_args={})
    return model, data


def cli_args(**settings) -> list[str]:
    return [x for k, v in settings.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def start(model: Path, data: Path, project: str, cwd: Path) -> subprocess.Popen:
    """``yolo-prune`` in its own process in ``cwd``, its output going to files there (a pipe could fill up)."""
    args = ["--model", str(model), "--data", str(data), "--project", str(project), "--quiet"]
    args += cli_args(**STEPS, **{k: v for k, v in TINY.items() if k != "verbose"})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(cwd / "out.txt", "w") as out, open(cwd / "err.txt", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "yolo_prune.cli", *args], stdout=out, stderr=err, env=env,
                                cwd=cwd, preexec_fn=_ctrl_c_as_in_a_terminal)  # fmt: skip


def _ctrl_c_as_in_a_terminal() -> None:
    """A shell starts background jobs with Ctrl-C ignored (and nohup SIGHUP), and children inherit that: give the
    run what a terminal gives it, whatever way the test suite itself was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def wait_for_rows(steps_json: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Poll the step log until it has ``n`` rows, i.e. the run is busy with the step after them."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if steps_json.is_file() and len(json.loads(steps_json.read_text())) >= n:
            return
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"{steps_json} did not reach {n} rows in {timeout}s")


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_killed_run_resumes_as_if_it_had_never_stopped(inputs, tmp_path, run_python, digests):
    model, data = inputs
    before = digests(model, data.parent)
    run_dir = tmp_path / "runs" / "exp"
    proc = start(model, data, str(tmp_path / "runs"), tmp_path)
    wait_for_rows(run_dir / "steps.json", 2, proc)  # base and step 1 done: step 2 is under way
    proc.kill()
    proc.wait(timeout=30)
    assert [r["step"] for r in json.loads((run_dir / "steps.json").read_text())] == [0, 1]
    assert not (run_dir / "weights" / "final.pt").exists()

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Latency settings only affect the measurements at the end, so a resumed run may change them.
    resumed = subprocess.run([sys.executable, "-m", "yolo_prune.cli", "--resume", str(run_dir), "--quiet",
                              "--latency-runs", "3"], capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stdout + resumed.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["base"]["latency"]["runs"] == summary["final"]["latency"]["runs"] == 3
    rows = json.loads((run_dir / "steps.json").read_text())
    assert [(r["step"], r["phase"]) for r in rows] == [(0, "base"), (1, "prune"), (2, "prune"), (3, "prune")]
    assert len((run_dir / "steps.csv").read_text().strip().splitlines()) == 1 + len(rows)
    image = next((data.parent / "images" / "val").iterdir())
    final = run_dir / "weights" / "final.pt"
    out = run_python(
        "from ultralytics import YOLO\n"
        f"r = YOLO({str(final)!r}).predict({str(image)!r}, imgsz=64, device='cpu', verbose=False)\n"
        "print(len(r), r[0].boxes is not None)\n"
    )
    assert out.strip().splitlines()[-1] == "1 True"

    # The same run without the kill: same seed, so the same channels, the same numbers, the same step log.
    reference = prune(model=str(model), data=str(data), project=str(tmp_path / "reference"), **STEPS, **TINY)
    assert comparable(rows) == comparable(reference.steps)
    layers = json.loads((run_dir / "layers.json").read_text())
    assert layers == json.loads((reference.run_dir / "layers.json").read_text())
    assert layers["final"] != layers["base"]
    assert digests(model, data.parent) == before  # not a byte changed and no file added (no labels/*.cache)


def test_ultralytics_writes_into_the_data_view_never_beside_the_users_files(inputs, tmp_path, digests):
    """Scanning a split writes ``labels.cache`` beside its labels and rewrites JPEGs that lack their end marker: both
    happen in the run's view, through links, for folders and for ``.txt`` image lists alike."""
    from ultralytics.data.dataset import YOLODataset

    _, data = inputs
    root = tmp_path / "user"
    shutil.copytree(data.parent, root)
    jpeg = sorted((root / "images" / "train").glob("*.jpg"))[0]
    jpeg.write_bytes(jpeg.read_bytes() + b"\0")  # readable, but Ultralytics "restores" it in place
    val_images = sorted((root / "images" / "val").iterdir())
    (root / "val.txt").write_text("".join(f"./images/val/{p.name}\n" for p in val_images))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: val.txt\nnames: [a, b, c]\n")
    before = digests(root)
    info = check_data(str(root / "data.yaml"), TASKS["detect"])
    view = data_view(info, tmp_path / "run" / "dataset")
    for split in ("train", "val"):
        (folder,) = yaml.safe_load(view.read_text())[split]
        dataset = YOLODataset(img_path=str(view.parent / folder), data=info, task="detect", imgsz=64, augment=False)
        assert len(dataset.labels) == len(list((root / "labels" / split).iterdir()))
        assert sum(len(lb["cls"]) for lb in dataset.labels) > 0
    assert digests(root) == before
    assert len(list(view.parent.rglob("*.cache"))) == 2  # one per split, in the view
    assert not (view.parent / "train" / "0" / "images" / jpeg.name).is_symlink()  # restored: replaced, not written


def test_ctrl_c_ends_the_run_cleanly_and_prints_the_resume_command(inputs, tmp_path):
    """With a relative --project too: everything the run writes, Ultralytics' training folders included, stays in
    its run directory (a relative training folder would land under Ultralytics' own runs/detect/)."""
    from ultralytics.utils import SETTINGS

    model, data = inputs
    run_dir = tmp_path / "runs" / "exp"
    proc = start(model, data, "runs", tmp_path)
    wait_for_rows(run_dir / "steps.json", 2, proc)  # step 1 fine-tuned: step 2 is under way
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert f"yolo-prune --resume {run_dir}" in err
    assert "Traceback" not in out + err
    assert (run_dir / "finetune" / "step_01" / "weights").is_dir()
    assert not (Path(SETTINGS["runs_dir"]) / "detect" / "runs").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_end_the_run_cleanly_and_print_the_resume_command(signum, inputs, tmp_path):
    """What ``kill``, ``docker stop`` or a job scheduler (SIGTERM) and a closed terminal (SIGHUP) send stops the run as
    Ctrl-C does, with the shell's exit code for that signal (128 + its number)."""
    model, data = inputs
    run_dir = tmp_path / "runs" / "exp"
    proc = start(model, data, "runs", tmp_path)
    wait_for_rows(run_dir / "steps.json", 1, proc)  # the base row written: step 1 is under way
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 128 + signum
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert f"stopped by {signum.name}; what the run finished is kept; resume with: yolo-prune --resume {run_dir}" in err
    assert "Traceback" not in out + err


def test_same_seed_same_channels_with_network_slimming(inputs, tmp_path):
    """Slimming's widths come from BatchNorm scales after sparse training: the seed must fix the training too."""
    model, data = inputs
    settings = dict(method="slim", sparse_epochs=1, iterative_steps=1, epochs=0, seed=3, **TINY)
    widths = []
    for name in ("a", "b"):
        result = prune(model=str(model), data=str(data), project=str(tmp_path), name=name, **settings)
        widths.append(json.loads((result.run_dir / "layers.json").read_text()))
    assert widths[0]["final"] == widths[1]["final"]
    assert widths[0]["final"] != widths[0]["base"]


@pytest.fixture
def terminal_ctrl_c():
    """Ctrl-C handled as in a terminal for the test, also when the suite runs as a background job (started with
    Ctrl-C ignored, where the CLI rightly leaves it alone)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class _Finaliser:
    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C landing in a finaliser: Python prints and drops the interrupt


def _swallowed_in_a_finaliser() -> None:
    _Finaliser()


def _swallowed_by_a_bare_except() -> None:
    try:
        signal.raise_signal(signal.SIGINT)
    except:  # noqa: E722 - what torch-pruning's tracer does
        pass


def _turned_into_another_error() -> None:
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:  # what numpy's import did with a Ctrl-C that landed in it
        raise ImportError("cannot load module more than once per process") from None


@pytest.mark.parametrize("swallow", [_swallowed_in_a_finaliser, _swallowed_by_a_bare_except,
                                     _turned_into_another_error])  # fmt: skip
def test_one_ctrl_c_stops_the_run_even_when_the_interrupt_is_swallowed(swallow, monkeypatch, tmp_path, capfd,
                                                                       terminal_ctrl_c):  # fmt: skip
    import yolo_prune.pipeline

    def run_that_swallows_ctrl_c(**kwargs):
        swallow()
        time.sleep(10)
        raise AssertionError("the run went on after Ctrl-C")

    monkeypatch.setattr(yolo_prune.pipeline, "prune", run_that_swallows_ctrl_c)
    assert main(["--model", "m.pt", "--data", "d.yaml", "--project", str(tmp_path)]) == 130
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Exception ignored" not in err
    assert err.strip().endswith("interrupted before the run started; nothing to resume")
