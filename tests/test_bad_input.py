"""Bad input fails before any work: one ``error:`` line on stderr, exit code 2, no traceback, no run directory, and
the user's model and data files byte-identical afterwards.

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_bad_input.py
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

import yolo_prune
from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.cli import main
from yolo_prune.settings import resolve_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_data_yaml):
    """Broken and mismatched models and data sets, next to a good 3-class detector and the tiny data set."""
    from ultralytics.nn.tasks import ClassificationModel, PoseModel, SegmentationModel

    d = tmp_path_factory.mktemp("bad-inputs")
    save_checkpoint(d / "det3.pt", load_detector("yolov8n.yaml", nc=3), train_args={})
    for cls, name in ((ClassificationModel, "cls"), (SegmentationModel, "seg"), (PoseModel, "pose")):
        save_checkpoint(d / f"yolov8n-{name}.pt", cls(f"yolov8n-{name}.yaml", verbose=False), train_args={})
    good = (d / "det3.pt").read_bytes()
    (d / "truncated.pt").write_bytes(good[: len(good) // 2])
    (d / "text.pt").write_text("not a checkpoint\n")
    (d / "model.txt").write_text("not a model\n")
    (d / "folder.pt").mkdir()
    (d / "a_file").write_text("")
    root = tiny_data_yaml.parent
    (d / "nc2.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: {{0: a, 1: b}}\n")
    (d / "missing.yaml").write_text(f"path: {root}\ntrain: images/nope\nval: images/val\nnames: {{0: a, 1: b, 2: c}}\n")
    (d / "malformed.yaml").write_text("path: [unclosed\ntrain: : :\n")
    shutil.copytree(root / "images", d / "nolabels" / "images")
    (d / "nolabels.yaml").write_text(f"path: {d / 'nolabels'}\ntrain: images/train\nval: images/val\nnames: [a, b]\n")
    for name, val_label in (("emptyval", ""), ("badval", "5 0.5 0.5 0.2 0.2\n")):  # no box; class 5 of 3
        shutil.copytree(root, d / name, ignore=shutil.ignore_patterns("*.cache"))
        for label in (d / name / "labels" / "val").iterdir():
            label.write_text(val_label)
        (d / f"{name}.yaml").write_text(f"path: {d / name}\ntrain: images/train\nval: images/val\nnames: [a, b, c]\n")
    run = d / "fake_run"  # settings and an empty step log: enough for --resume to compare settings
    run.mkdir()
    settings = resolve_settings(overrides={"model": str(d / "det3.pt"), "data": str(tiny_data_yaml),
                                           "iterative_steps": 3})  # fmt: skip
    (run / "settings.yaml").write_text(json.dumps(settings))  # JSON is YAML
    (run / "steps.json").write_text("[]")
    (d / "unstarted_run").mkdir()
    (d / "unstarted_run" / "settings.yaml").write_text(json.dumps({**settings, "command": "yolo-prune --model m.pt"}))
    return d


def cfg_file(d: Path, text: str) -> str:
    path = d / f"cfg_{hashlib.sha1(text.encode()).hexdigest()[:8]}.yaml"
    path.write_text(text)
    return str(path)


CLS_DATA = "data.yaml is a data set .yaml; classification models read a folder with train/ and val/"
# (id, arguments that replace or add to the defaults of `command`, text the error must contain)
CASES = [
    ("model missing", {"--model": "{d}/nope.pt"}, "model not found"),
    ("model is a folder", {"--model": "{d}/folder.pt"}, "not a file"),
    ("model is a .txt", {"--model": "{d}/model.txt"}, ".pt checkpoint or a model .yaml"),
    ("model .pt is text", {"--model": "{d}/text.pt"}, "not a loadable"),
    ("model .pt truncated", {"--model": "{d}/truncated.pt"}, "truncated"),
    # a detection data set given to a classifier
    ("classify yaml", {"--model": "yolov8n-cls.yaml"}, CLS_DATA),
    # a detection data set given to a segmentation or a pose model
    ("segment yaml", {"--model": "yolov8n-seg.yaml"}, "segmentation models read label lines 'class x1 y1 x2 y2"),
    ("pose yaml", {"--model": "yolov8n-pose.yaml"}, "data.yaml is not usable: it has no kpt_shape: a pose data set"),
    ("classify pt", {"--model": "{d}/yolov8n-cls.pt"}, CLS_DATA),
    ("segment pt", {"--model": "{d}/yolov8n-seg.pt"}, "yolov8n-seg.pt predicts 80 classes but"),
    ("pose pt", {"--model": "{d}/yolov8n-pose.pt"}, "data.yaml is not usable: it has no kpt_shape: a pose data set"),
    ("obb yaml", {"--model": "yolov8n-obb.yaml"}, "oriented-box models read label lines 'class x1 y1 x2 y2 x3 y3 x4"),
    ("older family", {"--model": "yolov5n.yaml"}, "cannot prune (C3); it prunes YOLOv8, YOLO11 and YOLO26 detection"),
    ("YOLO12 attention", {"--model": "yolo12n.yaml"}, "cannot prune (A2C2f); it prunes YOLOv8, YOLO11 and YOLO26"),
    ("class count", {"--data": "{d}/nc2.yaml"}, "predicts 3 classes but {d}/nc2.yaml has 2"),
    ("data missing", {"--data": "{d}/nope.yaml"}, "data yaml not found"),
    ("data malformed", {"--data": "{d}/malformed.yaml"}, "not valid YAML"),
    ("data folder missing", {"--data": "{d}/missing.yaml"}, "images/nope"),
    ("data without labels", {"--data": "{d}/nolabels.yaml"}, "no label files"),
    ("rate 0", {"--target-prune-rate": "0"}, "argument --target-prune-rate: must be > 0 and < 1, got '0'"),
    ("rate 1", {"--target-prune-rate": "1"}, "argument --target-prune-rate: must be > 0 and < 1, got '1'"),
    ("steps 0", {"--iterative-steps": "0"}, "argument --iterative-steps: must be >= 1, got '0'"),
    ("epochs -1", {"--epochs": "-1"}, "argument --epochs: must be >= 0, got '-1'"),
    ("map drop -0.1", {"--max-map-drop": "-0.1"}, "argument --max-map-drop: must be >= 0, got '-0.1'"),
    ("round to 0", {"--round-to": "0"}, "argument --round-to: must be >= 1, got '0'"),
    ("cfg rate 1.5", {"--cfg": "target_prune_rate: 1.5"}, "target_prune_rate must be > 0 and < 1, got 1.5"),
    ("cfg steps 0", {"--cfg": "iterative_steps: 0"}, "iterative_steps must be >= 1, got 0"),
    ("cfg epochs -1", {"--cfg": "epochs: -1"}, "epochs must be >= 0, got -1"),
    ("cfg map drop -1", {"--cfg": "max_map_drop: -1"}, "max_map_drop must be >= 0, got -1"),
    ("cfg round to 0", {"--cfg": "round_to: 0"}, "round_to must be >= 1, got 0"),
    ("cfg not yaml", {"--cfg": "a: [b\n"}, "not valid YAML"),
    ("cfg Ultralytics value", {"--cfg": "momentum: abc"}, "invalid setting: 'momentum=abc' is of invalid type str"),
    ("cfg lr0 text", {"--cfg": "lr0: abc"}, "lr0 must be a number >= 0 and <= 1, got 'abc'"),
    ("cfg optimizer", {"--cfg": "optimizer: FOO"}, "optimizer must be one of auto, SGD, Adam, Adamax, AdamW"),
    ("cfg min channels 1.5", {"--cfg": "min_channels: 1.5"}, "min_channels must be a share below 1 (e.g. 0.1) or a "
     "whole channel count (e.g. 8), got 1.5"),
    ("min channels abc", {"--min-channels": "abc"}, "argument --min-channels: must be a number >= 0, a share below 1 "
     "(e.g. 0.1) or a whole channel count (e.g. 8), got 'abc'"),
    ("min channels 1.5", {"--min-channels": "1.5"}, "argument --min-channels: must be a share below 1"),
    ("epochs abc", {"--epochs": "abc"}, "argument --epochs: must be a whole number >= 0, got 'abc'"),
    # every flag's error names the flag, the value and what is allowed (it once said "invalid _above_one value")
    ("speed-up not a number", {"--target-speedup": "x"}, "argument --target-speedup: must be a number > 1, got 'x'"),
    ("cfg speed-up not a number", {"--cfg": "target_speedup: x"}, "target_speedup must be a number > 1, got 'x'"),
    ("cfg speed-ups, one not a number", {"--cfg": "target_speedup: [1.5, x]"},
     "target_speedup must be a number > 1, got [1.5, 'x']"),
    ("several speed-ups with method latency", {"--method": "latency", "--cfg": "target_speedup: [1.5, 2]"},
     "several speed targets (1.5, 2) are met by one search: use --method search (or leave --method out), not latency"),
    ("search without a speed-up", {"--method": "search"}, "method search needs one or more speed-ups"),
    ("supernet epochs -1", {"--supernet-epochs": "-1"}, "argument --supernet-epochs: must be >= 0, got '-1'"),
    ("method unknown", {"--method": "prune"},
     "argument --method: must be one of depgraph, slim, latency, search, finetune, got 'prune'"),
    ("seed beyond numpy's", {"--seed": "4294967296"},
     "argument --seed: must be >= 0 and <= 4294967295, got '4294967296'"),
    ("cfg seed beyond numpy's", {"--cfg": "seed: 4294967296"},
     "seed must be >= 0 and <= 4294967295, got 4294967296"),
    ("name with a separator", {"--name": "a/b"},
     "argument --name: must be a folder name without / or \\, other than . and .., got 'a/b'"),
    ("name ..", {"--name": ".."}, "argument --name: must be a folder name without / or \\, other than . and .., "
     "got '..'"),
    ("cfg name with a separator", {"--cfg": "name: a/b"}, "name must be a folder name without / or \\, other than ."),
    ("cfg verbose not a bool", {"--cfg": "verbose: loud"}, "verbose must be true or false, got 'loud'"),
    ("cfg name a list", {"--cfg": "name: [a, b]"}, "name must be a folder name without / or \\, other than . and .., "
     "got ['a', 'b']"),
    ("cfg lr0 1.0e9", {"--cfg": "lr0: 1.0e9"}, "lr0 must be >= 0 and <= 1, got '1.0e9'"),
    ("cfg cache not a mode", {"--cfg": "cache: yes please"},
     "cache must be true, false, ram or disk, got 'yes please'"),
    ("cfg text key a number", {"--cfg": "tracker: 5"}, "tracker must be text, got 5"),
    ("cfg task semantic", {"--cfg": "task: semantic"}, "task semantic cannot be used (yolo-prune uses task detect): "
     "yolo-prune prunes detection, segmentation, pose, oriented-box, classification models; the task is read from "
     "the model"),
    ("cfg mode predict", {"--cfg": "mode: predict"}, "mode predict cannot be used (yolo-prune uses mode train)"),
    ("cfg resume true", {"--cfg": "resume: true"}, "resume true cannot be used (yolo-prune uses resume false): an "
     "interrupted yolo-prune run continues with yolo-prune --resume RUN_DIR"),
    ("cfg val false", {"--cfg": "val: false"}, "val false cannot be used (yolo-prune uses val true)"),
    ("cfg save false", {"--cfg": "save: false"}, "save false cannot be used (yolo-prune uses save true)"),
    ("cfg names a cfg", {"--cfg": "cfg: other.yaml"}, "cfg other.yaml cannot be used: yolo-prune reads one settings"),
    ("cfg freeze beyond the layers", {"--cfg": "freeze: 100"}, "freeze 100 would freeze every layer of the model: it "
     "has 23, so freeze must be at most 22"),
    ("cfg freeze every layer", {"--cfg": "freeze: 23"}, "freeze 23 would freeze every layer of the model"),
    ("cfg freeze a missing layer", {"--cfg": "freeze: [0, 30]"}, "freeze names layers the model does not have: 30"),
    ("cfg freeze text", {"--cfg": "freeze: all"}, "freeze must be a layer count or a list of layer indices, got 'all'"),
    ("val split without boxes", {"--data": "{d}/emptyval.yaml"},
     "the val split of {d}/emptyval.yaml has no labelled objects (2 images, no box that Ultralytics can use): every "
     "mAP would be 0"),
    ("val labels out of range", {"--data": "{d}/badval.yaml"}, "the val split of {d}/badval.yaml has no image "
     "Ultralytics can use"),
    ("report with other options", {"--report": "{d}/fake_run", "--resume": "{d}/fake_run", "--imgsz": "64"},
     "--report only rebuilds the plots and report of a run directory; it cannot be combined with --project, "
     "--resume, --imgsz"),
    ("project under a file", {"--project": "{d}/a_file/runs"}, "is a file, not a folder"),
    ("device", {"--device": "{bad_device}"}, "does not exist; available: cpu"),
    ("resume a non-run", {"--resume": "{d}/folder.pt"}, "not a yolo-prune run directory"),
    ("resume a missing folder", {"--resume": "{d}/nope"}, "not a yolo-prune run directory"),
    ("resume before a step", {"--resume": "{d}/unstarted_run"}, "nothing to resume; start it again: yolo-prune"),
    ("resume other settings", {"--resume": "{d}/fake_run", "--iterative-steps": "5"},
     "these differ: iterative_steps (run has 3, given 5)"),
    ("resume other data", {"--resume": "{d}/fake_run", "--data": "{d}/nc2.yaml"}, "these differ: data"),
    ("resume with cfg", {"--resume": "{d}/fake_run", "--cfg": "epochs: 1"}, "--cfg cannot be used with --resume"),
]  # fmt: skip
if not torch.cuda.is_available():  # found out at the start, not after the pruning
    CASES += [("latency provider tensorrt", {"--latency-provider": "tensorrt"},
               "latency_provider tensorrt: TensorRT needs an NVIDIA GPU, and torch sees none here")]
CASES += [("int8 on ncnn", {"--latency-provider": "ncnn", "--int8": "true"},
           "latency_provider ncnn: --int8 is not available for --latency-provider ncnn: Ultralytics' ncnn export "
           "writes fp32 or fp16 models only")]
if "CUDAExecutionProvider" not in ort.get_available_providers():  # found out at the start, not after the pruning
    CASES += [
        ("latency provider cuda", {"--latency-provider": "cuda"}, "latency_provider cuda: ONNX Runtime's "
         "CUDAExecutionProvider is not available here (available: "),
        ("resume latency provider cuda", {"--resume": "{d}/fake_run", "--latency-provider": "cuda"},
         "latency_provider cuda: ONNX Runtime's CUDAExecutionProvider"),
    ]  # fmt: skip


def command(case: dict[str, str], d: Path, data: Path, project: Path) -> list[str]:
    bad_device = str(torch.cuda.device_count() + 7)
    args = {"--model": str(d / "det3.pt"), "--data": str(data), "--imgsz": "64", "--project": str(project)}
    if "--resume" in case:
        args = {"--project": str(project)}
    for k, v in case.items():
        v = v.format(d=d, bad_device=bad_device)
        args[k] = cfg_file(d, v) if k == "--cfg" else v
    return [x for kv in args.items() for x in kv] + ["--quiet"]


def run_main(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as e:  # argparse's errors exit from parse_args
        return e.code


@pytest.mark.parametrize("case,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_exit_2_and_writes_nothing(
    case, expected, inputs, tiny_data_yaml, tmp_path, capfd, digests
):
    project = tmp_path / "runs"
    before = digests(inputs / "det3.pt", tiny_data_yaml.parent)
    code = run_main(command(case, inputs, tiny_data_yaml, project))
    out, err = capfd.readouterr()
    assert code == 2
    assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert expected.format(d=inputs) in err
    assert "Traceback" not in out + err
    assert not project.exists()  # checked before the run directory is made
    assert digests(inputs / "det3.pt", tiny_data_yaml.parent) == before


@pytest.mark.parametrize("case", ["model .pt truncated", "device", "speed-up not a number", "cfg task semantic",
                                  "cfg name with a separator"])
def test_bad_input_in_a_real_process(case, inputs, tiny_data_yaml, tmp_path):
    """The same, as a user sees it: the process's own exit code and streams."""
    project = tmp_path / "runs"
    args = command({c[0]: c[1] for c in CASES}[case], inputs, tiny_data_yaml, project)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "yolo_prune.cli", *args], capture_output=True, text=True, env=env,
                       timeout=120)  # fmt: skip
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.startswith("error: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert not project.exists()


@pytest.fixture(scope="module")
def resumable(tmp_path_factory, tiny_data_yaml):
    """A run directory as a run killed after its base measurement leaves it: settings, a one-row step log, the
    base checkpoint and layers.json (what ``--resume`` reads before it does anything)."""
    from yolo_prune.evaluation import layer_widths
    from yolo_prune.rundir import step_columns, write_json, write_yaml
    from yolo_prune.structure.parts import enter

    run = tmp_path_factory.mktemp("resumable") / "exp"
    model = load_detector("yolov8n.yaml", nc=3)
    enter(model)  # C2f_v2 blocks pickled, as yolo-prune 0.1 saved them
    save_checkpoint(run / "weights" / "base.pt", model, train_args={})
    settings = resolve_settings(overrides={"model": "yolov8n.yaml", "data": str(tiny_data_yaml), "imgsz": 64,
                                           "iterative_steps": 3})  # fmt: skip
    write_yaml(run / "settings.yaml", {**settings, "command": "yolo-prune --model yolov8n.yaml ...", "versions": {}})
    row = {**dict.fromkeys(step_columns(), 0.0), "phase": "base", "status": "kept", "checkpoint": "weights/base.pt"}
    write_json(run / "steps.json", [row])
    write_json(run / "layers.json", {"base": layer_widths(model), "final": layer_widths(model)})
    return run


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _first_lines(path: Path) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))


