"""Resolved settings for a run: package defaults < ``--cfg`` file < explicit arguments, validated before any work.

Every setting is declared once, in ``SETTINGS``: its type, the values it allows, its ``--help`` line and group. The
command-line parser (``yolo_prune.cli``) and ``validate`` are both generated from that table; the defaults are the
user-facing ``cfg/default.yaml`` (a test checks that it declares the same keys). Other Ultralytics train keys are
checked by Ultralytics' own ``check_cfg`` (``checks.check_train_args``); those that yolo-prune decides itself
(``task``, ``mode``, ...) are in ``DECIDED``.

Usage:
    from yolo_prune.settings import resolve_settings, training_overrides

    s = resolve_settings(cfg="my.yaml", overrides={"target_prune_rate": 0.3})
    train_args = training_overrides(s)  # the Ultralytics keys, for fine-tuning

CLI:
    yolo-prune --cfg cfg/default.yaml --target-prune-rate 0.3 ...
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Collection

import yaml

from yolo_prune.errors import UserError
from yolo_prune.runtimes import RUNTIMES

DEFAULT_CFG = Path(__file__).parent / "cfg" / "default.yaml"

# The pruning methods a run may name; ``yolo_prune.methods.METHODS`` maps them to their classes (and checks them
# against this list). Here rather than there so that the command line can list them without importing Torch-Pruning.
METHODS = ("depgraph", "slim", "latency", "search", "finetune")
SPEED_TARGETS = ("target_speedup", "target_latency_ms")  # either one selects the latency method (several: search)
MIN_CHANNELS_RULE = "a share below 1 (e.g. 0.1) or a whole channel count (e.g. 8)"
SEED_MAX = 2**32 - 1  # numpy's limit; Ultralytics seeds numpy with it at the first fine-tuning


def valid_min_channels(value: float) -> bool:
    """A per-layer floor is a share of a layer's channels (below 1) or a whole count: 1.5 is neither, and rounding it
    silently would keep a floor the user did not ask for."""
    return value < 1 or value == int(value)


def valid_run_name(name: str) -> bool:
    """A run directory's name is one folder name: a separator would put it elsewhere, and ``.`` or ``..`` are no new
    folder (``..`` became a run directory named ``..2``)."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


def _lower(value: str) -> str:
    return value.lower().replace(" ", "")


