"""The shipped Prometheus configuration (deploy/prometheus) and Grafana
dashboard (deploy/grafana): promtool checks the config and the rules and runs
the alerts' unit tests; every alert has its labels, annotations, a runbook
section and a test; every metric a rule or a panel reads is one redrain
exports or a rule records (a rename cannot silently empty an alert or a
panel), and every panel's query parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

from app import metrics
from app.domain.records import ReconcileRun

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RUNS = 6
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def promtool(*args: str) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is required (Debian package prometheus; scripts/services.sh installs it)"
    run = subprocess.run([tool, *args], cwd=PROM, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def rules(name: str) -> list[dict[str, object]]:
    doc = yaml.safe_load((PROM / name).read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_checks_the_config_and_the_rules() -> None:
    promtool("check", "config", "prometheus.yml")
    out = promtool("check", "rules", "recording.rules.yml", "alerts.rules.yml")
    assert "SUCCESS" in out


def test_every_alert_fires_and_stays_quiet_as_its_unit_test_says() -> None:
    # promtool evaluates the rule files in a random order each run, so an alert
    # may read its recording rule as of this or the previous evaluation: an
    # expectation that depends on which failed 1 run in 8. Six runs make
    # such a test fail here rather than now and then in CI.
    for _ in range(RUNS):
        out = promtool("test", "rules", "tests/alerts.test.yml")
        assert "SUCCESS" in out
    tested = set(re.findall(r"alertname: (\w+)", (PROM / "tests" / "alerts.test.yml").read_text()))
    alerts = {str(r["alert"]) for r in rules("alerts.rules.yml")}
    assert alerts <= tested, alerts - tested


def test_every_alert_says_how_bad_what_and_where_its_runbook_is() -> None:
    anchors = {h.strip().lower() for h in re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), re.M)}
    for rule in rules("alerts.rules.yml"):
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and isinstance(notes, dict)
        assert labels["severity"] in ("page", "ticket"), rule["alert"]
        assert notes["summary"] and notes["description"], rule["alert"]
        page, _, anchor = str(notes["runbook_url"]).partition("#")
        assert page == "docs/runbooks.md" and anchor == str(rule["alert"]).lower()
        assert anchor in anchors, f"docs/runbooks.md has no section {rule['alert']}"


def exported() -> set[str]:
    """Every sample name redrain's processes can export."""
    names: set[str] = set()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    worker = metrics.WorkerMetrics(CollectorRegistry())
    for registry in (REGISTRY, worker.registry):
        for family in registry.collect():
            names |= {family.name + s for s in suffixes.get(family.type, [""])}
    # Gauges the API reads at scrape time, with every kind of value present.
    snapshot = metrics.Snapshot(
        [metrics.LiveStock(1, "1:20261206:0", "p1", 10, 5, 2, 3)],
        [metrics.StreamLag("1:20261206:0", 1, 1)],
        ReconcileRun(run_ms=1, ok_ms=1, checked=1, drift=0, not_drained=0, repaired=0),
    )
    scraped = metrics.exposition(snapshot).decode()
    names |= set(re.findall(r"^(redrain_\w+)(?:\{| )", scraped, re.M))
    return names


def test_every_metric_a_rule_reads_is_exported() -> None:
    have = exported() | {"up"}
    for name in ("recording.rules.yml", "alerts.rules.yml"):
        for rule in rules(name):
            used = set(re.findall(r"\b(redrain_\w+|up)\b", str(rule["expr"])))
            assert used <= have, (rule.get("record") or rule.get("alert"), used - have)


DASHBOARD = ROOT / "deploy" / "grafana" / "redrain.json"


def panel_queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in doc["panels"] for t in p["targets"]]


def test_every_panel_reads_what_is_exported_or_recorded(tmp_path: Path) -> None:
    recorded = {str(r["record"]) for r in rules("recording.rules.yml")}
    have = exported() | recorded
    queries = panel_queries()
    assert len(queries) >= 12
    for title, expr in queries:
        used = set(re.findall(r"\b(redrain[_:][\w:]+)", expr))
        assert used and used <= have, (title, used - have)
    # promtool parses each query as it parses a rule's.
    parsed = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:q{i}", "expr": e} for i, (_, e) in enumerate(queries)
                ],
            }
        ]
    }
    check = tmp_path / "dashboard.rules.yml"
    check.write_text(yaml.safe_dump(parsed))
    assert "SUCCESS" in promtool("check", "rules", str(check))
