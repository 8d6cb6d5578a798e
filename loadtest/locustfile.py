"""Realistic load: a red-envelope-rain burst and a lucky wheel's steady traffic.

    locust -f loadtest/locustfile.py --headless -u 3000 -r 600 -t 60s \\
           --host http://127.0.0.1:8000

The server needs REDRAIN_ADMIN_TOKEN (passed here as LOCUST_ADMIN_TOKEN,
default ``dev-admin-token``, the embedded mode's) and either dev login (the
embedded default) or LOCUST_SECRET_KEY equal to the server's REDRAIN_SECRET_KEY,
so players' tokens can be minted without a login per user. At start it creates
and publishes two activities whose session is open now (in Asia/Shanghai):

- a rain: one 10-minute session from a minute ago, per_round 5, prizes in
  4 slices: RainPlayer taps until refused (429 round_limit), 10% retry a tap
  with the same Idempotency-Key, and check the replay has the same draw_id;
- a lucky wheel: per_day 20, auto odds: WheelPlayer spins every 1-3 s and
  reads the rules now and then;
- several draws in one request (SPEC §3 "count"): BatchRainPlayer sends its
  taps 2-5 at a time until a limit stops the batch, TenPullPlayer makes
  ten-pulls on the wheel; each answer's draws must have consecutive nonces,
  no more than asked, and a stop must name its refusal;
- AbusivePlayer (few): forged and expired tokens, malformed JSON, fields a
  client must not send, oversized bodies, a player token on admin routes:
  each must be refused with a 4xx and the error shape, or it is a failure.

Refusals that are the system working (429 limits, 409 closed) count as
successes under their own names; any 5xx or shape error is a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ADMIN = os.environ.get("LOCUST_ADMIN_TOKEN", "dev-admin-token")
SECRET = os.environ.get("LOCUST_SECRET_KEY")
ZONE = ZoneInfo("Asia/Shanghai")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # a body not sent as JSON: 415
ACTIVITIES: dict[str, int] = {}


def _hhmmss(t: dt.datetime) -> str:
    return t.strftime("%H:%M:%S")


def _configs(now: dt.datetime) -> dict[str, dict[str, Any]]:
    start = now - dt.timedelta(minutes=1)
    end = min(now + dt.timedelta(minutes=9), now.replace(hour=23, minute=59, second=59))
    day = now.date().isoformat()
    coupon = {"type": "coupon", "value": "CPN"}
    rain = {
        "name": "locust rain",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": day,
        "end_date": day,
        "probability": "manual",
        "limits": {"per_round": 5},
        "release": {"slices": 4},
        "sessions": [
            {
                "start": _hhmmss(start),
                "end": _hhmmss(end),
                "pools": [
                    {
                        "prizes": [
                            {
                                "key": "c2",
                                "name": "2 yuan",
                                "quantity": 3000,
                                "probability": 0.3,
                                **coupon,
                            },
                            {
                                "key": "c5",
                                "name": "5 yuan",
                                "quantity": 500,
                                "probability": 0.05,
                                **coupon,
                            },
                            {"key": "thanks", "type": "empty", "name": "Thanks for playing"},
                        ]
                    }
                ],
            }
        ],
    }
    wheel = {
        "name": "locust wheel",
        "kind": "time",
        "timezone": "Asia/Shanghai",
        "start_date": day,
        "end_date": day,
        "probability": "auto",
        "limits": {"per_day": 20},
        "sessions": [
            {
                "start": "00:00:00",
                "end": "24:00:00",
                "pools": [
                    {
                        "prizes": [
                            {
                                "key": "p10",
                                "type": "points",
                                "name": "10 points",
                                "value": "10",
                                "quantity": 10**6,
                                "weight": 10,
                            },
                            {
                                "key": "p100",
                                "type": "points",
                                "name": "100 points",
                                "value": "100",
                                "quantity": 10**4,
                                "weight": 1,
                            },
                        ]
                    }
                ],
            }
        ],
    }
    return {"rain": rain, "wheel": wheel}


@events.test_start.add_listener
def publish(environment: Any, **_: Any) -> None:
    host = environment.host.rstrip("/")
    headers = {"Authorization": f"Bearer {ADMIN}"}
    for name, cfg in _configs(dt.datetime.now(ZONE)).items():
        r = requests.post(f"{host}/v1/admin/activities", json=cfg, headers=headers, timeout=30)
        r.raise_for_status()
        aid = r.json()["id"]
        requests.post(
            f"{host}/v1/admin/activities/{aid}/publish", headers=headers, timeout=60
        ).raise_for_status()
        ACTIVITIES[name] = aid


class Player(HttpUser):
    abstract = True

    def on_start(self) -> None:
        self.user_id = f"lc{uuid.uuid4().hex[:16]}"
        if SECRET:
            from app.domain import tokens

            token = tokens.issue(SECRET.encode(), self.user_id, int(time.time()) + 3600)
        else:
            r = self.client.post("/v1/auth/dev", json={"user_id": self.user_id}, name="auth/dev")
            token = r.json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def draw(self, activity: str, key: str | None = None, count: int | None = None) -> Any:
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        body: dict[str, Any] = {"activity_id": ACTIVITIES[activity]}
        if count is not None:
            body["count"] = count
        with self.client.post(
            "/v1/draw",
            json=body,
            headers=headers,
            name=f"draw {activity}" + (f" x{count}" if count else ""),
            catch_response=True,
        ) as r:
            if r.status_code == 200 and count is None and "draw_id" in r.json():
                r.success()
                return r.json()
            if r.status_code == 200 and count is not None:
                problem = batch_problem(r.json(), count)
                if problem:
                    r.failure(problem)
                    return None
                r.success()
                return r.json()
            if r.status_code in (409, 429) and "error" in r.json():
                r.success()  # a limit or a closed round: the system working
                return r.json()
            r.failure(f"{r.status_code}: {r.text[:200]}")
            return None


class RainPlayer(Player):
    """Arrives with the burst, taps until refused, sometimes retries a tap."""

    weight = 20
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        super().on_start()
        self.done = False

    @task
    def tap(self) -> None:
        if self.done:
            self.wait()
            return
        key = uuid.uuid4().hex if random.random() < 0.1 else None
        first = self.draw("rain", key)
        if first and "error" in first:
            self.done = first["error"]["code"] in ("round_limit", "round_closed", "activity_ended")
            return
        if key and first:
            again = self.draw("rain", key)
            if again and again.get("draw_id") != first["draw_id"]:
                events.request.fire(
                    request_type="CHECK",
                    name="idempotent replay",
                    response_time=0,
                    response_length=0,
                    exception=AssertionError("replay drew again"),
                )


class BatchRainPlayer(Player):
    """The rain's page: the taps of a quarter second (2-5) as one request."""

    weight = 10
    wait_time = between(0.25, 0.6)

    def on_start(self) -> None:
        super().on_start()
        self.done = False

    @task
    def taps(self) -> None:
        if self.done:
            self.wait()
            return
        got = self.draw("rain", count=random.randint(2, 5))
        if not got:
            return
        stop = got.get("error") or got.get("stopped")
        self.done = bool(stop) and stop["code"] in ("round_limit", "round_closed", "activity_ended")