@dataclass(frozen=True)
class Setting:
    """One setting: the type and values it allows, and how ``--help`` shows it (``group`` empty: no flag; in a
    ``--cfg`` file only). ``None`` (an empty value) is allowed where ``optional``; ``rule``/``check`` state a rule
    beyond the range; ``normalize`` rewrites an accepted text (``CPU`` -> ``cpu``); ``cores``: no more than the
    machine's CPU cores (a larger value is reduced, with a note); ``ultralytics``: an Ultralytics train key, passed
    on to fine-tuning; ``by_ultralytics``: Ultralytics' ``check_cfg`` checks its value, the flag only parses it."""

    name: str
    kind: type
    group: str = ""
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    rule: str = ""
    check: Callable[[Any], bool] | None = None
    normalize: Callable[[str], str] | None = None
    optional: bool = False
    cores: bool = False
    ultralytics: bool = False
    by_ultralytics: bool = False
    metavar: str | None = None
    bare: bool = False  # the flag alone means true (``--distill``)
    several: bool = False  # the flag takes one or more values (``--target-speedup 1.5 2``): one value, or a list

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    def bounds(self) -> str:
        """The range, in words: "> 0 and < 1"."""
        words = []
        if self.low is not None:
            words.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            words.append(f"{'<' if self.high_open else '<='} {self.high:g}" if self.high < 1e6 else f"<= {self.high}")
        return " and ".join(words)

    def allowed(self) -> str:
        """All that the setting allows, in words: "a number > 0 and < 1", "one of cpu, cuda", ..."""
        if self.kind is bool:
            return "true or false"
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.kind is str:
            return self.rule or "text"
        kind = " ".join(x for x in ("a whole number" if self.kind is int else "a number", self.bounds()) if x)
        return f"{kind}, {self.rule}" if self.rule else kind

    def convert(self, value: Any) -> Any:
        """``value`` as this setting's type, or ValueError saying what is allowed: the range where only the range is
        broken, the rule where only the rule is. Numeric text counts as a number (PyYAML reads ``1.0e9`` as text),
        numbers and paths as text where text is asked for (``name: 2024``)."""
        if value is None and self.optional:
            return None
        if self.several and isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(self.allowed())
            values = [replace(self, several=False, optional=False).convert(v) for v in value]
            return values[0] if len(values) == 1 else sorted(set(values))
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(self.allowed())
            return value
        if self.kind is str:
            if isinstance(value, bool) or not isinstance(value, (str, int, float, os.PathLike)):
                raise ValueError(self.allowed())
            text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
            text = self.normalize(text) if self.normalize else text
            if (self.choices and text not in self.choices) or (self.check is not None and not self.check(text)):
                raise ValueError(self.allowed())
            return text
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            number = value if isinstance(value, int) else float(value)  # ValueError for text that is no number
            if not math.isfinite(number) or (self.kind is int and not float(number).is_integer()):
                raise ValueError
        except ValueError:
            raise ValueError(self.allowed()) from None
        number = self.kind(number)
        if (self.low is not None and (number <= self.low if self.low_open else number < self.low)) or (
            self.high is not None and (number >= self.high if self.high_open else number > self.high)
        ):
            raise ValueError(self.bounds())
        if self.check is not None and not self.check(number):
            raise ValueError(self.rule)
        return number

    def parse(self, text: str) -> Any:
        """The flag's argparse type: the text as this setting's value, or an error that says what is allowed."""
        import argparse

        if self.kind is bool:
            words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                     "off": False}  # fmt: skip
            if text.lower() not in words:
                raise argparse.ArgumentTypeError(f"must be {self.allowed()}, got {text!r}")
            return words[text.lower()]
        try:
            return self.convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"must be {e}, got {text!r}") from None


