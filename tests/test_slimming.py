"""Network slimming on real YOLOv8n models and Ultralytics' real trainer: each optimizer step moves every penalised
|gamma| lr * sr toward zero whatever the optimizer, clipping, loss scale and accumulation, with sr annealed from 100 %
to 10 %; the sparse phase hands on its last epoch's EMA and logs those weights; the global |gamma| threshold removes
the requested share with a per-layer floor; coupled channels stay matched; and a whole slim run produces a model and
ONNX file that load and agree."""

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from ultralytics.nn.modules import C2f

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.errors import RunError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import ONNX_TOLERANCE
from yolo_prune.methods import make_method
from yolo_prune.structure import ModelAdapter
from yolo_prune.methods.slimming import SparsityLog, gammas
from yolo_prune.pipeline import Run
from yolo_prune.settings import resolve_settings
from yolo_prune.training import SparseTrainer, annealed_sr, finetune

IMGSZ = 64


def stock_model() -> nn.Module:
    return load_detector("yolov8n.yaml", nc=3)


def with_random_gammas(model: nn.Module, seed: int) -> nn.Module:
    """BN scales spread over [0, 1), as after sparse training, so that the global threshold has choices to make."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=g))
    return model


def bn_names(model: nn.Module, settings: dict) -> list[str]:
    return make_method(settings, ModelAdapter.of(model, "model")).penalised(model, IMGSZ)


def sparse_train(model, data, sr, nbs=2, trainer_cls=SparseTrainer, tmp=None, callbacks=None, weights="best",
                 **args):
    settings = resolve_settings(overrides={"method": "slim"})
    args = {**dict(epochs=1, imgsz=IMGSZ, batch=2, nbs=nbs, workers=0, device="cpu", plots=False, optimizer="SGD",
                   lr0=0.05, warmup_epochs=0, seed=0, deterministic=True), **args}  # fmt: skip
    sparse = {"sr": sr, "anneal": False, "bns": bn_names(model, settings)}
    model = finetune(model, str(data), args, tmp, trainer_cls=trainer_cls, callbacks=callbacks, weights=weights,
                     sparse=sparse)
    return model, sparse["bns"]


class SetUp(Exception):
    """Raised from ``on_train_start`` to stop a run once Ultralytics has built its model, optimizer, scaler and EMA."""


def bn_lr(trainer: SparseTrainer) -> float:
    penalised = {id(bn.weight) for bn in trainer.bns}
    (lr,) = {g["lr"] for g in trainer.optimizer.param_groups for p in g["params"] if id(p) in penalised}
    return lr


def data_gradients(trainer: SparseTrainer, scale: float = 1.0) -> float:
    """Gradients as a backward pass under a loss scale would leave them: large on every parameter (Ultralytics clips
    the total norm to 10), none on the penalised BN scales, so that only the penalty can move those. Returns the
    unscaled norm."""
    for p in trainer.model.parameters():
        p.grad = torch.full_like(p, 100.0 * scale)
    for bn in trainer.bns:
        bn.weight.grad.zero_()
    return torch.nn.utils.get_total_norm([p.grad for p in trainer.model.parameters()]).item() / scale


@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_penalty_step_is_lr_times_sr_whatever_the_optimizer_clipping_and_loss_scale(tiny_data_yaml, tmp_path,
                                                                                    optimizer):  # fmt: skip
    """Each optimizer step, through Ultralytics' own ``optimizer_step`` (unscale, clip, step, EMA), pulls every
    penalised |gamma| exactly lr * sr toward zero and no further, with SGD as with AdamW, with clipping at work,
    under a loss scale; a step that AMP skips for overflowing gradients does not shrink. Added to the gradients
    instead, the penalty was clipped away with SGD, and AdamW moved gamma by about lr whatever sr was."""
    sr, seen = 0.1, {}

    def experiment(trainer: SparseTrainer) -> None:
        lr, steps = bn_lr(trainer), []
        w = trainer.bns[0].weight.data
        w[:4] = torch.tensor([0.4 * lr * sr, -0.4 * lr * sr, -0.3, 0.3])  # two reach zero, one negative shrinks up
        for trainer.sr, scale in ((sr, 1.0), (2 * sr, 1.0), (sr, 2.0**16)):
            trainer.scaler = torch.amp.GradScaler("cpu", enabled=scale > 1)
            trainer.scaler.scale(torch.zeros(()))
            before = [bn.weight.detach().clone() for bn in trainer.bns]
            assert data_gradients(trainer, scale) > 1e3  # clipping scales the gradients down by over 100x
            trainer.optimizer_step()
            after = [bn.weight.detach() for bn in trainer.bns]
            expected = [b.sign() * (b.abs() - lr * trainer.sr).clamp(min=0) for b in before]
            steps.append(max((a - e).abs().max().item() for a, e in zip(after, expected)))
        assert w[:4].tolist() == pytest.approx([0.0, 0.0, -0.3 + 4 * lr * sr, 0.3 - 4 * lr * sr], abs=1e-7)
        trainer.scaler.scale(torch.zeros(()))
        data_gradients(trainer, 2.0**16)
        trainer.model.model[0].conv.weight.grad[0] = float("inf")  # overflow: the scaler skips this step
        before = [bn.weight.detach().clone() for bn in trainer.bns]
        trainer.optimizer_step()
        moved = any(not torch.equal(bn.weight, b) for bn, b in zip(trainer.bns, before))
        seen.update(errors=steps, skipped_moved=moved)
        raise SetUp

    with pytest.raises(SetUp):
        sparse_train(stock_model(), tiny_data_yaml, sr, tmp=tmp_path / "s", optimizer=optimizer, lr0=0.01,
                     callbacks={"on_train_start": experiment})  # fmt: skip
    assert seen["errors"] == pytest.approx([0.0] * 3, abs=1e-7)
    assert not seen["skipped_moved"]


def test_penalty_in_training_scales_with_sr_under_adamw(tiny_data_yaml, tmp_path):
    """In real training with AdamW (what ``optimizer: auto`` picks for short runs), sr and 2 * sr lower mean |gamma|
    by sr * sum(lr) and twice that, against the same run without the penalty."""
    start, lr0, steps = stock_model(), 0.002, 5  # 10 training images, batch 2: 5 optimizer steps at lr0
    kw = dict(optimizer="AdamW", lr0=lr0, lrf=1.0)
    means = {}
    for sr in (0.0, 0.5, 1.0):
        model, names = sparse_train(start, tiny_data_yaml, sr, tmp=tmp_path / f"sr{sr}", **kw)
        means[sr] = gammas(model, names).mean()
    assert means[0.0] - means[0.5] == pytest.approx(0.5 * steps * lr0, rel=0.05)
    assert means[0.0] - means[1.0] == pytest.approx(1.0 * steps * lr0, rel=0.05)


class RecordingTrainer(SparseTrainer):
    """Records the accumulation and the sr of each proximal step."""

    records: list = []

    def proximal_step(self, optimizer, args=(), kwargs=None):
        type(self).records.append((self.accumulate, self.current_sr()))
        super().proximal_step(optimizer, args, kwargs)


@pytest.mark.parametrize("nbs", [2, 4])  # batch 2: accumulate 1, then gradients of 2 batches per optimizer step
def test_penalty_is_once_per_optimizer_step_whatever_the_accumulation(tiny_data_yaml, tmp_path, nbs):
    RecordingTrainer.records = []
    sparse_train(stock_model(), tiny_data_yaml, 0.1, nbs=nbs, trainer_cls=RecordingTrainer, tmp=tmp_path / "r")
    batches = 5  # 10 training images, batch 2
    assert RecordingTrainer.records == [(nbs // 2, 0.1)] * (batches // (nbs // 2))


def test_annealed_sr_runs_from_sr_in_the_first_epoch_to_a_tenth_in_the_last():
    for epochs in (2, 3, 10):
        schedule = [annealed_sr(0.5, e, epochs) for e in range(epochs)]
        assert schedule[0] == 0.5 and schedule[-1] == pytest.approx(0.05, abs=1e-15)
        assert np.allclose(np.diff(schedule), -0.45 / (epochs - 1))
    assert annealed_sr(0.5, 0, 1) == 0.5


def test_sparse_phase_hands_on_its_last_epochs_ema_and_logs_what_is_pruned(trained_model, shapes128_data_yaml,
                                                                          tmp_path):  # fmt: skip
    """The penalty costs mAP, so best.pt is the first epoch here; what is pruned is the last epoch's EMA (last.pt),
    sparsity.csv's last row describes exactly those weights, and sparse.json says which checkpoint it was."""
    settings = resolve_settings(overrides=dict(
        method="slim", sparse_epochs=2, sr=1.0, sr_anneal=False, imgsz=128, batch=4, nbs=4, workers=0, device="cpu",
        optimizer="SGD", lr0=0.01, lrf=1.0, warmup_epochs=0, seed=0, deterministic=True, verbose=False,
    ))  # fmt: skip
    model = load_detector(trained_model)
    names = bn_names(model, settings)
    adapter = ModelAdapter.of(model, "model")
    method = make_method(settings, adapter)
    run = Run(tmp_path, settings, str(shapes128_data_yaml), adapter, method)
    pruned = method.prepare(model, run)
    weights = tmp_path / "sparse" / "weights"
    best, last = (gammas(load_detector(weights / f"{w}.pt"), names) for w in ("best", "last"))
    assert best.mean() > last.mean() + 0.02  # the check below tells best from last
    assert np.array_equal(gammas(pruned, names), last)
    after = np.load(tmp_path / "gamma_after.npy")
    assert np.array_equal(after, last)
    rows = list(csv.DictReader((tmp_path / "sparsity.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [float(r["shrink"]) for r in rows] == pytest.approx([5 * 0.01 * 1.0, 10 * 0.01 * 1.0])
    assert float(rows[-1]["mean_abs_gamma"]) == pytest.approx(after.mean(), abs=3e-4)  # saved in fp16: half an ulp
    assert float(rows[-1]["share_below"]) == (after < settings["gamma_threshold"]).mean()
    info = json.loads((tmp_path / "sparse.json").read_text())
    assert (info["pruned"], info["weights"], info["epoch"]) == ("sparse/weights/last.pt", "EMA", 2)
    assert info["mean_abs_gamma"] == pytest.approx(after.mean())


def test_sparsity_log_describes_the_ema_weights_that_are_pruned_not_the_live_model(tiny_data_yaml, tmp_path):
    """Deep into a long run the EMA averages over thousands of steps and trails the live weights; set up so here."""

    def long_run_ema(trainer: SparseTrainer) -> None:
        trainer.ema.updates = 4600  # decay 0.9, as after 4600 optimizer steps
        for bn in trainer.bns[:8]:
            bn.weight.data.fill_(0.2)  # the live weights reach zero within the epoch; the EMA's do not

    log = SparsityLog(tmp_path / "sparsity.csv", threshold=0.01)
    pruned, names = sparse_train(stock_model(), tiny_data_yaml, 1.0, tmp=tmp_path / "s", weights="last",
                                 callbacks={"on_train_start": long_run_ema, "on_train_epoch_end": log})  # fmt: skip
    row = next(csv.DictReader((tmp_path / "sparsity.csv").open()))
    after = gammas(pruned, names)
    assert float(row["mean_abs_gamma"]) == pytest.approx(after.mean(), abs=3e-4)
    assert float(row["share_below"]) == pytest.approx((after < 0.01).mean(), abs=1e-6)
    assert float(row["live_share_below"]) > float(row["share_below"]) + 0.01


def test_nan_loss_stops_sparse_training_with_a_clear_error(tiny_data_yaml, tmp_path):
    model = stock_model()
    model.model[0].bn.weight.data[0] = float("nan")
    with pytest.raises(RunError, match="diverged"):
        sparse_train(model, tiny_data_yaml, 0.1, tmp=tmp_path / "nan")


def test_global_threshold_removes_the_requested_share_with_a_floor():
    settings = resolve_settings(overrides={"method": "slim", "target_prune_rate": 0.5, "min_channels": 0.25,
                                           "round_to": 1, "yaml_widths": False})  # fmt: skip
    model = with_random_gammas(load_detector("yolov8n.yaml", nc=3), seed=0)
    model.model[2].cv2.bn.weight.data.fill_(1e-6)  # every |gamma| tiny: a global threshold alone would empty it
    base = layer_widths(model)
    rate = make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, base, IMGSZ)
    after = layer_widths(model)
    assert rate == pytest.approx(0.5, abs=0.005)
    halves = {f"model.{i}.cv1.conv" for i, m in enumerate(model.model) if isinstance(m, C2f)}  # two halves each
    for name, width in after.items():
        k = 2 if name in halves else 1
        assert width // k >= np.ceil(0.25 * base[name] // k)
    assert after["model.2.cv2.conv"] == int(np.ceil(0.25 * base["model.2.cv2.conv"]))
    assert all(v > 0 for v in after.values())


@pytest.mark.parametrize("round_to", [8, 16])
def test_rounded_widths_still_remove_the_requested_share(round_to):
    """Rounding every layer up would keep too much (45.6 % removed instead of 50 % at round_to 8): the threshold is
    searched so that the rate reached, after rounding and the yaml width rules, is as close as they allow."""
    settings = resolve_settings(overrides={"method": "slim", "target_prune_rate": 0.5, "round_to": round_to})
    model = with_random_gammas(load_detector("yolov8n.yaml", nc=3), seed=2)
    rate = make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, layer_widths(model), IMGSZ)
    assert rate == pytest.approx(0.5, abs=0.02)
    assert all(w % round_to == 0 or w < round_to for n, w in layer_widths(model).items() if "model.22" not in n)


def test_residual_coupled_channels_stay_matched_and_the_model_runs():
    settings = resolve_settings(overrides={"method": "slim", "target_prune_rate": 0.6, "round_to": 4, "yaml_widths": False})
    model = with_random_gammas(load_detector("yolov8n.yaml", nc=3), seed=1)
    make_method(settings, ModelAdapter.of(model, "model")).prune(model, 1, 1, layer_widths(model), IMGSZ)
    residual = [(blk, b) for blk in model.modules() if isinstance(blk, C2f) for b in blk.m if b.add]
    assert residual
    for blk, b in residual:
        assert b.cv2.conv.out_channels == blk.c == b.cv1.conv.in_channels == blk.cv1.conv.out_channels // 2
        assert blk.c % 4 == 0
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, IMGSZ, IMGSZ))[0].shape == (1, 7, 84)


