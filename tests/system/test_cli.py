"""The installed ``redrain`` command, run from an unrelated directory."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import flush_real_redis
from tests.helpers import ADMIN, REDIS_URL, SECRET, prize, rain, subprocess_env

pytestmark = pytest.mark.integration


def redrain(
    cwd: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    full = subprocess_env(env)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=full,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"REDRAIN_CLOCK_OFFSET": "soon"}, "REDRAIN_CLOCK_OFFSET"),
        ({"REDRAIN_REDIS_URL": "http://x"}, "REDRAIN_REDIS_URL"),
        ({"REDRAIN_DATABASE_URL": "postgres://x/y"}, "REDRAIN_DATABASE_URL"),
        ({"REDRAIN_TOKEN_TTL": "5"}, "REDRAIN_TOKEN_TTL"),
        ({"REDRAIN_SECRET_KEY": "short"}, "REDRAIN_SECRET_KEY"),  # embedded too
        ({"REDRAIN_REDIS_URL": REDIS_URL}, "REDRAIN_DATABASE_URL"),
        (
            {
                "REDRAIN_REDIS_URL": REDIS_URL,
                "REDRAIN_DATABASE_URL": "sqlite:///x.db",
                "REDRAIN_SECRET_KEY": "short",
            },
            "REDRAIN_SECRET_KEY",
        ),
        (
            {
                "REDRAIN_REDIS_URL": REDIS_URL,
                "REDRAIN_DATABASE_URL": "sqlite:///x.db",
                "REDRAIN_SECRET_KEY": SECRET,
                "REDRAIN_ADMIN_TOKEN": "short",  # optional, but not weak
            },
            "REDRAIN_ADMIN_TOKEN",
        ),
    ],
)
def test_bad_setting_is_one_clear_line(tmp_path: Path, env: dict[str, str], named: str) -> None:
    res = redrain(tmp_path, "serve", **env)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("redrain: error:") and named in lines[0], (
        res.stderr
    )


def test_help_lists_commands(tmp_path: Path) -> None:
    res = redrain(tmp_path, "--help")
    assert res.returncode == 0
    for cmd in ("serve", "demo", "db", "activity", "operator", "token", "audit"):
        assert cmd in res.stdout


def test_operators_tokens_and_the_audit_chain(tmp_path: Path) -> None:
    """The first admin without any admin token, a backend's token shown once,
    and ``redrain audit verify`` catching an entry edited in the database."""
    db = tmp_path / "ops.db"
    env = {"REDRAIN_DATABASE_URL": f"sqlite:///{db}", "REDRAIN_SECRET_KEY": SECRET}
    assert redrain(tmp_path, "db", "upgrade", **env).returncode == 0

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return redrain(tmp_path, *args, stdin=stdin, **env)

    made = run(
        "operator",
        "create",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert made.returncode == 0 and "alice created (admin)" in made.stdout, made.stderr
    short = run(
        "operator", "create", "bob", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 1 and "12 characters" in short.stderr
    posing = run(  # the trail's name for this very command line
        "operator",
        "create",
        "cli",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert posing.returncode == 1 and "'cli' is reserved" in posing.stderr, posing.stderr
    assert "alice\tadmin\tactive" in run("operator", "list").stdout
    token = run("token", "create", "shop", "--scope", "grants")
    assert token.returncode == 0 and token.stdout.strip().startswith("rdt_")
    assert "shown once" in token.stderr
    assert run("token", "create", "x", "--scope", "root").returncode == 1
    assert run("operator", "disable", "alice").returncode == 0
    assert run("token", "revoke", "shop").returncode == 0
    intact = run("audit", "verify")
    assert intact.returncode == 0 and "intact: 4 entries" in intact.stdout, intact.stdout
    checkpoint = intact.stdout.split("head ")[1].strip()
    assert checkpoint.startswith("4:")
    assert run("audit", "verify", "--expect", checkpoint).returncode == 0
    # Cutting the last entry off together with the head row leaves a chain that
    # checks out on its own; the checkpoint kept outside the database does not.
    with sqlite3.connect(db) as conn:
        prev = conn.execute("SELECT hash FROM audit_log WHERE id = 3").fetchone()[0]
        saved = conn.execute("SELECT * FROM audit_log WHERE id = 4").fetchone()
        conn.execute("DELETE FROM audit_log WHERE id = 4")
        conn.execute("UPDATE audit_head SET last_id = 3, last_hash = ?", (prev,))
    assert run("audit", "verify").returncode == 0
    cut = run("audit", "verify", "--expect", checkpoint)
    assert cut.returncode == 1 and "entry 4" in cut.stdout, cut.stdout
    with sqlite3.connect(db) as conn:
        marks = ", ".join("?" * len(saved))
        conn.execute(f"INSERT INTO audit_log VALUES ({marks})", saved)  # noqa: S608
        conn.execute("UPDATE audit_head SET last_id = 4, last_hash = ?", (saved[-1],))
    assert run("audit", "verify", "--expect", checkpoint).returncode == 0
    # Rotating the secret the key is derived from: the trail is re-keyed.
    rotated = {**env, "REDRAIN_SECRET_KEY": "n" * 40, "REDRAIN_SECRET_KEY_PREVIOUS": SECRET}
    assert redrain(tmp_path, "audit", "verify", **rotated).returncode == 1
    rekeyed = redrain(tmp_path, "audit", "rekey", **rotated)
    assert rekeyed.returncode == 0, rekeyed.stderr + rekeyed.stdout
    again = redrain(tmp_path, "audit", "verify", **rotated)
    assert again.returncode == 0 and "intact: 5 entries" in again.stdout, again.stdout
    env = rotated
    with sqlite3.connect(db) as conn:  # an insider rewrites who did it
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    broken = run("audit", "verify")
    assert broken.returncode == 1 and "entry 2" in broken.stdout, broken.stdout
    refused = redrain(tmp_path, "audit", "rekey", **{**rotated, "REDRAIN_SECRET_KEY": "m" * 40})
    assert refused.returncode == 1 and "nothing changed" in refused.stdout, refused.stdout
    # ...and without the key cannot make the chain whole again.
    other = redrain(tmp_path, "audit", "verify", **{**env, "REDRAIN_SECRET_KEY": "o" * 40})
    assert other.returncode == 1 and "entry 1" in other.stdout, other.stdout


async def test_db_upgrade_create_publish(tmp_path: Path) -> None:
    await flush_real_redis()
    env = {
        "REDRAIN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "REDRAIN_REDIS_URL": REDIS_URL,
        "REDRAIN_SECRET_KEY": SECRET,
        "REDRAIN_ADMIN_TOKEN": ADMIN,
    }
    res = redrain(tmp_path, "db", "upgrade", **env)
    assert res.returncode == 0, res.stderr
    assert redrain(tmp_path, "db", "upgrade", **env).returncode == 0  # idempotent
    good = tmp_path / "rain.json"
    good.write_text(json.dumps(rain([prize("c2", 5, 0.5)])))
    res = redrain(tmp_path, "activity", "create", str(good), **env)
    assert res.returncode == 0, res.stderr
    aid = int(res.stdout.strip())
    res = redrain(tmp_path, "activity", "publish", str(aid), **env)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["status"] == "published" and summary["rounds"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rain([prize("c2", 5, 1.5)])))
    res = redrain(tmp_path, "activity", "create", str(bad), **env)
    assert res.returncode == 1 and "probability" in res.stderr
    res = redrain(tmp_path, "activity", "publish", "424242", **env)
    assert res.returncode == 1 and "424242" in res.stderr


def test_scripts_ship_with_the_package(tmp_path: Path) -> None:
    code = (
        "from app.store.redis import scripts\n"
        "src = scripts.load('draw').source\n"
        "print(len(src), '@include' in src, 'local function releaseDue' in src)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert res.stdout.split()[1:] == ["False", "True"]