_TRAIN = "fine-tuning (Ultralytics train settings)"
SETTINGS: tuple[Setting, ...] = (
    # input and output
    Setting("project", str, "input and output", "parent folder of run directories (default runs/prune)"),
    Setting("name", str, "input and output", "run directory name; exp, exp2, ... are never overwritten (default exp)",
            check=valid_run_name, rule="a folder name without / or \\, other than . and .."),
    # pruning
    Setting("method", str, "pruning", "depgraph (default), slim (network slimming), latency (widths for a measured "
            "speed-up; a speed target selects it), search (a supernet trained once, widths searched for one or more "
            "speed targets; several targets select it) or finetune (train a pruned model further)", choices=METHODS,
            metavar="{" + ",".join(METHODS) + "}"),
    Setting("target_prune_rate", float, "pruning", "share of each prunable layer's channels removed by the last "
            "step, in (0, 1) (default 0.5)", low=0, high=1, low_open=True, high_open=True),
    Setting("iterative_steps", int, "pruning", "prune + fine-tune steps to reach it (default 16)", low=1),
    Setting("max_map_drop", float, "pruning", "stop when the task's deciding metric (mask mAP50-95 for segmentation, "
            "pose mAP50-95 for pose, box mAP50-95 for detection and oriented boxes, top-1 for classification) falls "
            "more than this (absolute) below the base; the last good step is kept (default 0.2)", low=0),
    Setting("round_to", int, "pruning", "keep channel counts multiples of N (8/16 helps speed)", low=1),
    Setting("prune_head", bool, "pruning", "also prune the head's inner convs (default true)"),
    Setting("yaml_widths", bool, "pruning", "only channel counts an Ultralytics model yaml can state, so that 'yolo "
            "train model=final.pt' keeps the pruned model (default true; needs --round-to a multiple of 8)"),
    # speed target
    Setting("target_speedup", float, "speed target (--method latency)", "prune until the latency provider "
            "measures this speed-up over the base, e.g. 2; selects --method latency; several (1.5 2 3) select "
            "--method search, one model each", low=1, low_open=True, optional=True, several=True),
    Setting("target_latency_ms", float, "speed target (--method latency)", "or until the model runs in this many ms "
            "here (turned into a speed-up at the start)", low=0, low_open=True, optional=True),
    Setting("latency_budget", float, "speed target (--method latency)", "seconds of timing per step, and per "
            "timing at the end of every run, at most (default 300); each timing stops sooner once its medians are "
            "steady to 0.5%%, and times every model at least 3 times", low=0, low_open=True),
    Setting("latency_table", str, "speed target (--method latency)", "meet the target for a device yolo-prune "
            "cannot run on: a folder for a kit of models to time there (written when it has no timings.json, "
            "read when it has; --latency-provider cpu, openvino or ncnn)", optional=True, metavar="DIR"),
    # one-shot width search
    Setting("supernet_epochs", int, "width search (--method search)", "epochs of supernet training before the "
            "search (default 10; 0 searches subnets of the model as it is)", low=0),
    Setting("search_population", int, "width search (--method search)", "candidates scored per generation "
            "(default 20)", low=2),
    Setting("search_generations", int, "width search (--method search)", "generations after the first "
            "(default 10)", low=0),
    # network slimming
    Setting("sr", float, "network slimming (--method slim)", "L1 penalty on BatchNorm scales: each optimizer step "
            "moves every |gamma| lr*sr toward zero (default 0.01)", low=0),
    Setting("sr_anneal", bool, "network slimming (--method slim)", "sr falls linearly from 100%% in the first sparse "
            "epoch to 10%% in the last (default true)"),
    Setting("sparse_epochs", int, "network slimming (--method slim)", "sparse-training epochs; 0 prunes an already "
            "sparse model (default 50)", low=0),
    Setting("min_channels", float, "network slimming (--method slim)", "per-layer floor: share (<1) or count (>=1) "
            "of channels always kept (default 0.1; also --method latency)", low=0, check=valid_min_channels,
            rule=MIN_CHANNELS_RULE),
    Setting("gamma_threshold", float, low=0),
    # distillation
    Setting("distill", bool, "distillation", "fine-tuning also learns the teacher's class scores and box "
            "distributions (default false)", metavar="BOOL", bare=True),
    Setting("distill_weight", float, low=0),
    Setting("distill_warmup", float, low=0),
    Setting("teacher", str, "distillation", "the teacher .pt (default: the run's base model, i.e. --model; needed "
            "with --method finetune)", metavar="MODEL_PT", optional=True),
    # fine-tuning: Ultralytics train keys with a flag or a default of ours
    Setting("epochs", int, _TRAIN, "fine-tuning epochs per step; 0 skips it (default 30)", low=0, ultralytics=True),
    Setting("imgsz", int, _TRAIN, "image size, a multiple of 32 (default 640)", low=32, check=lambda v: v % 32 == 0,
            rule="a multiple of 32 (the model's largest stride)", ultralytics=True),
    Setting("batch", int, _TRAIN, "batch size (default 16)", low=1, ultralytics=True),
    Setting("device", str, _TRAIN, "cpu, 0, or 0,1,2,3 for several GPUs (default: first GPU, else CPU)",
            optional=True, normalize=_lower, rule="cpu, mps, a GPU index such as 0, or several such as 0,1",
            ultralytics=True),
    Setting("workers", int, _TRAIN, "data-loading workers (default 8)", low=0, ultralytics=True, cores=True),
    Setting("lr0", float, _TRAIN, "initial learning rate (default 0.01); Ultralytics' default optimizer 'auto' picks "
            "its own, so set optimizer in --cfg for it to apply", low=0, high=1, ultralytics=True),
    Setting("seed", int, _TRAIN, "random seed: same seed, same channels (default 0)", low=0, high=SEED_MAX,
            ultralytics=True),
    Setting("amp", bool, _TRAIN, "mixed precision on CUDA (default true)", ultralytics=True,
            by_ultralytics=True),  # a cfg may also say fp16, bf16 or fp32
    Setting("nbs", int, low=1, ultralytics=True),
    Setting("plots", bool, ultralytics=True),
    # reporting
    Setting("latency_runs", int, "reporting", "timed runs per model, at most (default 50; fewer once the medians are "
            "steady to 0.5%%)", low=1),
    Setting("latency_warmup", int, low=0),
    Setting("latency_provider", str, "reporting", "the runtime every speed is measured on and the speed target is "
            "met on: cpu or cuda (ONNX Runtime), openvino, ncnn, tensorrt (default cpu; each but cpu is an extra: "
            "pip install 'yolo-prune[openvino]')", choices=tuple(RUNTIMES), metavar="{" + ",".join(RUNTIMES) + "}"),
    Setting("latency_threads", int, "reporting", "the runtime's threads for every timing (default: its own, "
            "all cores; 1 is steadiest on a busy machine)", low=1, optional=True, cores=True),
    Setting("compare_runtimes", bool, "reporting", "also time base and final on every other runtime installed "
            "here, for the report's per-runtime table (default true)", metavar="BOOL"),
    Setting("int8", bool, "reporting", "also quantize base and final to INT8 as Ultralytics exports INT8 for the "
            "latency provider (calibrated on the data's train split) and report the metric and latency of all four "
            "(default false)", metavar="BOOL", bare=True),
    Setting("verbose", bool),  # its flags are --verbose and --quiet
)  # fmt: skip
# Ultralytics keys that name our run directory or that we set ourselves for fine-tuning.
RUN_KEYS = ("project", "name", "verbose", "model", "data", "resume")
# Our own keys; everything else in a settings dict must be an Ultralytics train setting.
PRUNE_KEYS = tuple(s.name for s in SETTINGS if not s.ultralytics and s.name not in RUN_KEYS)
# Settings added after runs were first written: a run's settings file from before one takes its default on --resume
# (any other missing key means a cut-off or foreign file).
ADDED_SETTINGS = ("latency_budget", "int8", "compare_runtimes", "latency_table", "supernet_epochs",
                  "search_population", "search_generations")

