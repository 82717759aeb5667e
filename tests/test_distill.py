"""Distillation while fine-tuning (``--distill``): the teacher is the run's base model, frozen; the student keeps its
pruned structure; the loss reaches the gradient; a resumed run goes on distilling; nothing of the teacher is saved;
bad combinations are refused before any work.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_distill.py
"""

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main
from yolo_prune.distill import DistillTrainer, _branches, head_distillation_loss
from yolo_prune.evaluation import layer_widths
from yolo_prune.methods import make_method
from yolo_prune.structure import ModelAdapter
from yolo_prune.settings import resolve_settings
from yolo_prune.training import finetune

REPO = Path(__file__).resolve().parents[1]
TINY = dict(imgsz=64, batch=4, workers=0, device="cpu", latency_runs=2, verbose=False, max_map_drop=1.0,
            compare_runtimes=False)
TRAIN = dict(epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False, seed=0)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _pruned(model: torch.nn.Module, rate: float = 0.5) -> torch.nn.Module:
    model = copy.deepcopy(model)
    settings = resolve_settings(overrides={"target_prune_rate": rate})
    make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, layer_widths(model), 64)
    return model


def _results(folder: Path) -> list[dict[str, str]]:
    with open(folder / "results.csv") as f:
        return [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def base(trained_model) -> torch.nn.Module:
    return load_detector(trained_model)


@pytest.mark.parametrize("cfg", ["yolov8n.yaml", "yolo26n.yaml"])
def test_the_loss_is_zero_for_the_teacher_itself_and_positive_for_a_pruned_student(cfg):
    """Class-score KL and box KL (reg_max 16) or box L1 (YOLO26's reg_max 1, both end-to-end branches). The student's
    weights are perturbed: an untrained model's outputs hardly depend on its input, so a cut alone changes little."""
    teacher = load_detector(cfg, nc=3).eval()
    student = _pruned(teacher).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        t, s = _branches(teacher(x)), _branches(student(x))
    assert list(t) == (["one2many", "one2one"] if cfg.startswith("yolo26") else [""])
    reg_max = int(teacher.model[-1].reg_max)
    for name in t:
        same = head_distillation_loss(t[name], t[name], reg_max)
        assert all(abs(float(v)) < 1e-5 for v in same)
        cls, box = head_distillation_loss(s[name], t[name], reg_max)
        assert float(cls) > 1e-4 and float(box) > 1e-4


def test_teacher_is_frozen_base_and_student_keeps_its_structure(base, tiny_data_yaml, tmp_path):
    """The trainer distills from the checkpoint it is given, frozen and in eval mode, and trains the pruned module
    itself: same widths and parameter count before, during and after."""
    teacher_pt = save_checkpoint(tmp_path / "base.pt", base, {})
    student = _pruned(base)
    seen = {}

    def check(trainer):
        seen["teacher_params"] = _params(trainer.teacher)
        seen["teacher_trainable"] = any(p.requires_grad for p in trainer.teacher.parameters())
        seen["teacher_training"] = trainer.teacher.training
        seen["teacher_same"] = all(torch.equal(a.cpu(), b) for a, b in zip(trainer.teacher.state_dict().values(),
                                                                          base.state_dict().values()))  # fmt: skip
        seen["student_params"] = _params(trainer.model)
        seen["student_trainable"] = all(p.requires_grad for n, p in trainer.model.named_parameters() if ".dfl" not in n)

    tuned = finetune(student, str(tiny_data_yaml), TRAIN, tmp_path / "ft", trainer_cls=DistillTrainer,
                     callbacks={"on_train_epoch_end": check},
                     distill={"teacher": str(teacher_pt), "weight": 1.0, "warmup": 0.0})  # fmt: skip
    assert seen["teacher_params"] == _params(base) > _params(student)
    assert seen["teacher_same"] and not seen["teacher_trainable"] and not seen["teacher_training"]
    assert seen["student_params"] == _params(student) == _params(tuned) and seen["student_trainable"]
    assert layer_widths(tuned) == layer_widths(student)
    rows = _results(tmp_path / "ft")
    assert float(rows[0]["train/kd_loss"]) > 0
    assert yaml.safe_load((tmp_path / "ft" / "distill.yaml").read_text())["teacher"] == str(teacher_pt)


def test_the_distillation_loss_enters_the_gradient(base, tiny_data_yaml, tmp_path):
    """Same seed, same data order: weight 0 trains exactly as plain fine-tuning, weight 1 moves every trained weight
    elsewhere. Compared in fp32 at the end of training (checkpoints are fp16, too coarse for three steps), with SGD,
    whose step follows the gradient (AdamW's first step is the gradient's sign, which the loss may leave as is)."""
    teacher_pt = save_checkpoint(tmp_path / "base.pt", base, {})
    student = _pruned(base)

    def trained(name: str, weight: float | None) -> dict[str, torch.Tensor]:
        distill = {"teacher": str(teacher_pt), "weight": weight, "warmup": 0.0}
        extra = {} if weight is None else {"trainer_cls": DistillTrainer, "distill": distill}
        weights = {}
        end = {"on_train_end": lambda t: weights.update({k: v.clone() for k, v in t.model.state_dict().items()})}
        args = {**TRAIN, "optimizer": "SGD", "lr0": 0.01, "nbs": 4}  # a step per batch
        finetune(copy.deepcopy(student), str(tiny_data_yaml), args, tmp_path / name, callbacks=end, **extra)
        return weights

    plain, zero, distilled = trained("plain", None), trained("zero", 0.0), trained("distilled", 1.0)
    assert plain.keys() == zero.keys() == distilled.keys()
    assert all(torch.equal(plain[k], zero[k]) for k in plain)
    params = [n for n, _ in student.named_parameters() if ".dfl" not in n]  # Ultralytics freezes DFL
    assert sorted(n for n in params if torch.equal(plain[n], distilled[n])) == []


def _unsafe_globals(pt: Path) -> list[str]:
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(pt))
    return [g for g in found if not g.startswith(("torch.", "ultralytics.", "collections.", "builtins."))]


