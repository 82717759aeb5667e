"""A machine running out of something (disk space, a file-size limit, memory, a data-loading worker killed) ends a
run with one ``error:`` line that names the cause and the command that resumes it, exit code 1, no traceback; what
the run had finished is kept, and the resumed run finishes.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_resources.py
"""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
import yaml

from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu", "--latency-runs", "2", "--quiet"]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_file_size_limit_during_fine_tuning_is_one_error_line_and_the_run_resumes(tiny_data_yaml, tmp_path):
    """A real limit (``ulimit -f``) that the base checkpoint fits under and Ultralytics' training checkpoint, which
    also holds the optimizer's state, does not: the write fails with EFBIG (SIGXFSZ ignored, as the limit's signal
    would otherwise kill the process without a word)."""
    model = save_checkpoint(tmp_path / "model.pt", load_detector("yolov8n.yaml", nc=3), train_args={})
    limit = int(model.stat().st_size * 1.05)

    def file_size_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run_dir = tmp_path / "runs" / "exp"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "yolo_prune.cli"]
    args = ["--model", str(model), "--data", str(tiny_data_yaml), "--project", str(tmp_path / "runs"),
            "--iterative-steps", "1", "--target-prune-rate", "0.1", "--epochs", "1", *TINY]  # fmt: skip
    p = subprocess.run(cmd + args, preexec_fn=file_size_limit, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "Traceback" not in p.stdout + p.stderr
    assert error_lines(p.stderr) == [
        "error: a file grew past the file-size limit (ulimit -f): File too large; what the run finished is kept; "
        f"resume with: yolo-prune --resume {run_dir}"
    ]  # fmt: skip
    assert [r["phase"] for r in json.loads((run_dir / "steps.json").read_text())] == ["base"]
    base = (run_dir / "weights" / "base.pt").read_bytes()

    resumed = subprocess.run(cmd + ["--resume", str(run_dir), "--quiet"], capture_output=True, text=True, env=env,
                             timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["phase"] for r in json.loads((run_dir / "steps.json").read_text())] == ["base", "prune"]
    assert (run_dir / "weights" / "base.pt").read_bytes() == base
    assert (run_dir / "weights" / "final.onnx").is_file()


def _python_out_of_memory() -> None:
    bytearray(2**62)


def _torch_out_of_memory_on_the_cpu() -> None:
    torch.empty(2**50, dtype=torch.uint8)


def _out_of_memory_on_a_gpu() -> None:  # what torch raises when CUDA cannot allocate; no GPU needed to raise it
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB.")


class _KillsItsWorker(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's out-of-memory killer does to a worker
        return torch.zeros(1)


def _a_data_loading_worker_killed() -> None:
    try:
        list(torch.utils.data.DataLoader(_KillsItsWorker(), num_workers=1))
    except RuntimeError as e:
        raise ValueError("what Ultralytics' loader made of it") from e


def _checkpoint_saved_to_a_path_past_a_file_size_limit() -> None:
    """What Ultralytics' ``strip_optimizer`` does at the end of training: ``torch.save`` to a path, whose C++ writer
    turns EFBIG or ENOSPC into a RuntimeError without an errno."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
            torch.save(torch.zeros(1_000_000), Path(tmp) / "last.pt")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, ignored)


@pytest.mark.parametrize("fail,cause", [
    (_python_out_of_memory, "error: out of memory (Python could not allocate more)"),
    (_torch_out_of_memory_on_the_cpu, "error: out of memory ([enforce fail at"),
    (_out_of_memory_on_a_gpu, "error: out of memory on the device (CUDA out of memory. Tried to allocate 20.00 MiB.)"),
    (_a_data_loading_worker_killed, "error: a data-loading worker died, usually killed for lack of memory "
     "(DataLoader worker (pid"),
    (_checkpoint_saved_to_a_path_past_a_file_size_limit, "error: a checkpoint could not be written ([enforce fail at "
     "inline_container.cc"),
], ids=["MemoryError", "torch CPU", "torch.OutOfMemoryError", "worker killed", "torch.save to a path"])  # fmt: skip
def test_running_out_of_memory_or_disk_is_one_error_line_with_the_resume_command(fail, cause, monkeypatch, tmp_path, capfd):
    """Each failure as the library raises it, in a run that has written its first step."""
    import yolo_prune.pipeline

    run_dir = tmp_path / "exp"

    def run_that_runs_out(**kwargs):
        run_dir.mkdir()
        (run_dir / "settings.yaml").write_text(yaml.safe_dump({"model": "m.pt"}))
        (run_dir / "steps.json").write_text("[]")
        fail()

    monkeypatch.setattr(yolo_prune.pipeline, "prune", run_that_runs_out)
    assert main(["--model", "m.pt", "--data", "d.yaml", "--project", str(tmp_path)]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    (line,) = error_lines(err)
    assert line.startswith(cause)
    assert line.endswith(f"; what the run finished is kept; resume with: yolo-prune --resume {run_dir}")


def test_other_errors_still_show_their_traceback(monkeypatch, tmp_path):
    """Only a resource running out becomes a line: a bug stays a bug, with the traceback that locates it."""
    import yolo_prune.pipeline

    def run_with_a_bug(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(yolo_prune.pipeline, "prune", run_with_a_bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--model", "m.pt", "--data", "d.yaml", "--project", str(tmp_path)])