# Ultralytics keys that yolo-prune sets itself; a cfg copied from Ultralytics' args.yaml carries them. A value that
# asks for what yolo-prune does anyway (or any value, where none is listed) is dropped with one note; another is
# refused. ``model`` and ``data`` of a cfg file are dropped too: --model and --data (arguments of ``prune``) name them.
DECIDED: dict[str, tuple[tuple[Any, ...] | Callable[[], tuple[Any, ...]], str]] = {
    "task": (lambda: tuple(_tasks()), "yolo-prune prunes {tasks} models; the task is read from the model"),
    "mode": (("train",), "yolo-prune fine-tunes (mode train) and validates by itself"),
    "val": ((True,), "every step is validated: its mAP decides whether the step is kept"),
    "save": ((True,), "each fine-tuning's best weights are read back from the checkpoint Ultralytics saves"),
    "resume": ((False,), "an interrupted yolo-prune run continues with yolo-prune --resume RUN_DIR"),
    "cfg": ((), "yolo-prune reads one settings file, the one given with --cfg"),
    "exist_ok": ((), ""), "pretrained": ((), ""), "save_dir": ((), ""), "model": ((), ""), "data": ((), ""),
}  # fmt: skip


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a settings yaml; a missing or malformed file is the user's to fix, so say which and why."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"settings file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"settings file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"settings file {p} must hold `key: value` lines, got {type(data).__name__}")
    return data


def _ultralytics_keys() -> set[str]:
    from ultralytics.utils import DEFAULT_CFG_DICT

    return set(DEFAULT_CFG_DICT)


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr, flush=True)


