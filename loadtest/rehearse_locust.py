"""The rehearsal's players, run by ``loadtest/rehearse.py`` (headless Locust).

Each RainPlayer taps the rehearsal activity every 0.3-1.2 s through all three
rounds; one tap in ten carries an Idempotency-Key and is sent again, and the
replay must return the same draw. A few AbusivePlayers send what a client
must not (malformed JSON, a prize or user_id in the body, a forged token, an
oversized body); each must get a 4xx with the error shape. Every answer is
appended to REHEARSAL_LOG (JSON lines) for the harness to check against the
database.

Environment: REHEARSAL_ACTIVITY, REHEARSAL_SECRET (the server's
REDRAIN_SECRET_KEY: tokens are minted here), REHEARSAL_LOG.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.domain import tokens

ACTIVITY = int(os.environ.get("REHEARSAL_ACTIVITY", "0"))
SECRET = os.environ.get("REHEARSAL_SECRET", "").encode()
LOG = Path(os.environ.get("REHEARSAL_LOG", "rehearsal.jsonl"))
_log = LOG.open("a", buffering=1)  # one process (gevent): lines never interleave


def record(**fields: Any) -> None:
    _log.write(json.dumps(fields, separators=(",", ":")) + "\n")


def _code(resp: Any) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("code") if isinstance(err, dict) else None


class RainPlayer(FastHttpUser):
    weight = 50
    wait_time = between(0.3, 1.2)

    def on_start(self) -> None:
        self.user_id = f"rh{uuid.uuid4().hex[:14]}"
        token = tokens.issue(SECRET, self.user_id, int(time.time()) + 3600)
        self.headers = {"Authorization": f"Bearer {token}"}

    @task
    def tap(self) -> None:
        key = uuid.uuid4().hex if random.random() < 0.1 else None
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        body = {"activity_id": ACTIVITY}
        with self.client.post(
            "/v1/draw", json=body, headers=headers, name="draw", catch_response=True
        ) as r:
            if r.status_code == 200:
                d = r.json()
                prize = d["prize"]["key"] if d["won"] else None
                record(u=self.user_id, s=200, d=d["draw_id"], w=d["won"], p=prize)
                r.success()
            elif r.status_code in (409, 429, 503) and _code(r):
                # Limits, closed rounds, and Redis being restarted: expected answers.
                record(u=self.user_id, s=r.status_code, c=_code(r))
                r.success()
            else:
                record(u=self.user_id, s=r.status_code, c=_code(r) or "bad_shape")
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
        if key and r.status_code == 200:
            with self.client.post(
                "/v1/draw", json=body, headers=headers, name="draw (replay)", catch_response=True
            ) as again:
                same = (
                    again.status_code == 200
                    and again.json().get("draw_id") == d["draw_id"]
                    and again.headers.get("Idempotent-Replayed") == "true"
                )
                record(u=self.user_id, replay=d["draw_id"], same=same, s=again.status_code)
                if same or again.status_code == 503:
                    again.success()
                else:
                    again.failure(f"replay gave {again.status_code}: {again.text[:200]}")


BAD_REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("malformed json", {"data": b'{"activity_id": ', "ctype": "application/json"}),
    ("form body", {"data": b"activity_id=1", "ctype": "application/x-www-form-urlencoded"}),
    ("prize in body", {"json": {"activity_id": ACTIVITY, "prize": "c5"}}),
    ("user_id in body", {"json": {"activity_id": ACTIVITY, "user_id": "someone"}}),
    ("nonce in body", {"json": {"activity_id": ACTIVITY, "nonce": 1}}),
    ("activity as string", {"json": {"activity_id": str(ACTIVITY)}}),
    ("oversized body", {"json": {"activity_id": ACTIVITY, "pad": "x" * 70_000}}),
    ("forged token", {"json": {"activity_id": ACTIVITY}, "forge": True}),
]


class AbusivePlayer(FastHttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.user_id = f"rhbad{uuid.uuid4().hex[:10]}"
        self.token = tokens.issue(SECRET, self.user_id, int(time.time()) + 3600)

    @task
    def abuse(self) -> None:
        label, spec = random.choice(BAD_REQUESTS)
        token = self.token[:-4] + "AAAA" if spec.get("forge") else self.token
        headers = {"Authorization": f"Bearer {token}"}
        kwargs: dict[str, Any] = {}
        if "json" in spec:
            kwargs["json"] = spec["json"]
        else:
            kwargs["data"] = spec["data"]
            headers["Content-Type"] = spec["ctype"]
        with self.client.post(
            "/v1/draw", headers=headers, name="abuse", catch_response=True, **kwargs
        ) as r:
            ok = 400 <= r.status_code < 500 and _code(r) is not None
            record(u=self.user_id, abuse=label, s=r.status_code, ok=ok)
            if ok:
                r.success()
            else:
                r.failure(f"{label}: {r.status_code} {r.text[:200]}")
