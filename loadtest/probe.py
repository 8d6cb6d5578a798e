"""The hardening probe: replay issue 23's concurrent and bad-input cases against
a running server and count the answers. Exit 0 when no answer was a 5xx (other
than 503 ``busy``, a refusal by design) and every invariant held; 1 otherwise.

    python loadtest/probe.py                      # starts an embedded server
    python loadtest/probe.py --base URL --admin-token TOKEN

Against your own server, dev login must be on (REDRAIN_DEV_LOGIN=1: the probe
makes players that way) and the probe's requests come from loopback, a
trusted proxy by default (REDRAIN_TRUSTED_PROXIES), so X-Forwarded-For
spellings are believed. Everything it creates is named ``probe-…``.

What it sends, each case a few dozen requests at once:

  concurrency  20 parallel publishes of one activity; archive racing publish;
               publish racing blacklist changes; 20 identical PUTs; one player
               double-tapping join, leave, cancel, delete; one grant reference
               20 times; one Idempotency-Key 20 times and across two
               activities; operators and tokens of one name; 200 wrong
               passwords for one account (at most 5 reach the password check)
  bad input    for every route with a JSON body (from /openapi.json): empty,
               not JSON, not an object, arrays, deep nesting, 70 KB, unknown
               fields, each field of the wrong type, non-JSON content types;
               ids out of range in every path; 1 MB and 5,000 headers;
               a hostile Host on redirects; a blacklisted address respelled;
               a preview that multiplies work; a winner named like a formula
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import running_server  # noqa: E402

EMBEDDED_ADMIN = "dev-admin-token"
N = 20


class Probe:
    def __init__(self, base: str, admin: str) -> None:
        self.base = base
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.client = httpx.AsyncClient(base_url=base, timeout=60)
        self.statuses: Counter[int] = Counter()
        self.cases: dict[str, Counter[int]] = {}
        self.problems: list[str] = []
        self.tag = f"probe-{int(time.time()) % 100_000}"
        self.now_open = 0  # an activity open now, which the probe draws in

    # -- bookkeeping ------------------------------------------------------------------

    def seen(self, case: str, answers: list[httpx.Response]) -> list[httpx.Response]:
        counts = self.cases.setdefault(case, Counter())
        for a in answers:
            counts[a.status_code] += 1
            self.statuses[a.status_code] += 1
            if a.status_code >= 500 and not _busy(a):
                self.problems.append(
                    f"{case}: {a.request.method} {a.request.url.path} -> "
                    f"{a.status_code} {a.text[:200]}"
                )
        return answers

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(f"invariant: {what}")

    async def at_once(
        self, case: str, calls: list[Callable[[], Awaitable[httpx.Response]]]
    ) -> list[httpx.Response]:
        return self.seen(case, list(await asyncio.gather(*(c() for c in calls))))

    async def player(self, name: str) -> dict[str, str]:
        resp = await self.client.post("/v1/auth/dev", json={"user_id": f"{self.tag}-{name}"})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    async def activity(
        self, *, days_ahead: int = 7, kind: str = "time", publish: bool = False
    ) -> int:
        first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_ahead)
        pool: dict[str, Any] = {
            "prizes": [
                {
                    "key": "c",
                    "type": "coupon",
                    "name": '=HYPERLINK("x")',
                    "value": "@SUM(1)",
                    "quantity": 50,
                    "probability": 0.9,
                }
            ]
        }
        if kind == "amount":
            pool["amount_min"] = 0
        cfg = {
            "name": f"{self.tag} activity",
            "kind": kind,
            "timezone": "UTC",
            "start_date": first.isoformat(),
            "end_date": first.isoformat(),
            "probability": "manual",
            "limits": {"per_round": 50},
            "sessions": [{"start": "00:00:00", "end": "24:00:00", "pools": [pool]}],
        }
        resp = await self.client.post("/v1/admin/activities", json=cfg, headers=self.admin)
        resp.raise_for_status()
        aid = int(resp.json()["id"])
        if publish:
            await self.publish(aid)
        return aid

    async def publish(self, aid: int) -> None:
        resp = await self.client.post(f"/v1/admin/activities/{aid}/publish", headers=self.admin)
        if resp.status_code == 202:  # four-eyes: the probe cannot approve its own request
            raise SystemExit("probe: run it on a server without REDRAIN_PUBLISH_APPROVALS")
        resp.raise_for_status()

    # -- concurrency ---------------------------------------------------------------

    async def concurrency(self) -> None:
        c, h = self.client, self.admin
        aid = await self.activity()
        await self.at_once(
            "publish x20", [lambda: c.post(f"/v1/admin/activities/{aid}/publish", headers=h)] * N
        )
        got = (await c.get(f"/v1/admin/activities/{aid}", headers=h)).json()
        self.check(
            got.get("published_version") == got.get("version"), "20 publishes publish the activity"
        )

        for _ in range(3):
            draft = await self.activity()
            calls = [lambda d=draft: c.post(f"/v1/admin/activities/{d}/archive", headers=h)] * 5
            calls += [lambda d=draft: c.post(f"/v1/admin/activities/{d}/publish", headers=h)] * 5
            await self.at_once("archive vs publish", calls)
            rec = (await c.get(f"/v1/admin/activities/{draft}", headers=h)).json()
            public = await c.get(f"/v1/activities/{draft}")
            both = rec.get("status") == "archived" and public.status_code == 200
            self.check(not both, f"activity {draft} is archived and published at once")
            if rec.get("status") == "archived":
                await c.post(f"/v1/admin/activities/{draft}/restore", headers=h)

        live = await self.activity(publish=True)
        names = [f"{self.tag}-bl-{i}" for i in range(8)]
        calls = [lambda: c.post(f"/v1/admin/activities/{live}/publish", headers=h)] * 4
        calls += [
            lambda v=v: c.post("/v1/admin/blacklist", json={"kind": "user", "value": v}, headers=h)
            for v in names
        ]
        await self.at_once("publish vs blacklist", calls)
        await self.at_once(
            "blacklist remove x8",
            [lambda v=v: c.delete(f"/v1/admin/blacklist/user/{v}", headers=h) for v in names],
        )

        cfg = (await c.get(f"/v1/admin/activities/{aid}", headers=h)).json()
        await self.at_once(
            "PUT x20", [lambda: c.put(f"/v1/admin/activities/{aid}", json=cfg, headers=h)] * N
        )

        maker, tapper = await self.player("maker"), await self.player("tapper")
        when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        body = {"title": "probe", "draw_at": when, "prize": {"name": "p", "quantity": 1}}
        made = await self.at_once(
            "lottery create x10", [lambda: c.post("/v1/lotteries", json=body, headers=maker)] * 10
        )
        lid = next((a.json()["id"] for a in made if a.status_code == 201), None)
        if lid is None:
            self.problems.append("lottery create: none created")
        else:
            await self.at_once(
                "join double-tap x20",
                [lambda: c.post(f"/v1/lotteries/{lid}/join", headers=tapper)] * N,
            )
            count = (await c.get(f"/v1/lotteries/{lid}")).json().get("participants")
            self.check(count == 1, f"one player joined once (participants {count})")
            await self.at_once(
                "leave x20", [lambda: c.delete(f"/v1/lotteries/{lid}/join", headers=tapper)] * N
            )
            await self.at_once(
                "cancel x20", [lambda: c.post(f"/v1/lotteries/{lid}/cancel", headers=maker)] * N
            )
            await self.at_once(
                "delete x20", [lambda: c.delete(f"/v1/lotteries/{lid}", headers=maker)] * N
            )

        amount = await self.activity(days_ahead=0, kind="amount", publish=True)
        grant = {
            "user_id": f"{self.tag}-g",
            "activity_id": amount,
            "amount": 5,
            "reference": f"{self.tag}-ref",
        }
        answers = await self.at_once(
            "grant one reference x20", [lambda: c.post("/v1/grants", json=grant, headers=h)] * N
        )
        ids = {a.json().get("grant_id") for a in answers if a.status_code in (200, 201)}
        self.check(len(ids) == 1, f"one reference, one grant ({len(ids)})")

        now_open = self.now_open = await self.activity(days_ahead=0, publish=True)
        other = await self.activity(days_ahead=0, publish=True)
        drawer = await self.player("drawer")
        key = {**drawer, "Idempotency-Key": f"{self.tag}-key"}
        answers = await self.at_once(
            "draw one key x20",
            [lambda: c.post("/v1/draw", json={"activity_id": now_open}, headers=key)] * N,
        )
        drawn = {a.json().get("draw_id") for a in answers if a.status_code == 200}
        self.check(len(drawn) <= 1, f"one Idempotency-Key, one draw ({len(drawn)})")
        key2 = {**drawer, "Idempotency-Key": f"{self.tag}-key2"}
        answers = await self.at_once(
            "one key, two activities",
            [
                lambda a=a: c.post("/v1/draw", json={"activity_id": a}, headers=key2)
                for a in (now_open, other) * 5
            ],
        )
        drawn = {a.json().get("draw_id") for a in answers if a.status_code == 200}
        self.check(len(drawn) <= 1, f"a key reused across activities draws once ({len(drawn)})")

        op = {"username": f"{self.tag}-op", "password": "probe password 123", "role": "viewer"}
        made = await self.at_once(
            "operator create x20", [lambda: c.post("/v1/admin/operators", json=op, headers=h)] * N
        )
        self.check(sum(a.status_code == 201 for a in made) == 1, "one operator of one name")
        tok = {"name": f"{self.tag}-tok", "scope": "admin:viewer"}
        made = await self.at_once(
            "token create x20", [lambda: c.post("/v1/admin/tokens", json=tok, headers=h)] * N
        )
        self.check(sum(a.status_code == 201 for a in made) == 1, "one token of one name")
        await self.at_once(
            "token revoke x20", [lambda: c.delete(f"/v1/admin/tokens/{tok['name']}", headers=h)] * N
        )

        wrong = {"username": op["username"], "password": "not the password"}
        answers = await self.at_once(
            "200 wrong passwords at once",
            [
                lambda: c.post(
                    "/v1/admin/login", json=wrong, headers={"X-Forwarded-For": "10.99.0.1"}
                )
            ]
            * 200,
        )
        checks = sum(a.status_code == 401 for a in answers)
        self.check(checks <= 5, f"at most 5 password checks per window ({checks})")

    # -- bad input -------------------------------------------------------------------

    async def bad_input(self) -> None:
        c, h = self.client, self.admin
        player = await self.player("bad")
        spec = (await c.get("/openapi.json")).json()
        for path, methods in spec["paths"].items():
            for method, op in methods.items():
                concrete = (
                    path.replace("{id}", "1")
                    .replace("{kind}", "user")
                    .replace("{value}", "x")
                    .replace("{username}", "x")
                    .replace("{name}", "x")
                    .replace("{round_id}", "1:20300101:0")
                    .replace("{grant_id}", "x")
                )
                auth = h if "/admin/" in path or path == "/v1/grants" else player
                if "requestBody" in op:
                    await self.bodies(method.upper(), concrete, op, spec, auth)
                if "{" in path:
                    head, _, rest = path.partition("{")
                    tail = rest.partition("}")[2]
                    for bad in ("99999999999999999999", "-1", "%F0%9F%92%A5", "1e3", "%00"):
                        resp = await c.request(method.upper(), head + bad + tail, headers=auth)
                        self.seen("ids out of range", [resp])
        await self.heads()
        await self.hosts()
        await self.addresses()
        big = {
            "config": {
                "name": "x",
                "kind": "time",
                "timezone": "UTC",
                "start_date": "2030-01-01",
                "end_date": "2084-12-31",
                "probability": "manual",
                "release": {"slices": 1000},
                "sessions": [
                    {
                        "start": f"{i:02d}:00:00",
                        "end": f"{i:02d}:30:00",
                        "pools": [
                            {
                                "prizes": [
                                    {
                                        "key": f"k{j}",
                                        "type": "coupon",
                                        "name": "n",
                                        "value": "v",
                                        "quantity": 10**6,
                                        "probability": 0.01,
                                    }
                                    for j in range(20)
                                ]
                            }
                        ],
                    }
                    for i in range(24)
                ],
            },
            "players": 10**8,
            "taps": 10**4,
        }
        started = time.monotonic()
        self.seen(
            "preview that multiplies work",
            [await c.post("/v1/admin/activities/preview", json=big, headers=h)],
        )
        health = await c.get("/healthz")
        self.check(health.status_code == 200, "/healthz answers after a huge preview")
        self.check(time.monotonic() - started < 15, "a huge preview is refused or planned quickly")
        # The probe's prizes are named like formulas; its draws reach the
        # database once the flush worker has run.
        deadline, csv = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            csv = await c.get(f"/v1/admin/activities/{self.now_open}/winners?format=csv", headers=h)
            if csv.status_code != 200 or len(csv.text.splitlines()) > 1:
                break
            await asyncio.sleep(0.2)
        assert csv is not None
        self.seen("winners csv", [csv])
        self.check(len(csv.text.splitlines()) > 1, "the winners CSV has the probe's win")
        for line in csv.text.splitlines()[1:]:
            for cell in line.split(","):
                self.check(
                    not cell.strip('"').startswith(("=", "+", "-", "@")),
                    f"a CSV cell is a formula: {cell}",
                )

    async def bodies(
        self, method: str, path: str, op: dict[str, Any], spec: dict[str, Any], auth: dict[str, str]
    ) -> None:
        c = self.client
        schema = _resolve(op["requestBody"]["content"]["application/json"]["schema"], spec)
        props = schema.get("properties", {})
        sample = {k: _sample(_resolve(v, spec)) for k, v in props.items()}
        raw: list[tuple[bytes, str | None]] = [
            (b"", "application/json"),
            (b"{", "application/json"),
            (b"null", "application/json"),
            (b"[]", "application/json"),
            (b'"x"', "application/json"),
            (b"1", "application/json"),
            (b"[" * 5000 + b"]" * 5000, "application/json"),
            (b'{"a":' * 500 + b"1" + b"}" * 500, "application/json"),
            (b"{}", "application/json"),
            (json.dumps({"zz_unknown": 1, **sample}).encode(), "application/json"),
            (b"x" * 70_000, "application/json"),
            (json.dumps(sample).encode(), "text/plain"),
            (b"a=1&b=2", "application/x-www-form-urlencoded"),
            (
                b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
                "multipart/form-data; boundary=x",
            ),
            ('{"a": "\ud800"}'.encode("utf-8", "surrogatepass"), "application/json"),
            (b"\xff\xfe{}", "application/json"),
        ]
        for name in props:
            for wrong in (None, True, 1.5, -1, 2**70, "x" * 5000, [], {}, "\u202e\u0000"):
                raw.append((json.dumps({**sample, name: wrong}).encode(), "application/json"))
        for content, ctype in raw:
            headers = {**auth, **({"Content-Type": ctype} if ctype else {})}
            self.seen(
                "bad bodies", [await c.request(method, path, content=content, headers=headers)]
            )

    async def heads(self) -> None:
        host, port = _address(self.base)
        for name, head in (
            ("1 MB header", b"X-Big: " + b"a" * 1_000_000 + b"\r\n"),
            ("5,000 headers", b"".join(b"X-H%d: v\r\n" % i for i in range(5000))),
        ):
            status = await asyncio.to_thread(_raw_get, host, port, head)
            self.cases.setdefault(name, Counter())[status] += 1
            self.check(status in (0, 400, 413, 431), f"{name}: answered {status}, not refused")
        self.seen("after the big heads", [await self.client.get("/healthz")])

    async def hosts(self) -> None:
        for path in ("/console/", "/verify/", "/v1/activities/1/", "/docs/"):
            resp = await self.client.get(
                path, headers={"Host": "evil.example"}, follow_redirects=False
            )
            self.seen("hostile Host", [resp])
            location = resp.headers.get("location", "")
            self.check("evil.example" not in location, f"{path} redirects to {location}")

    async def addresses(self) -> None:
        c, h = self.client, self.admin
        aid = await self.activity(days_ahead=0, publish=True)
        await c.post("/v1/admin/blacklist", json={"kind": "ip", "value": "10.9.9.9"}, headers=h)
        try:
            for spelling in (
                "::ffff:10.9.9.9",
                "10.9.9.9:1234",
                "010.009.009.009",
                "[::ffff:10.9.9.9]:80",
                "x",
            ):
                p = await self.player(f"ip-{abs(hash(spelling)) % 1000}")
                resp = await c.post(
                    "/v1/draw",
                    json={"activity_id": aid},
                    headers={**p, "X-Forwarded-For": spelling},
                )
                self.seen("blacklisted address respelled", [resp])
                self.check(resp.status_code in (400, 403), f"{spelling} drew ({resp.status_code})")
        finally:
            await c.delete("/v1/admin/blacklist/ip/10.9.9.9", headers=h)

    def report(self) -> int:
        width = max(len(k) for k in self.cases) + 2
        print(f"{'case'.ljust(width)} answers by status")
        for case, counts in self.cases.items():
            print(
                f"{case.ljust(width)} " + "  ".join(f"{s}×{n}" for s, n in sorted(counts.items()))
            )
        fives = sum(n for s, n in self.statuses.items() if s >= 500)
        print(
            f"\n{sum(self.statuses.values())} requests; {fives} × 5xx "
            f"({self.statuses[503]} × 503, busy by design); {len(self.problems)} problems"
        )
        for p in self.problems:
            print(f"  PROBLEM {p}")
        return 1 if self.problems else 0


def _busy(a: httpx.Response) -> bool:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return a.status_code == 503 and a.json()["error"]["code"] == "busy"
    return False


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    for key in ("allOf", "anyOf"):
        if schema.get(key):
            return _resolve(schema[key][0], spec)
    return schema


def _sample(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}.get(
        str(kind), "x"
    )


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _raw_get(host: str, port: int, extra: bytes) -> int:
    """A GET with ``extra`` header lines over a raw socket: its status, 0 if the
    server closed the connection instead of answering."""
    with socket.create_connection((host, port), timeout=10) as s:
        with contextlib.suppress(OSError):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n" + extra + b"\r\n")
        try:
            first = s.recv(64)
        except OSError:
            return 0
    parts = first.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


@contextlib.contextmanager
def embedded(log: Path) -> Iterator[str]:
    with running_server({"REDRAIN_DEV_LOGIN": "1"}, log) as base:
        yield base


async def main_async(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        base = args.base or stack.enter_context(embedded(Path(args.log)))
        probe = Probe(base, args.admin_token)
        try:
            started = time.monotonic()
            await probe.concurrency()
            await probe.bad_input()
            print(f"probe: {time.monotonic() - started:.1f} s against {base}")
        finally:
            await probe.client.aclose()
        return probe.report()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", help="a running server (default: start an embedded one)")
    parser.add_argument("--admin-token", default=EMBEDDED_ADMIN)
    parser.add_argument("--log", default="probe-server.log")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