def resolve_settings(cfg: str | Path | None = None, overrides: dict[str, Any] | None = None,
                     notify: bool = True) -> dict[str, Any]:  # fmt: skip
    """Merge defaults, the user's cfg file and explicit overrides (``None`` values mean "not given", in a cfg file
    too), then validate. ``notify``: print a note for each value changed or dropped (``validate``)."""
    settings = load_yaml(DEFAULT_CFG)
    defaults = dict(settings)
    from_file = {k: v for k, v in (load_yaml(cfg) if cfg is not None else {}).items() if v is not None}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    dropped = _decided(from_file, given)
    chosen = {**from_file, **given}
    settings.update(chosen)
    if "method" not in chosen and any(settings.get(k) is not None for k in SPEED_TARGETS):
        target = settings.get("target_speedup")
        several = isinstance(target, list) and len(set(target)) > 1  # several targets: one search serves them all
        settings["method"] = "search" if several else "latency"  # a speed target without a method: its widths
    unknown = sorted(k for k in settings if k not in PRUNE_KEYS and k not in RUN_KEYS and k not in _ultralytics_keys())
    if unknown:
        raise UserError(f"unknown setting(s): {', '.join(unknown)} (see cfg/default.yaml for the keys)")
    validate(settings, notify, given={k for k, v in chosen.items() if v != defaults.get(k)})
    if dropped and notify:
        named = " (--model and --data name the model and data set)" if {"model", "data"} & set(dropped) else ""
        _note(f"ignoring {', '.join(dropped)} from the settings: yolo-prune sets "
              f"{'it' if len(dropped) == 1 else 'them'} itself{named}")  # fmt: skip
    return settings


