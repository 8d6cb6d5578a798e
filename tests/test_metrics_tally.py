"""The in-process tallies publish exactly what prometheus-client's own
inc()/observe() would have recorded (its private _sum/_buckets are used)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from app import metrics


def test_a_published_tally_equals_direct_observations() -> None:
    reg = CollectorRegistry()
    bounds = (0.001, 0.01, 0.1)
    direct = Histogram("direct_seconds", "d", ["s"], buckets=bounds, registry=reg)
    tallied = Histogram("tallied_seconds", "t", ["s"], buckets=bounds, registry=reg)
    amounts = [0.0, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.2, 7.0]
    for a in amounts:
        direct.labels("x").observe(a)
        metrics._observe(tallied.labels("x"), bounds, a)
    metrics.publish()
    text = generate_latest(reg).decode()

    def lines(name: str) -> list[str]:
        return sorted(
            ln.replace(name, "")
            for ln in text.splitlines()
            if ln.startswith(name) and "_created" not in ln
        )

    assert lines("direct_seconds") == lines("tallied_seconds")
    assert lines("direct_seconds")  # not vacuous