class TenPullPlayer(Player):
    """Ten-pulls on the wheel until the day's limit stops them."""

    weight = 3
    wait_time = between(2, 5)

    @task
    def pull(self) -> None:
        self.draw("wheel", count=10)


def batch_problem(body: Any, count: int) -> str | None:
    """What is wrong with a 200 answer to ``count`` draws, or None."""
    try:
        draws, stopped = body["draws"], body["stopped"]
        nonces = [d["proof"]["nonce"] for d in draws]
    except (KeyError, TypeError):
        return f"not a batch answer: {str(body)[:200]}"
    if not 1 <= len(draws) <= count:
        return f"{len(draws)} draws for count {count}"
    if nonces != list(range(nonces[0], nonces[0] + len(nonces))):
        return f"nonces not consecutive: {nonces}"
    if (len(draws) < count) != (stopped is not None) or (stopped and not stopped.get("code")):
        return f"{len(draws)} of {count} draws with stopped={stopped}"
    return None


class WheelPlayer(Player):
    weight = 5
    wait_time = between(1, 3)

    @task(5)
    def spin(self) -> None:
        self.draw("wheel")

    @task(1)
    def rules(self) -> None:
        self.client.get(f"/v1/activities/{ACTIVITIES['wheel']}", headers=self.headers, name="rules")


class AbusivePlayer(Player):
    """Tries what a client must never get away with; every try must be a 4xx."""

    weight = 1
    wait_time = between(0.1, 0.5)

    def expect_4xx(self, name: str, **kw: Any) -> None:
        method = kw.pop("method", "POST")
        path = kw.pop("path", "/v1/draw")
        with self.client.request(
            method, path, name=f"abuse: {name}", catch_response=True, **kw
        ) as r:
            ok = 400 <= r.status_code < 500
            try:
                ok = ok and set(r.json()["error"]) >= {"code", "message"}
            except (ValueError, KeyError, TypeError):
                ok = False
            if ok:
                r.success()
            else:
                r.failure(f"expected a 4xx error, got {r.status_code}: {r.text[:200]}")

    @task
    def abuse(self) -> None:
        aid = ACTIVITIES["rain"]
        tries = [
            (
                "forged token",
                {
                    "json": {"activity_id": aid},
                    "headers": {"Authorization": "Bearer rd1.x.9999999999.forged"},
                },
            ),
            ("no token", {"json": {"activity_id": aid}}),
            ("malformed json", {"data": "{", "headers": self.headers}),
            ("form body", {"data": "activity_id=1", "headers": {**self.headers, **FORM}}),
            (
                "sends a prize",
                {"json": {"activity_id": aid, "prize": "c5"}, "headers": self.headers},
            ),
            (
                "sends an amount",
                {"json": {"activity_id": aid, "amount": 10**6}, "headers": self.headers},
            ),
            (
                "oversized body",
                {
                    "data": json.dumps({"activity_id": aid, "x": "y" * 70_000}),
                    "headers": self.headers,
                },
            ),
            (
                "admin route",
                {
                    "method": "GET",
                    "path": f"/v1/admin/activities/{aid}/stats",
                    "headers": self.headers,
                },
            ),
        ]
        name, kw = random.choice(tries)
        self.expect_4xx(name, **kw)