# (id, damaged file, damage, text the error must contain; {f} is the damaged file)
DAMAGE = [
    ("steps.json truncated", "steps.json", _cut, "cannot read {f} (the step log): "),
    ("steps.json not a step log", "steps.json", lambda p: p.write_text('{"step": 0}'),
     "{f} is not a yolo-prune step log"),
    ("settings.yaml cut off", "settings.yaml", _first_lines, "{f} lacks "),
    ("settings.yaml not YAML", "settings.yaml", lambda p: p.write_text("method: [depgraph\n"),
     "settings file {f} is not valid YAML"),
    ("settings.yaml bad value", "settings.yaml",
     lambda p: p.write_text(p.read_text().replace("iterative_steps: 3", "iterative_steps: -3")),
     "{f}: iterative_steps must be >= 1, got -3"),
    ("checkpoint truncated", "weights/base.pt", _cut, "{f} is not a loadable Ultralytics checkpoint"),
    ("checkpoint missing", "weights/base.pt", Path.unlink, "model not found: {f}"),
    ("layers.json truncated", "layers.json", _cut, "cannot read {f} (the per-layer widths): "),
]  # fmt: skip


@pytest.mark.parametrize("name,damage,expected", [c[1:] for c in DAMAGE], ids=[c[0] for c in DAMAGE])
def test_resume_of_a_damaged_run_names_the_file(name, damage, expected, resumable, tmp_path, capfd, digests):
    run = tmp_path / "exp"
    shutil.copytree(resumable, run)
    damage(run / name)
    before = digests(run)
    code = run_main(["--resume", str(run), "--quiet"])
    out, err = capfd.readouterr()
    assert code == 2
    assert err.strip().startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert expected.format(f=run / name) in err
    assert "Traceback" not in out + err
    assert digests(run) == before  # nothing written, not even the data set view


def test_version_names_the_libraries_results_depend_on():
    import importlib.metadata

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "yolo_prune.cli", "--version"], capture_output=True, text=True, env=env,
                       timeout=60)  # fmt: skip
    assert p.returncode == 0 and p.stderr == ""
    v = importlib.metadata.version
    assert p.stdout == (f"yolo-prune {yolo_prune.__version__} (ultralytics {v('ultralytics')}, torch-pruning "
                        f"{v('torch-pruning')}, torch {v('torch')}, onnxruntime {v('onnxruntime')})\n")  # fmt: skip
