"""Private redis-server instances and clusters on free loopback ports, for tests
that kill, restart, pause or reshard Redis (never the machine's shared one)."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import free_port


class RedisServer:
    def __init__(
        self, folder: Path, *, port: int | None = None, args: list[str] | None = None
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> str:
        res = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"redis-cli {args}: {res.stderr}")
        return res.stdout.strip()

    def start(self) -> RedisServer:
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
            "--logfile",
            str(self.folder / "redis.log"),
            *self.args,
        ]
        self.proc = subprocess.Popen(cmd)
        deadline = time.monotonic() + 15
        while True:
            pong = subprocess.run(
                ["redis-cli", "-p", str(self.port), *self._auth(), "ping"],
                capture_output=True,
                text=True,
                check=False,
            )
            if "PONG" in pong.stdout:
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {self.port} did not start")
            time.sleep(0.05)

    def _auth(self) -> list[str]:
        if "--requirepass" in self.args:
            return ["-a", self.args[self.args.index("--requirepass") + 1], "--no-auth-warning"]
        return []

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


@contextlib.contextmanager
def redis_server(folder: Path, **kw: object) -> Iterator[RedisServer]:
    server = RedisServer(folder, **kw).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = random.randint(20_000, 50_000)
        try:
            for p in (port, port + 10_000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@contextlib.contextmanager
def redis_cluster(
    folder: Path, masters: int = 3, *, replicas: int = 0, node_timeout_ms: int = 5000
) -> Iterator[list[RedisServer]]:
    """``masters`` nodes (and ``replicas`` replicas of each, listed after them)
    joined with ``redis-cli --cluster create``, slots spread evenly."""
    nodes = [
        RedisServer(
            folder / f"node{i}",
            port=cluster_port(),
            args=[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(folder / f"node{i}" / "nodes.conf"),
                "--cluster-node-timeout",
                str(node_timeout_ms),
            ],
        )
        for i in range(masters * (1 + replicas))
    ]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in nodes],
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        deadline = time.monotonic() + 30
        while not all("cluster_state:ok" in n.cli("cluster", "info") for n in nodes) or (
            replicas and not all(_synced(n) for n in nodes)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the test cluster did not become ready")
            time.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _synced(node: RedisServer) -> bool:
    """A primary, or a replica whose link to its primary is up."""
    info = node.cli("info", "replication")
    return "role:master" in info or "master_link_status:up" in info


def primary_of(nodes: list[RedisServer], key: str) -> RedisServer:
    """The node serving ``key``'s slot now."""
    slot = int(nodes[0].cli("cluster", "keyslot", key))
    for node in nodes:
        if node.proc is None:
            continue
        for line in node.cli("cluster", "nodes").splitlines():
            fields = line.split()
            if "myself" in fields[2] and "master" in fields[2]:
                for r in fields[8:]:
                    lo, _, hi = r.partition("-")
                    if lo.isdigit() and int(lo) <= slot <= int(hi or lo):
                        return node
    raise RuntimeError(f"no live primary serves slot {slot}")
