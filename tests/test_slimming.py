"""Network slimming on real YOLOv8n models: the BN-L1 penalty really sparsifies, once per optimizer step whatever
the accumulation; the global |gamma| threshold removes the requested share with a per-layer floor; coupled
channels stay matched; and a whole slim run produces a model and ONNX file that load and agree."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from yolo_prune import prune
from yolo_prune.checkpoint import load_detector
from yolo_prune.errors import RunError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import ONNX_TOLERANCE
from yolo_prune.methods import make_method
from yolo_prune.methods.slimming import gammas, penalised_bns
from yolo_prune.settings import resolve_settings
from ultralytics.nn.modules import C2f

from yolo_prune.surgery import replace_c2f
from yolo_prune.training import SparseTrainer, finetune

IMGSZ = 64


def swapped_model() -> nn.Module:
    model = load_detector("yolov8n.yaml", nc=3)
    replace_c2f(model)
    return model


def with_random_gammas(model: nn.Module, seed: int) -> nn.Module:
    """BN scales spread over [0, 1), as after sparse training, so that the global threshold has choices to make."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=g))
    return model


def bn_names(model: nn.Module, settings: dict) -> list[str]:
    method = make_method(settings)
    graph, ignored, _ = method.graph(model, IMGSZ)
    return penalised_bns(model, graph, ignored)


def sparse_train(model, data, sr, nbs=2, trainer_cls=SparseTrainer, tmp=None):
    settings = resolve_settings(overrides={"method": "slim"})
    args = dict(epochs=1, imgsz=IMGSZ, batch=2, nbs=nbs, workers=0, device="cpu", plots=False, optimizer="SGD",
                lr0=0.05, warmup_epochs=0, seed=0, deterministic=True)  # fmt: skip
    sparse = {"sr": sr, "anneal": False, "bns": bn_names(model, settings)}
    return finetune(model, str(data), args, tmp, trainer_cls=trainer_cls, sparse=sparse), sparse["bns"]


def test_penalty_shrinks_bn_scales(tiny_data_yaml, tmp_path):
    start = swapped_model()
    plain, names = sparse_train(start, tiny_data_yaml, 0.0, tmp=tmp_path / "plain")
    sparse, _ = sparse_train(start, tiny_data_yaml, 0.5, tmp=tmp_path / "sparse")
    before = gammas(start, names).mean()
    assert gammas(sparse, names).mean() < gammas(plain, names).mean() - 0.05 * before


class RecordingTrainer(SparseTrainer):
    """Records what each optimizer step's penalty added to the BN gradients."""

    records: list = []

    def apply_penalty(self):
        before = [bn.weight.grad.clone() for bn in self.bns]
        super().apply_penalty()
        added = [bn.weight.grad - b for bn, b in zip(self.bns, before)]
        expected = [self.current_sr() * torch.sign(bn.weight.detach()) for bn in self.bns]
        type(self).records.append(
            (self.accumulate, max((a - e).abs().max().item() for a, e in zip(added, expected)),
             sum(a.abs().sum().item() for a in added))
        )  # fmt: skip


@pytest.mark.parametrize("nbs", [2, 4])  # batch 2: accumulate 1, then gradients of 2 batches per optimizer step
def test_penalty_is_once_per_optimizer_step_whatever_the_accumulation(tiny_data_yaml, tmp_path, nbs):
    RecordingTrainer.records = []
    sparse_train(swapped_model(), tiny_data_yaml, 0.1, nbs=nbs, trainer_cls=RecordingTrainer, tmp=tmp_path / "r")
    records = RecordingTrainer.records
    batches = 5  # 10 training images, batch 2
    assert [r[0] for r in records] == [nbs // 2] * len(records)
    assert len(records) == batches // (nbs // 2)  # one penalty per optimizer step, not per batch
    assert all(err < 1e-7 for _, err, _ in records)  # exactly sr * sign(gamma), added after unscaling
    n_channels = records[0][2] / 0.1
    assert all(total == pytest.approx(0.1 * n_channels, rel=1e-6) for _, _, total in records)


def test_nan_loss_stops_sparse_training_with_a_clear_error(tiny_data_yaml, tmp_path):
    model = swapped_model()
    model.model[0].bn.weight.data[0] = float("nan")
    with pytest.raises(RunError, match="diverged"):
        sparse_train(model, tiny_data_yaml, 0.1, tmp=tmp_path / "nan")


def test_global_threshold_removes_the_requested_share_with_a_floor():
    settings = resolve_settings(overrides={"method": "slim", "target_prune_rate": 0.5, "min_channels": 0.25,
                                           "round_to": 1, "yaml_widths": False})  # fmt: skip
    model = with_random_gammas(load_detector("yolov8n.yaml", nc=3), seed=0)
    model.model[2].cv2.bn.weight.data.fill_(1e-6)  # every |gamma| tiny: a global threshold alone would empty it
    base = layer_widths(model)
    rate = make_method(settings).prune(model, 1, 1, base, IMGSZ)
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
    rate = make_method(settings).prune(model, 1, 1, layer_widths(model), IMGSZ)
    assert rate == pytest.approx(0.5, abs=0.02)
    assert all(w % round_to == 0 or w < round_to for n, w in layer_widths(model).items() if "model.22" not in n)


def test_residual_coupled_channels_stay_matched_and_the_model_runs():
    settings = resolve_settings(overrides={"method": "slim", "target_prune_rate": 0.6, "round_to": 4, "yaml_widths": False})
    model = with_random_gammas(load_detector("yolov8n.yaml", nc=3), seed=1)
    make_method(settings).prune(model, 1, 1, layer_widths(model), IMGSZ)
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
                   latency_runs=3, latency_warmup=1, verbose=False)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert [(r["step"], r["phase"]) for r in rows] == [(0, "base"), (0, "sparse"), (1, "prune")]
    assert rows[2]["macs"] < rows[1]["macs"] == rows[0]["macs"]
    sparsity = (result.run_dir / "sparsity.csv").read_text().strip().splitlines()
    assert sparsity[0] == "epoch,sr,mean_abs_gamma,share_below" and len(sparsity) == 3
    assert (result.run_dir / "gamma_before.npy").is_file() and (result.run_dir / "gamma_after.npy").is_file()
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["onnx_output_diff"] < ONNX_TOLERANCE
    assert summary["final"]["onnx_bytes"] < summary["base"]["onnx_bytes"]
    n = run_python(f"from ultralytics import YOLO; print(sum(p.numel() for p in YOLO({str(result.final_pt)!r}).model.parameters()))")
    assert int(n.strip().splitlines()[-1]) == sum(p.numel() for p in load_detector(result.final_pt).parameters())


def test_one_shot_slimming_prunes_the_given_model_by_gamma_without_training(tiny_data_yaml, tmp_path):
    result = prune(model="yolov8n.yaml", data=str(tiny_data_yaml), method="slim", sparse_epochs=0, iterative_steps=1,
                   epochs=0, target_prune_rate=0.3, imgsz=IMGSZ, batch=4, workers=0, device="cpu",
                   project=str(tmp_path), latency_runs=2, latency_warmup=0, verbose=False)  # fmt: skip
    rows = json.loads((result.run_dir / "steps.json").read_text())
    assert [(r["step"], r["phase"]) for r in rows] == [(0, "base"), (1, "prune")]  # no sparse-training phase
    assert (result.run_dir / "gamma_before.npy").is_file() and not (result.run_dir / "gamma_after.npy").exists()
    assert not (result.run_dir / "sparse").exists() and not (result.run_dir / "sparsity.csv").exists()
    assert rows[1]["params"] < rows[0]["params"]
