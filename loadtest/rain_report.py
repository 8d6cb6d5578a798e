"""The rain generator's arithmetic and its report: merging the generator
processes' findings, the figures of one run, the side-by-side table and the
targets of issue 24 (target 4), each PASS or FAIL."""

from __future__ import annotations

import base64
import math
import os
from array import array
from pathlib import Path
from typing import Any

COUNTS = (
    "opened",
    "connect_failed",
    "reconnects",
    "closed_by_server",
    "scheduled",
    "sent",
    "answers",
    "never_sent",
    "unanswered",
    "errors",
    "bad_answers",
    "accepted_in_window",
    "wins",
    "cpu_s",
)
SERIES = ("accepted", "busy", "limited", "other_lat", "lag", "queued")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count()}


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The generator processes' results as one."""
    out: dict[str, Any] = {k: sum(p[k] for p in parts) for k in COUNTS}
    for k in SERIES:
        merged = array("d")
        for p in parts:
            merged.frombytes(base64.b64decode(p[k]))
        out[k] = merged
    out["other"] = {}
    for p in parts:
        for status, n in p["other"].items():  # JSON made the statuses strings
            out["other"][int(status)] = out["other"].get(int(status), 0) + n
    out["max_waiting"] = sum(p["max_waiting"] for p in parts)  # an upper bound
    return out


def ms(xs: array[float] | list[float], q: float) -> float | None:
    """Quantile ``q`` of ``xs`` (seconds) in milliseconds; None when empty."""
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, math.ceil(q * len(s)) - 1 if q > 0 else 0)] * 1000, 2)


def figures(
    r: dict[str, Any], *, capacity: float, rate: float, duration: float, cpu: dict[str, float]
) -> dict[str, Any]:
    """One run's figures from the merged result ``r``. ``capacity`` is C
    (accepted draws/s of the closed loop), ``rate`` the taps/s offered (the
    closed loop's own: 0)."""
    refused = array("d", r["busy"])
    refused.extend(r["limited"])
    answered_all = array("d", r["accepted"])
    answered_all.extend(refused)
    answered = len(r["accepted"]) + len(refused) + sum(r["other"].values())
    goodput = r["accepted_in_window"] / duration
    return {
        "offered_per_s": round(rate, 1),
        "factor": round(rate / capacity, 3) if capacity and rate else None,
        "capacity_per_s": round(capacity, 1),
        "duration_s": duration,
        "accepted_per_s": round(goodput, 1),
        "goodput_over_c": round(goodput / capacity, 3) if capacity else None,
        "connections": {
            "opened": r["opened"],
            "failed": r["connect_failed"],
            "closed_by_server": r["closed_by_server"],
            "reconnects": r["reconnects"],
        },
        "taps": {
            "scheduled": r["scheduled"],
            "sent": r["sent"],
            "answered": answered,
            "answers_with_warmup": r["answers"],
            "accepted": len(r["accepted"]),
            "accepted_in_window": r["accepted_in_window"],
            "busy_503": len(r["busy"]),
            "rate_limited_429": len(r["limited"]),
            "other": {str(k): v for k, v in sorted(r["other"].items())},
            "errors": r["errors"],
            "bad_answers": r["bad_answers"],
            "unanswered": r["unanswered"],
            "never_sent": r["never_sent"],
            "wins": r["wins"],
        },
        "latency_ms": {
            "accepted_p50": ms(r["accepted"], 0.5),
            "accepted_p99": ms(r["accepted"], 0.99),
            "accepted_max": ms(r["accepted"], 1.0),
            "refused_p50": ms(refused, 0.5),
            "refused_p99": ms(refused, 0.99),
            "refused_max": ms(refused, 1.0),
            "busy_p50": ms(r["busy"], 0.5),
            "busy_p99": ms(r["busy"], 0.99),
            "rate_limited_p50": ms(r["limited"], 0.5),
            "rate_limited_p99": ms(r["limited"], 0.99),
            "other_p99": ms(r["other_lat"], 0.99),
            "every_answer_p99": ms(answered_all, 0.99),
        },
        "generator": {
            "schedule_lag_p50_ms": ms(r["lag"], 0.5),
            "schedule_lag_p99_ms": ms(r["lag"], 0.99),
            "schedule_lag_max_ms": ms(r["lag"], 1.0),
            "queue_wait_p99_ms": ms(r["queued"], 0.99),
            "max_waiting": r["max_waiting"],
        },
        "cpu_cores": {k: round(v, 3) for k, v in cpu.items()},
    }


def consistent(f: dict[str, Any]) -> list[str]:
    """The counts that must add up, as complaints (none: they do)."""
    t = f["taps"]
    bad = []
    if t["scheduled"] != t["sent"] + t["never_sent"]:
        bad.append(f"scheduled {t['scheduled']} != sent {t['sent']} + never sent {t['never_sent']}")
    if t["sent"] != t["answers_with_warmup"] + t["errors"] + t["unanswered"]:
        bad.append(
            f"sent {t['sent']} != answered {t['answers_with_warmup']} + errors {t['errors']} "
            f"+ unanswered {t['unanswered']}"
        )
    return bad


# -- targets (issue 24, target 4) -----------------------------------------------


