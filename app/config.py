"""Settings from ``REDRAIN_*`` environment variables and an optional ``.env``.

Imports only the error hierarchy: a bad setting raises
:class:`~app.domain.errors.ConfigError` whose message is one line naming the
variable, and the CLI prints exactly that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.errors import ConfigError

ENV_PREFIX = "REDRAIN_"
EMBEDDED_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - embedded try-out mode only
# The console login embedded mode creates (and prints); try-out mode only.
EMBEDDED_OPERATOR = ("dev", "redrain-dev-password")

_DB_SCHEMES = {
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
    "mysql+asyncmy": "mysql+asyncmy",
    "mariadb+asyncmy": "mysql+asyncmy",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    redis_url: str | None = None
    redis_cluster: bool = False
    # Standalone Redis behind Sentinel: "host:port,host:port" and the primary's
    # name; the URL (optional then) gives only the password and database.
    redis_sentinels: str | None = None
    redis_sentinel_master: str = "mymaster"
    redis_timeout: float = Field(default=2.0, gt=0, le=60)
    redis_connections: int = Field(default=1, ge=1, le=64)  # hot-path links per node
    # Durability mode: each draw waits (Redis WAIT) for this many replicas to
    # have it before it is answered; 503 when they do not within the timeout.
    redis_wait_replicas: int = Field(default=0, ge=0, le=16)
    redis_wait_timeout: float = Field(default=0.2, gt=0, le=10)  # seconds
    # How long `serve` waits at start for a Redis it cannot reach before it
    # starts anyway (draws answer 503 until Redis is up; docs/operations.md).
    redis_startup_wait: float = Field(default=10.0, ge=0, le=600)
    database_url: str | None = None
    secret_key: SecretStr | None = None
    # Keys the audit trail's hash chain (docs/security.md); unset: derived from
    # SECRET_KEY. Never stored in the database, so editing it cannot re-chain.
    audit_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    dev_login: bool | None = None
    cookie_secure: bool = True  # the session cookie's Secure flag (SPEC §8), embedded too
    session_ttl: int = Field(default=28_800, ge=60, le=30 * 86_400)  # idle seconds
    publish_approvals: bool = False  # four-eyes: publish waits for another publisher
    clock_offset: float = 0.0
    token_ttl: int = Field(default=86_400, ge=60, le=90 * 86_400)
    idempotency_ttl: int = Field(default=86_400, ge=60, le=30 * 86_400)
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"  # json: one object per line (app/logs.py)
    # One line per answer (route, status, time, a draw's ids, the request id);
    # off by default: it costs the draw path (docs/performance.md).
    access_log: bool = False
    worker_batch: int = Field(default=1000, ge=1, le=20_000)
    worker_concurrency: int = Field(default=3, ge=1, le=16)
    worker_linger: float = Field(default=0.1, ge=0, le=5)
    worker_claim_idle: float = Field(default=30.0, gt=0, le=3600)
    worker_max_attempts: int = Field(default=5, ge=1, le=1000)
    stream_retention: float = Field(default=300.0, ge=0, le=7 * 86_400)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    failpoints: str = ""  # test and rehearsal only; see docs/worker.md
    # Admission control (docs/api.md, 503 busy): past this many draws in
    # flight per API worker, a draw is admitted only while the oldest in flight
    # is younger than the budget (seconds), never past 2x; 0 = no bound.
    draw_concurrency: int = Field(default=64, ge=0, le=1_000_000)
    draw_latency_budget: float = Field(default=0.1, ge=0, le=60)
    # A draw that waited this long (seconds) between its arrival and its turn
    # to start is refused busy instead of started (the queue deadline); 0 = off.
    draw_queue_deadline: float = Field(default=0.25, ge=0, le=60)
    busy_retry_after: int = Field(default=1, ge=1, le=60)
    rate_limit_user: float = Field(default=10.0, ge=0, le=100_000)  # draws/s per user; 0 off
    rate_limit_ip: float = Field(default=500.0, ge=0, le=1_000_000)  # draws/s per client IP
    # Player writes other than the draw, per user (docs/api.md); 0 turns one off.
    rate_limit_writes: int = Field(default=60, ge=0, le=1_000_000)  # a minute: lottery writes
    rate_limit_lotteries: int = Field(default=10, ge=0, le=1_000_000)  # lotteries created an hour
    max_open_lotteries: int = Field(default=20, ge=0, le=1_000_000)  # open at once per creator
    trusted_proxies: str = "127.0.0.1,::1"  # peers whose client-IP header is believed
    client_ip_header: str = "x-forwarded-for"
    secret_key_previous: SecretStr | None = None  # still accepted after a rotation...
    secret_key_previous_until: dt.datetime | None = None  # ...until then (if given)
    risk_url: str | None = None
    risk_timeout: float = Field(default=0.2, gt=0, le=10)
    risk_fail_open: bool = True
    wechat_appid: str | None = None
    wechat_secret: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout: float = Field(default=3.0, gt=0, le=30)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout: float = Field(default=5.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)

    @field_validator("audit_key")
    @classmethod
    def _audit_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        if len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return v

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        # Checked whenever it is given, embedded too: a short key signs weak tokens.
        if v is None or not v.get_secret_value():
            return None  # unset: embedded mode makes a random one
        if len(v.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        for part in filter(None, (p.strip() for p in v.split(","))):
            ipaddress.ip_network(part, strict=False)  # ValueError names the bad one
        return v

    @field_validator("client_ip_header")
    @classmethod
    def _header(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("wechat_api_base", "webhook_url", "risk_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("expected an http:// or https:// URL")
        return v.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        scheme = urlsplit(v).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {scheme!r}")
        return v

    @field_validator("database_url")
    @classmethod
    def _db_scheme(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        scheme, sep, rest = v.partition("://")
        if not sep or scheme not in _DB_SCHEMES:
            known = "mysql://, mariadb://, mysql+asyncmy://, sqlite://"
            raise ValueError(f"unsupported database URL scheme {scheme!r} (use {known})")
        return f"{_DB_SCHEMES[scheme]}://{rest}"

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.lower()
        if v not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError("expected one of critical, error, warning, info, debug")
        return v

    @property
    def embedded(self) -> bool:
        """No Redis configured: run on fakeredis + SQLite in one process."""
        return self.redis_url is None and not self.redis_sentinels

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        out = []
        for part in filter(None, (p.strip() for p in (self.redis_sentinels or "").split(","))):
            host, _, port = part.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(
                    f"invalid setting {ENV_PREFIX}REDIS_SENTINELS: {part!r} is not host:port"
                )
            out.append((host, int(port)))
        return out

    @property
    def dev_login_enabled(self) -> bool:
        return self.embedded if self.dev_login is None else self.dev_login

    @property
    def audit_key_bytes(self) -> bytes:
        """The audit chain's HMAC key: REDRAIN_AUDIT_KEY, else one derived from
        REDRAIN_SECRET_KEY (so rotating the secret needs REDRAIN_AUDIT_KEY set
        to the old derivation first: docs/security.md)."""
        if self.audit_key is not None:
            return self.audit_key.get_secret_value().encode()
        if self.secret_key is None:
            raise ConfigError(
                f"{ENV_PREFIX}AUDIT_KEY or {ENV_PREFIX}SECRET_KEY must be set (the audit trail "
                "is keyed with it)"
            )
        secret = self.secret_key.get_secret_value().encode()
        return hmac.new(secret, b"redrain audit chain v1", hashlib.sha256).digest()

    @property
    def clock_offset_ms(self) -> int:
        return round(self.clock_offset * 1000)

    def require_production(self) -> None:
        """Settings a Redis-backed deployment cannot run without."""
        if self.database_url is None:
            raise ConfigError(
                f"{ENV_PREFIX}DATABASE_URL is required when {ENV_PREFIX}REDIS_URL is set"
            )
        if self.redis_sentinels and self.redis_cluster:
            raise ConfigError(
                f"{ENV_PREFIX}REDIS_SENTINELS and {ENV_PREFIX}REDIS_CLUSTER exclude each other"
            )
        self.sentinel_addresses  # noqa: B018 - validates them
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(key) < 32:
            raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be set to at least 32 characters")
        # The break-glass admin token is optional: operators sign in by name.
        admin = self.admin_token.get_secret_value() if self.admin_token else ""
        if admin and len(admin) < 16:
            raise ConfigError(f"{ENV_PREFIX}ADMIN_TOKEN must be at least 16 characters")
        if self.redis_wait_replicas and self.redis_wait_timeout * 1000 < 1:
            raise ConfigError(f"{ENV_PREFIX}REDIS_WAIT_TIMEOUT must be at least 0.001 s")


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad one raises :class:`ConfigError` naming it on one line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]).upper() if err["loc"] else "?"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {ENV_PREFIX}{field}: {msg}") from None
