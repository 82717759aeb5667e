"""Resolved settings for a run: package defaults < ``--cfg`` file < explicit arguments, validated before any work.

Usage:
    from yolo_prune.settings import resolve_settings, training_overrides

    s = resolve_settings(cfg="my.yaml", overrides={"target_prune_rate": 0.3})
    train_args = training_overrides(s)  # the Ultralytics keys, for fine-tuning

CLI:
    yolo-prune --cfg cfg/default.yaml --target-prune-rate 0.3 ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from yolo_prune.errors import UserError

DEFAULT_CFG = Path(__file__).parent / "cfg" / "default.yaml"

# Our own keys; everything else in a settings dict must be an Ultralytics train setting.
PRUNE_KEYS = (
    "method", "target_prune_rate", "iterative_steps", "max_map_drop", "round_to", "prune_head", "yaml_widths",
    "sr", "sr_anneal", "sparse_epochs", "min_channels", "gamma_threshold",
    "distill", "distill_weight", "distill_warmup", "teacher",
    "target_speedup", "target_latency_ms", "latency_runs", "latency_warmup", "latency_provider", "latency_threads",
)  # fmt: skip
# Ultralytics keys that name our run directory or that we set ourselves for fine-tuning.
RUN_KEYS = ("project", "name", "verbose", "model", "data", "resume")
METHODS = ("depgraph", "slim", "finetune", "latency")
SPEED_TARGETS = ("target_speedup", "target_latency_ms")  # either one selects the latency method


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


def resolve_settings(cfg: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the user's cfg file and explicit overrides (``None`` values mean "not given"), then validate."""
    settings = load_yaml(DEFAULT_CFG)
    chosen = load_yaml(cfg) if cfg is not None else {}
    chosen.update({k: v for k, v in (overrides or {}).items() if v is not None})
    settings.update(chosen)
    if "method" not in chosen and any(settings.get(k) is not None for k in SPEED_TARGETS):
        settings["method"] = "latency"  # a speed target without a method asks for latency-targeted widths
    unknown = sorted(k for k in settings if k not in PRUNE_KEYS and k not in RUN_KEYS and k not in _ultralytics_keys())
    if unknown:
        raise UserError(f"unknown setting(s): {', '.join(unknown)} (see cfg/default.yaml for the keys)")
    validate(settings)
    return settings


def _number(settings: dict, key: str, kind: type, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> None:  # fmt: skip
    v = settings[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and int(v) != v):
        raise UserError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {v!r}")
    if (low is not None and (v <= low if low_open else v < low)) or (
        high is not None and (v >= high if high_open else v > high)
    ):
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise UserError(f"{key} must be {' and '.join(x for x in (lo, hi) if x)}, got {v}")
    settings[key] = kind(v)


def validate(settings: dict[str, Any]) -> None:
    """Check every value we rely on, so that a typo fails in a second instead of hours into a run."""
    if settings["method"] not in METHODS:
        raise UserError(f"method must be one of {', '.join(METHODS)}, got {settings['method']!r}")
    _number(settings, "target_prune_rate", float, 0, 1, low_open=True, high_open=True)
    _number(settings, "iterative_steps", int, 1)
    _number(settings, "max_map_drop", float, 0)
    _number(settings, "round_to", int, 1)
    _number(settings, "epochs", int, 0)
    _number(settings, "sparse_epochs", int, 0)
    _number(settings, "sr", float, 0)
    _number(settings, "min_channels", float, 0)
    if not valid_min_channels(settings["min_channels"]):
        raise UserError(f"min_channels must be {MIN_CHANNELS_RULE}, got {settings['min_channels']}")
    _number(settings, "gamma_threshold", float, 0)
    _number(settings, "imgsz", int, 32)
    _number(settings, "batch", int, 1)
    _number(settings, "latency_runs", int, 1)
    _number(settings, "latency_warmup", int, 0)
    _number(settings, "seed", int, 0)
    _speed_target(settings)
    if settings["latency_provider"] not in ("cpu", "cuda"):
        raise UserError(f"latency_provider must be cpu or cuda, got {settings['latency_provider']!r}")
    if not isinstance(settings["yaml_widths"], bool) or not isinstance(settings["prune_head"], bool):
        raise UserError("yaml_widths and prune_head must be true or false")
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
    if settings["imgsz"] % 32:
        raise UserError(f"imgsz must be a multiple of 32 (the model's largest stride), got {settings['imgsz']}")


def _speed_target(settings: dict[str, Any]) -> None:
    """A speed target is one of ``target_speedup`` and ``target_latency_ms``, and only the latency method has one."""
    given = [k for k in SPEED_TARGETS if settings.get(k) is not None]
    if settings.get("latency_threads") is not None:
        _number(settings, "latency_threads", int, 1)
    if len(given) == 2:
        raise UserError("give either target_speedup or target_latency_ms, not both")
    if settings["method"] == "latency" and not given:
        raise UserError("method latency needs a target: --target-speedup X (e.g. 2) or --target-latency-ms T")
    if given and settings["method"] != "latency":
        raise UserError(f"{given[0]} is a target of method latency, not of {settings['method']}: leave --method out "
                        "or use --method latency")  # fmt: skip
    if settings.get("target_speedup") is not None:
        _number(settings, "target_speedup", float, 1, low_open=True)
    if settings.get("target_latency_ms") is not None:
        _number(settings, "target_latency_ms", float, 0, low_open=True)


MIN_CHANNELS_RULE = "a share below 1 (e.g. 0.1) or a whole channel count (e.g. 8)"


def valid_min_channels(value: float) -> bool:
    """A per-layer floor is a share of a layer's channels (below 1) or a whole count: 1.5 is neither, and rounding it
    silently would keep a floor the user did not ask for."""
    return value < 1 or value == int(value)


def _check_distill(settings: dict[str, Any]) -> None:
    """``distill`` and its settings; Ultralytics' own distillation keys would distill twice, so they are refused."""
    if not isinstance(settings["distill"], bool):
        raise UserError(f"distill must be true or false, got {settings['distill']!r}")
    _number(settings, "distill_weight", float, 0)
    _number(settings, "distill_warmup", float, 0)
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