def _le(x: float | None, bound: float) -> bool:
    return x is not None and x <= bound


def targets(name: str, f: dict[str, Any], edge: bool) -> list[tuple[str, bool, str]]:
    lat, t = f["latency_ms"], f["taps"]
    g = f["goodput_over_c"] or 0.0
    lost = t["errors"] + t["unanswered"] + t["never_sent"] + f["connections"]["failed"]
    clean = (
        f"errors {t['errors']}, unanswered {t['unanswered']}, never sent "
        f"{t['never_sent']}, connections failed {f['connections']['failed']}"
    )
    if not edge:
        return [
            (
                f"{name}: every answer p99 <= 500 ms",
                _le(lat["every_answer_p99"], 500),
                f"{lat['every_answer_p99']} ms",
            ),
            (f"{name}: goodput >= 0.5 C", g >= 0.5, f"{g:.3f} C"),
            (f"{name}: no errors, every tap answered", lost == 0 and not t["other"], clean),
        ]
    db = f.get("database") or {}
    return [
        (
            f"{name}: accepted p99 <= 100 ms",
            _le(lat["accepted_p99"], 100),
            f"{lat['accepted_p99']} ms",
        ),
        (
            f"{name}: refused p99 <= 20 ms",
            _le(lat["refused_p99"], 20) or not (t["busy_503"] + t["rate_limited_429"]),
            f"{lat['refused_p99']} ms",
        ),
        (f"{name}: goodput >= 0.8 C", g >= 0.8, f"{g:.3f} C"),
        (f"{name}: no errors, every tap answered", lost == 0 and not t["other"], clean),
        (
            f"{name}: every accepted win stored, reconcile passes",
            bool(db.get("pass")),
            db.get("detail", "not checked"),
        ),
    ]


# -- the table --------------------------------------------------------------------


def _n(x: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def rows_of(f: dict[str, Any]) -> list[tuple[str, str]]:
    lat, t, g = f["latency_ms"], f["taps"], f["generator"]
    c = f["connections"]
    db = f.get("database") or {}
    rows = [
        ("offered taps/s (factor)", f"{_n(f['offered_per_s'])} ({_n(f['factor'], '{:.2f}')} C)"),
        ("C, accepted draws/s closed", _n(f["capacity_per_s"])),
        (
            "accepted/s, goodput/C",
            f"{_n(f['accepted_per_s'])}, {_n(f['goodput_over_c'], '{:.3f}')}",
        ),
        (
            "accepted p50/p99/max ms",
            "/".join(
                _n(lat[k], "{:.1f}") for k in ("accepted_p50", "accepted_p99", "accepted_max")
            ),
        ),
        (
            "refused p50/p99 ms",
            "/".join(_n(lat[k], "{:.1f}") for k in ("refused_p50", "refused_p99")),
        ),
        (
            "  503 busy: n, p50/p99 ms",
            f"{t['busy_503']:,}, "
            + "/".join(_n(lat[k], "{:.1f}") for k in ("busy_p50", "busy_p99")),
        ),
        (
            "  429 rate_limited: n, p99",
            f"{t['rate_limited_429']:,}, " + _n(lat["rate_limited_p99"], "{:.1f}"),
        ),
        ("every answer p99 ms", _n(lat["every_answer_p99"], "{:.1f}")),
        ("taps scheduled/sent/answered", f"{t['scheduled']:,}/{t['sent']:,}/{t['answered']:,}"),
        ("other statuses", ", ".join(f"{k}: {v}" for k, v in t["other"].items()) or "none"),
        ("errors (lost in flight)", f"{t['errors']} (+{t['bad_answers']} unreadable)"),
        ("unanswered / never sent", f"{t['unanswered']} / {t['never_sent']}"),
        ("connections open/failed/closed", f"{c['opened']}/{c['failed']}/{c['closed_by_server']}"),
        (
            "schedule lag p99/max ms",
            "/".join(_n(g[k], "{:.1f}") for k in ("schedule_lag_p99_ms", "schedule_lag_max_ms")),
        ),
        ("wait for a connection p99 ms", _n(g["queue_wait_p99_ms"], "{:.1f}")),
    ]
    if db:
        rows.append(("wins answered / stored", f"{t['wins']:,} / {_n(db.get('wins'))}"))
        rows.append(("reconcile", "ok" if db.get("reconcile_ok") else "FAILED"))
    for k, v in f["cpu_cores"].items():
        rows.append((f"cpu {k} (cores)", f"{v:.2f}"))
    return rows


def table(runs: dict[str, dict[str, Any]]) -> str:
    cols = {name: dict(rows_of(f)) for name, f in runs.items()}
    labels: list[str] = []
    for name in runs:
        labels += [k for k, _ in rows_of(runs[name]) if k not in labels]
    width = 2 + max(
        16, *(len(n) for n in runs), *(len(v) for c in cols.values() for v in c.values())
    )
    lines = [f"{'':<32}" + "".join(f"{n:>{width}}" for n in runs)]
    for label in labels:
        lines.append(f"{label:<32}" + "".join(f"{cols[n].get(label, ''):>{width}}" for n in runs))
    return "\n".join(lines)