def test_a_distilled_run_saves_only_the_stock_student(base, trained_model, tiny_data_yaml, tmp_path):
    """Every checkpoint of the run, Ultralytics' own fine-tuning ones included, holds the student alone (stock
    classes, the pruned parameter count), and each step distilled from the run's weights/base.pt."""
    result = prune(model=str(trained_model), data=str(tiny_data_yaml), target_prune_rate=0.5, iterative_steps=2,
                   epochs=1, distill=True, project=str(tmp_path), **TINY)  # fmt: skip
    run = result.run_dir
    steps = json.loads((run / "steps.json").read_text())
    for k in (1, 2):
        folder = run / "finetune" / f"step_{k:02d}"
        assert yaml.safe_load((folder / "distill.yaml").read_text())["teacher"] == str(run / "weights" / "base.pt")
        assert float(_results(folder)[0]["train/kd_loss"]) > 0
    checkpoints = sorted(run.rglob("*.pt"))
    assert {p.name for p in checkpoints} >= {"base.pt", "step_01.pt", "step_02.pt", "final.pt", "best.pt", "last.pt"}
    params = {"base.pt": steps[0]["params"], "final.pt": steps[-1]["params"]}
    for k in (1, 2):
        for name in (f"step_{k:02d}.pt", f"step_{k:02d}/best.pt", f"step_{k:02d}/last.pt"):
            params[name] = steps[k]["params"]
    for pt in checkpoints:
        assert _unsafe_globals(pt) == [], pt
        ckpt = torch.load(pt, map_location="cpu", weights_only=False)
        model = ckpt.get("ema") or ckpt["model"]
        assert type(model).__name__ == "DetectionModel", pt
        assert getattr(model, "criterion", None) is None, pt
        in_run = pt.parent == run / "weights"
        assert _params(model) == params[pt.name if in_run else f"{pt.parent.parent.name}/{pt.name}"], pt


