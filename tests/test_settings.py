"""Settings are declared once (``yolo_prune.settings.SETTINGS``): the command line, ``validate`` and
``cfg/default.yaml`` agree on every key, range and method name, and values are normalised or reduced before any work
with one line that says so. (Refusals, one ``error:`` line each, are in ``test_bad_input.py``.)

Run:
    PYTHONPATH=. .venv/bin/python -m pytest tests/test_settings.py
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from yolo_prune.checks import check_device, check_freeze, check_train_args
from yolo_prune.cli import build_parser
from yolo_prune.errors import UserError
from yolo_prune.settings import (DEFAULT_CFG, METHODS, SETTINGS, SPEED_TARGETS, resolve_settings, training_overrides,
                                 validate)

REPO = Path(__file__).resolve().parents[1]
COMMAND_ARGS = {"model", "data", "cfg", "resume", "report", "version", "help", "verbose"}  # not settings with a value


def parser_options() -> dict[str, object]:
    return {a.dest: a for a in build_parser()._actions if a.dest not in COMMAND_ARGS}


def test_default_yaml_the_parser_and_validate_declare_the_same_settings():
    defaults = yaml.safe_load(DEFAULT_CFG.read_text())
    assert set(defaults) == {s.name for s in SETTINGS} and len(SETTINGS) == len(defaults)
    flags = {s.name for s in SETTINGS if s.group}
    assert set(parser_options()) == flags
    assert resolve_settings() == defaults  # the defaults pass validate unchanged
    for s in SETTINGS:  # a "(default X)" in a flag's help is the file's default
        said = re.search(r"\(default (\S+?)[;)]", s.help)
        if said:
            assert said.group(1) == str(defaults[s.name]).lower(), s.name


def test_a_cfg_in_default_yaml_format_gives_the_defaults():
    assert resolve_settings(DEFAULT_CFG) == resolve_settings()


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.low is not None], ids=lambda s: s.name)
def test_parser_and_validate_refuse_the_same_values_with_the_same_words(setting, capsys):
    """Each range is declared once: the flag and the cfg key refuse a value just outside it alike."""
    outside = setting.low if setting.low_open else setting.low - (1 if setting.kind is int else 0.5)
    speed_target = {"method": "latency"} if setting.name in SPEED_TARGETS else {}
    with pytest.raises(UserError) as refused:
        validate({**resolve_settings(), **speed_target, setting.name: outside})
    assert str(refused.value) == f"{setting.name} must be {setting.bounds()}, got {outside!r}"
    if setting.group:
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args([setting.flag, str(outside)])
        assert e.value.code == 2
        assert capsys.readouterr().err == (f"error: argument {setting.flag}: must be {setting.bounds()}, got "
                                           f"'{outside}' (see yolo-prune --help)\n")


def test_parser_errors_name_flag_value_and_what_is_allowed(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--target-speedup", "x"])
    assert capsys.readouterr().err == "error: argument --target-speedup: must be a number > 1, got 'x' (see " \
                                      "yolo-prune --help)\n"


def test_method_names_are_one_list():
    from yolo_prune.methods import METHODS as CLASSES

    assert tuple(CLASSES) == METHODS
    assert all(CLASSES[name].name == name for name in METHODS)
    for name in METHODS:
        assert build_parser().parse_args(["--method", name]).method == name


def test_cli_does_not_import_torch_pruning_to_parse():
    """``--help`` and argument errors stay instant: the method names do not come from the methods' modules."""
    code = "import sys; from yolo_prune.cli import build_parser; build_parser(); print('torch_pruning' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_device_in_any_case():
    assert build_parser().parse_args(["--device", "CPU"]).device == "cpu"
    assert resolve_settings(overrides={"device": "CPU"})["device"] == "cpu"
    assert resolve_settings(overrides={"device": 0})["device"] == "0"
    check_device("CPU")  # the saved setting of an older run, checked as it is


def test_latency_threads_beyond_the_cores_are_reduced_with_one_note(capfd):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    settings = resolve_settings(overrides={"latency_threads": 100000})
    assert settings["latency_threads"] == cores
    err = capfd.readouterr().err
    assert err == f"note: latency_threads 100000 reduced to {cores}, the CPU cores this machine has\n"
    assert resolve_settings(overrides={"latency_threads": cores})["latency_threads"] == cores
    assert capfd.readouterr().err == ""


def test_workers_beyond_the_cores_are_reduced_with_a_note_only_where_the_user_set_them(capfd):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resolve_settings(overrides={"workers": 1000})["workers"] == cores
    assert capfd.readouterr().err == f"note: workers 1000 reduced to {cores}, the CPU cores this machine has\n"
    assert resolve_settings()["workers"] == 8  # the default, which Ultralytics caps at the cores itself
    assert capfd.readouterr().err == ""


def test_keys_of_an_ultralytics_args_yaml_that_yolo_prune_sets_are_dropped_with_one_note(tmp_path, capfd):
    cfg = tmp_path / "args.yaml"  # as Ultralytics writes it beside a training run
    cfg.write_text("task: detect\nmode: train\nmodel: yolov8n.pt\ndata: coco8.yaml\nepochs: 3\nresume: false\n"
                   "exist_ok: false\npretrained: true\nsave_dir: runs/detect/train\nval: true\nproject:\nlr0: 0.02\n")
    settings = resolve_settings(cfg)
    err = capfd.readouterr().err
    assert err == ("note: ignoring task, mode, model, data, resume, exist_ok, pretrained, save_dir, val from the "
                   "settings: yolo-prune sets them itself (--model and --data name the model and data set)\n")
    assert settings["epochs"] == 3 and settings["lr0"] == 0.02
    assert settings["project"] == "runs/prune"  # an empty value is the default
    dropped = ("task", "mode", "model", "data", "resume", "exist_ok", "pretrained", "save_dir", "val")
    assert not set(dropped) & set(settings)
    check_train_args(settings)
    assert not set(dropped) & set(training_overrides(settings))


def test_notes_only_when_asked(tmp_path, capfd):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: detect\nlatency_threads: 100000\n")
    resolve_settings(cfg, notify=False)
    assert capfd.readouterr().err == ""


def test_numeric_text_of_ultralytics_keys_becomes_a_number():
    """PyYAML reads ``1e-3`` (no dot) and ``1.0e9`` (no exponent sign) as text; Ultralytics then said "invalid type
    str"."""
    settings = resolve_settings(overrides={"momentum": "1e-3", "close_mosaic": "1e1", "lr0": "1e-3"})
    check_train_args(settings)
    assert (settings["momentum"], settings["close_mosaic"], settings["lr0"]) == (0.001, 10, 0.001)
    assert type(settings["close_mosaic"]) is int


def test_freeze_against_the_model():
    from yolo_prune.checkpoint import load_detector

    model = load_detector("yolov8n.yaml", nc=3)
    n = len(model.model)
    for ok in (None, 0, n - 1, [0, n - 1], ["22.dfl"], [str(n - 1)]):
        check_freeze({"freeze": ok}, model)
    for bad in (n, 100, [n], ["22.nope"], list(range(n))):
        with pytest.raises(UserError, match="freeze"):
            check_freeze({"freeze": bad}, model)


def test_numbers_and_paths_as_text(tmp_path):
    """``project: 2024`` in a cfg was a TypeError traceback; a Path from Python is a path."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("project: 2024\nname: 7\n")
    settings = resolve_settings(cfg, {"teacher": tmp_path / "t.pt", "distill": True})
    assert (settings["project"], settings["name"], settings["teacher"]) == ("2024", "7", str(tmp_path / "t.pt"))
