"""Real local HTTP servers standing in for WeChat and for an operator's webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, bytes]]


@contextmanager
def http_stub(handle: Handler) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server on a free loopback port calling ``handle(method, path, headers,
    body) -> (status, body)``; yields its base URL and the requests it saw."""
    seen: list[dict[str, Any]] = []

    class H(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append(
                {"method": self.command, "path": self.path, "headers": headers, "body": body}
            )
            status, out = handle(self.command, self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def wechat(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """jscode2session: the js_code decides the answer."""
    q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    if urlsplit(path).path != "/sns/jscode2session":
        return 404, b"{}"
    code = q.get("js_code", "")
    answers: dict[str, dict[str, Any]] = {
        "bad": {"errcode": 40029, "errmsg": "invalid code"},
        "used": {"errcode": 40163, "errmsg": "code been used"},
        "limit": {"errcode": 45011, "errmsg": "api minute-quota reach limit"},
        "busy": {"errcode": -1, "errmsg": "system error"},
    }
    if code == "slow":
        time.sleep(2)
    if code == "http500":
        return 500, b"oops"
    if code == "garbage":
        return 200, b"<html>"
    if code in answers:
        return 200, json.dumps(answers[code]).encode()
    return 200, json.dumps(
        {"openid": f"o{code}", "session_key": f"SK-{code}-secret", "unionid": f"u{code}"}
    ).encode()