def test_slim_run_end_to_end(tiny_data_yaml, tmp_path, run_python):
    result = prune(model="yolov8n.yaml", data=str(tiny_data_yaml), method="slim", sr=0.05, sparse_epochs=2,
                   iterative_steps=1, epochs=1, imgsz=IMGSZ, batch=4, workers=0, device="cpu", project=str(tmp_path),
                   latency_runs=3, latency_warmup=1, verbose=False, compare_runtimes=False)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert [(r["step"], r["phase"]) for r in rows] == [(0, "base"), (0, "sparse"), (1, "prune")]
    assert rows[2]["macs"] < rows[1]["macs"] == rows[0]["macs"]
    sparsity = list(csv.DictReader((result.run_dir / "sparsity.csv").open()))
    assert [float(r["sr"]) for r in sparsity] == pytest.approx([0.05, 0.005])  # annealed: 100% first, 10% last
    assert json.loads((result.run_dir / "sparse.json").read_text())["epoch"] == 2
    assert (result.run_dir / "gamma_before.npy").is_file() and (result.run_dir / "gamma_after.npy").is_file()
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["onnx_output_diff"] < ONNX_TOLERANCE
    assert summary["final"]["onnx_bytes"] < summary["base"]["onnx_bytes"]
    n = run_python(f"from ultralytics import YOLO; print(sum(p.numel() for p in YOLO({str(result.final_pt)!r}).model.parameters()))")
    assert int(n.strip().splitlines()[-1]) == sum(p.numel() for p in load_detector(result.final_pt).parameters())


def test_one_shot_slimming_prunes_the_given_model_by_gamma_without_training(tiny_data_yaml, tmp_path):
    result = prune(model="yolov8n.yaml", data=str(tiny_data_yaml), method="slim", sparse_epochs=0, iterative_steps=1,
                   epochs=0, target_prune_rate=0.3, imgsz=IMGSZ, batch=4, workers=0, device="cpu",
                   project=str(tmp_path), latency_runs=2, latency_warmup=0, verbose=False,
                   compare_runtimes=False)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert [(r["step"], r["phase"]) for r in rows] == [(0, "base"), (1, "prune")]  # no sparse-training phase
    assert (result.run_dir / "gamma_before.npy").is_file() and not (result.run_dir / "gamma_after.npy").exists()
    assert not (result.run_dir / "sparse").exists() and not (result.run_dir / "sparsity.csv").exists()
    assert rows[1]["params"] < rows[0]["params"]
