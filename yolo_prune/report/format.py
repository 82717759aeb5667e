"""How the report writes numbers: MACs, params, sizes, mAP, shares, ratios, latencies and times, "n/a" for a
number that is missing or not finite, and never "-0.000".

Usage:
    from yolo_prune.report.format import fmt_macs, fmt_map, fmt_share

    fmt_macs(8.7e9), fmt_map(0.4512), fmt_share(0.43)  # ("8.70 G", "0.451", "43.0%")

CLI (the report's tables, written this way):
    yolo-prune --report runs/prune/exp
"""

from __future__ import annotations

import math
from typing import Any

NA = "n/a"


def finite(v: Any) -> bool:
    """A real number: not None, a bool, NaN or infinite (what the report writes as n/a)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fixed(v: float, digits: int) -> str:
    """``v`` with ``digits`` decimals, and no minus sign on a value that rounds to zero."""
    s = f"{v:.{digits}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def fmt_macs(v: Any) -> str:
    """MACs with a unit prefix ("4.40 G"): raw counts of billions are unreadable."""
    if not finite(v):
        return NA
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= scale:
            return f"{fixed(v / scale, 2)} {unit}"
    return f"{v:.0f}"


def fmt_params(v: Any) -> str:
    """Parameters in millions ("3.16 M"), thousands for toy models."""
    if not finite(v):
        return NA
    return f"{fixed(v / 1e6, 2)} M" if abs(v) >= 1e5 else f"{fixed(v / 1e3, 2)} K"


def fmt_bytes(v: Any) -> str:
    """File size in MB (10^6 bytes)."""
    return f"{fixed(v / 1e6, 2)} MB" if finite(v) else NA


def fmt_map(v: Any) -> str:
    """mAP with 3 decimals: finer digits are below evaluation noise."""
    return fixed(v, 3) if finite(v) else NA


def fmt_share(v: Any) -> str:
    """A share of base (0.43) as a percentage ("43.0%")."""
    return f"{fixed(v * 100, 1)}%" if finite(v) else NA


def fmt_ratio(v: Any) -> str:
    """A ratio such as a speed-up as "2.31x"."""
    return f"{fixed(v, 2)}x" if finite(v) else NA


def fmt_latency(lat: dict | None) -> str:
    """``median ms (p10-p90)``: the spread tells whether a speed-up is larger than the noise."""
    if not lat or not finite(lat.get("median_ms")):
        return NA
    s = f"{fixed(lat['median_ms'], 2)} ms"
    if finite(lat.get("p10_ms")) and finite(lat.get("p90_ms")):
        s += f" ({fixed(lat['p10_ms'], 2)}-{fixed(lat['p90_ms'], 2)})"
    return s


def fmt_seconds(v: Any) -> str:
    """Wall time as "42.0 s", "12 min 05 s" or "1 h 02 min"."""
    if not finite(v):
        return NA
    if v < 60:
        return f"{fixed(v, 1)} s"
    m, s = divmod(int(round(v)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"

