"""The open-loop rain generator (loadtest/rain.py), tiny: its own Redis, a
scratch MariaDB database, two API workers and a flush worker; a 2 s capacity
run, then 2 s of taps at 1.5 × C over 50 connections. The report must have
its parts, its counts must add up, and every accepted draw must be stored.
The nginx runs (--edge, --both) need deploy/nginx/run-local.sh: not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import MARIADB_URL, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_rain_reports_counts_that_add_up(artifacts: Path) -> None:
    report = artifacts / "rain-tiny.json"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "loadtest" / "rain.py"),
            *("--factor", "1.5", "--duration", "2", "--connections", "50"),
            *("--capacity-connections", "16", "--capacity-seconds", "2", "--warmup", "0.5"),
            *("--grace", "5", "--json", str(report)),
        ],
        env=subprocess_env({"REDRAIN_BENCH_MARIADB_URL": MARIADB_URL}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    (artifacts / "rain-tiny.txt").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = json.loads(report.read_text())
    assert out["machine"]["cores"] >= 1 and out["machine"]["cpu_model"]
    assert list(out["runs"]) == ["straight"]
    r = out["runs"]["straight"]
    c, t, lat = r["capacity_per_s"], r["taps"], r["latency_ms"]

    # C from the closed loop; the schedule offered 1.5 × C for 2 s.
    assert c > 100
    assert r["capacity_run"]["accepted_per_s"] == c
    assert r["offered_per_s"] == pytest.approx(1.5 * c, rel=0.01)
    assert abs(t["scheduled"] - 2 * r["offered_per_s"]) <= 1
    # Every tap is accounted for, once.
    assert t["scheduled"] == t["sent"] + t["never_sent"]
    assert t["sent"] == t["answered"] + t["errors"] + t["unanswered"]
    refused = t["busy_503"] + t["rate_limited_429"]
    assert t["answered"] == t["accepted"] + refused + sum(t["other"].values())
    assert t["accepted_in_window"] <= t["accepted"]
    assert r["consistency"] == []
    # Goodput cannot exceed what was offered.
    assert 0 < r["goodput_over_c"] <= r["factor"] + 1e-9
    assert r["accepted_per_s"] <= r["offered_per_s"]
    # Latency from the scheduled time: ordered quantiles, lag measured.
    assert 0 <= lat["accepted_p50"] <= lat["accepted_p99"] <= lat["accepted_max"]
    assert r["generator"]["schedule_lag_p99_ms"] is not None
    # Nothing lost on loopback: all 50 connections opened, no errors.
    assert r["connections"]["opened"] == 50 and r["connections"]["failed"] == 0
    assert t["errors"] == 0 and t["bad_answers"] == 0
    # CPU of every process, the generator's own included.
    cpu = r["cpu_cores"]
    assert {"redis-server", "flush-worker", "generator"} <= set(cpu)
    assert any(k.startswith("api") for k in cpu)
    assert 0 < cpu["generator"] < 2
    # The flush worker stored every accepted draw and every answered win.
    db = r["database"]
    assert db["reconcile_ok"] and db["pass"], db
    assert t["accepted"] <= db["draws"] <= t["accepted"] + t["unanswered"]
    assert t["wins"] <= db["wins"] <= t["wins"] + t["unanswered"]
    # The targets are printed, each PASS or FAIL.
    assert {x["target"].split(":")[0] for x in out["targets"]} == {"straight"}
    assert "PASS" in run.stdout or "FAIL" in run.stdout