def _decided(from_file: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """Drop the keys yolo-prune decides itself from the user's settings (in place) and return them; refuse a value
    that asks for something else. ``model`` and ``data`` are ours to take only from the cfg file."""
    dropped = []
    for source in (from_file, given):
        for key in [k for k in source if k in DECIDED and (source is from_file or k not in ("model", "data"))]:
            accepted, why = DECIDED[key]
            if callable(accepted):
                accepted, why = accepted(), why.format(tasks=", ".join(t.label for t in _tasks().values()))
            value = source.pop(key)
            if why and value not in accepted:
                wanted = f" (yolo-prune uses {key} {_word(accepted[0])})" if accepted else ""
                raise UserError(f"{key} {_word(value)} cannot be used{wanted}: {why}")
            dropped.append(key)
    return dropped


def _tasks() -> dict[str, Any]:
    """The tasks yolo-prune prunes (``yolo_prune.structure.TASKS``), imported only when a cfg names a task."""
    from yolo_prune.structure import TASKS

    return TASKS


def _word(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _cores() -> int:
    """The CPU cores this process may run on (a container or ``taskset`` may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def validate(settings: dict[str, Any], notify: bool = True, given: Collection[str] = ()) -> None:
    """Check every value we rely on, so that a typo fails in a second instead of hours into a run: each declared
    setting against its type and range (converted in place: ``1.0e9`` -> 1e9, ``CPU`` -> ``cpu``), then the rules
    that tie settings together. A count the user set (``given``: the keys they set to other than the default) beyond
    the CPU cores is reduced to them, with a note where ``notify``; the default of 8 workers Ultralytics caps itself,
    and the values a run saved were reduced when it started."""
    for s in SETTINGS:
        if s.by_ultralytics or s.name not in settings:
            continue
        value = settings[s.name]
        try:
            settings[s.name] = s.convert(value)
        except ValueError as e:
            raise UserError(f"{s.name} must be {e}, got {value!r}") from None
        reduce = s.cores and s.name in given
        if reduce and settings[s.name] is not None and settings[s.name] > _cores():
            settings[s.name] = _cores()
            if notify:
                _note(f"{s.name} {value} reduced to {_cores()}, the CPU cores this machine has")
    _check_freeze_form(settings.get("freeze"))
    _speed_target(settings)
    if settings["yaml_widths"] and settings["method"] != "finetune":
        if settings["round_to"] % 8:
            raise UserError(
                f"round_to {settings['round_to']} gives channel counts that no Ultralytics model yaml can state (it "
                "rounds every layer up to a multiple of 8): use --round-to 8 or 16, or --yaml-widths false (then "
                "'yolo train model=final.pt' stops with a message; train further with yolo-prune --method finetune)"
            )
        if not settings["prune_head"]:
            raise UserError(
                "--prune-head false keeps head widths that Ultralytics would derive differently from a pruned neck: "
                "add --yaml-widths false (then 'yolo train model=final.pt' stops with a message; train further "
                "with yolo-prune --method finetune)"
            )
    _check_distill(settings)


FREEZE_RULE = "a layer count or a list of layer indices"


def _check_freeze_form(freeze: Any) -> None:
    """Ultralytics' ``freeze`` is a count of leading layers or a list of layer indices (or module names such as
    ``23.cv2``); anything else it silently ignores. Whether the layers exist is checked with the model
    (``checks.check_freeze``)."""
    if freeze is None:
        return
    items = freeze if isinstance(freeze, list) else [freeze]
    if isinstance(freeze, str) or not all(isinstance(x, str) or (type(x) is int and x >= 0) for x in items):
        raise UserError(f"freeze must be {FREEZE_RULE}, got {freeze!r}")


def speedups(settings: dict[str, Any]) -> list[float]:
    """The speed-ups ``target_speedup`` asks for, smallest first (one, or several for the search)."""
    target = settings.get("target_speedup")
    return [] if target is None else sorted(target) if isinstance(target, list) else [target]


def _speed_target(settings: dict[str, Any]) -> None:
    """A speed target is one of ``target_speedup`` and ``target_latency_ms``, and only the latency and search
    methods have one; the search makes one step per target."""
    given = [k for k in SPEED_TARGETS if settings.get(k) is not None]
    if len(given) == 2:
        raise UserError("give either target_speedup or target_latency_ms, not both")
    if settings["method"] == "latency" and not given:
        raise UserError("method latency needs a target: --target-speedup X (e.g. 2) or --target-latency-ms T")
    if settings["method"] == "search":
        if settings.get("target_speedup") is None:
            raise UserError("method search needs one or more speed-ups: --target-speedup 1.5 2 3")
        settings["iterative_steps"] = len(speedups(settings))  # one cut and fine-tuning per target
    elif len(speedups(settings)) > 1:
        raise UserError(f"several speed targets ({', '.join(f'{t:g}' for t in speedups(settings))}) are met by one "
                        f"search: use --method search (or leave --method out), not {settings['method']}")
    if settings.get("latency_table") is not None:
        if settings["method"] != "latency":
            raise UserError("--latency-table times a speed target's models on a device: it needs --target-speedup "
                            "or --target-latency-ms")  # fmt: skip
        if settings["latency_provider"] not in ("cpu", "openvino", "ncnn"):
            raise UserError(f"--latency-table writes models for cpu, openvino or ncnn, whose script runs anywhere "
                            f"with the runtime's own package; not for --latency-provider "
                            f"{settings['latency_provider']}, whose models are built for the device they run on")
    if given and settings["method"] not in ("latency", "search"):
        raise UserError(f"{given[0]} is a target of method latency, not of {settings['method']}: leave --method out "
                        "or use --method latency")  # fmt: skip


def _check_distill(settings: dict[str, Any]) -> None:
    """``distill`` and its settings; Ultralytics' own distillation keys would distill twice, so they are refused."""
    if not settings["distill"]:
        if settings.get("teacher"):
            raise UserError("--teacher is only used with --distill")
        return
    given = [k for k in ("distill_model", "dis") if settings.get(k) is not None]
    if given:
        raise UserError(f"{' and '.join(given)} (Ultralytics' feature distillation) cannot be combined with distill: "
                        "yolo-prune distills from the base model itself; remove one of them")
    if settings["method"] == "finetune" and not settings.get("teacher"):
        raise UserError("--distill with --method finetune needs --teacher MODEL.pt (the unpruned model): the run's "
                        "base is the already pruned input model, which has nothing to teach itself")


def training_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """The Ultralytics train settings among ours: every key that is neither a pruning nor a run key."""
    return {k: v for k, v in settings.items() if k not in PRUNE_KEYS and k not in RUN_KEYS}