def test_a_resumed_run_goes_on_distilling(trained_model, tiny_data_yaml, tmp_path):
    run = tmp_path / "runs" / "exp"
    args = ["--model", str(trained_model), "--data", str(tiny_data_yaml), "--project", str(tmp_path / "runs"),
            "--distill", "--max-map-drop", "1", "--target-prune-rate", "0.5", "--iterative-steps", "3",
            "--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu",
            "--latency-runs", "2", "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "yolo_prune.cli", *args], stdout=out, stderr=out, env=env)
    deadline = time.time() + 240
    while not ((run / "steps.json").is_file() and len(json.loads((run / "steps.json").read_text())) >= 2):
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "out.txt").read_text()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(json.loads((run / "steps.json").read_text())) == 2
    assert yaml.safe_load((run / "settings.yaml").read_text())["distill"] is True

    result = prune(resume=str(run))
    assert [r["step"] for r in result.steps] == [0, 1, 2, 3]
    for k in (2, 3):
        folder = run / "finetune" / f"step_{k:02d}"
        assert yaml.safe_load((folder / "distill.yaml").read_text())["teacher"] == str(run / "weights" / "base.pt")
        assert float(_results(folder)[0]["train/kd_loss"]) > 0


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    d = tmp_path_factory.mktemp("teachers")
    for cfg, nc, name in (("yolov8n.yaml", 3, "det3"), ("yolov8n.yaml", 5, "nc5"), ("yolov8n-p2.yaml", 3, "p2"),
                          ("yolo26n.yaml", 3, "yolo26")):  # fmt: skip
        save_checkpoint(d / f"{name}.pt", load_detector(cfg, nc=nc), {})
    return d


CASES = [
    ("finetune without teacher", ["--method", "finetune"], "--distill with --method finetune needs --teacher"),
    ("teacher class count", ["--teacher", "{d}/nc5.pt"], "classes 5 against the model's 3"),
    ("teacher levels", ["--teacher", "{d}/p2.pt"], "strides [4, 8, 16, 32] against the model's [8, 16, 32]"),
    ("teacher box encoding", ["--teacher", "{d}/yolo26.pt"], "reg_max 1 against the model's 16"),
    ("teacher missing", ["--teacher", "{d}/nope.pt"], "model not found"),
    ("Ultralytics' distill_model", ["--cfg", "distill_model: {d}/det3.pt"], "distill_model (Ultralytics' feature"),
    ("Ultralytics' dis", ["--cfg", "dis: 1.0"], "dis (Ultralytics' feature distillation) cannot be combined"),
    ("distill not a bool", ["--cfg", "distill: maybe"], "distill must be true or false"),
    ("negative weight", ["--cfg", "distill_weight: -1"], "distill_weight must be >= 0"),
    ("teacher without distill", ["--distill", "false", "--teacher", "{d}/det3.pt"], "only used with --distill"),
]  # fmt: skip


@pytest.mark.parametrize("extra,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_distillation_input_is_one_error_line_exit_2(extra, expected, teachers, tiny_data_yaml, tmp_path, capfd):
    project = tmp_path / "runs"
    args = ["--model", str(teachers / "det3.pt"), "--data", str(tiny_data_yaml), "--imgsz", "64", "--project",
            str(project), "--distill", "--quiet"]  # fmt: skip
    for i, a in enumerate(extra):
        a = a.format(d=teachers)
        if extra[i - 1] == "--cfg" and i:
            (tmp_path / "cfg.yaml").write_text(a + "\n")
            a = str(tmp_path / "cfg.yaml")
        args.append(a)
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    out, err = capfd.readouterr()
    assert code == 2
    assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert expected.format(d=teachers) in err
    assert "Traceback" not in out + err
    assert not project.exists()

