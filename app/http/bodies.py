"""Reading requests: bodies (size-capped), JSON, the request models, query
values and cursors. Everything a client sends is parsed here, strictly:
unknown fields are refused (no mass assignment), and a bad value is a 4xx
naming the field."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from starlette.requests import Request
from starlette.types import Receive

from app.domain.activity import MAX_COUNT, describe
from app.domain.errors import (
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.domain.numbers import parse_int
from app.domain.text import check_name, check_text
from app.domain.tokens import USER_ID

MAX_BODY = 64 * 1024
ROW_ID = re.compile("[0-9]{1,18}")  # database ids: every match fits a signed BIGINT
# Any visible ASCII (a UUID, base64, a ULID): keys only name a Redis field of
# the user's; spaces and control characters would not survive a log line.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {MAX_BODY} bytes")


def require_json(content_type: bytes | str | None) -> None:
    """SPEC §3: a body whose Content-Type is present and is not
    ``application/json`` (parameters allowed) is 415; an absent one is read
    as JSON. A form or ``text/plain`` body is what a cross-site page can send
    without asking the browser first (login CSRF)."""
    if content_type is None:
        return
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    if content_type == "application/json":  # nearly always: no parsing
        return
    if content_type.partition(";")[0].strip(" \t").lower() != "application/json":
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")


async def receive_body(
    receive: Receive, declared: bytes | str | None, content_type: bytes | str | None
) -> bytes:
    """The request body from the ASGI messages, refusing a type other than
    JSON and more than MAX_BODY."""
    require_json(content_type)
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    # Read directly: cheaper than Starlette's stream() generator, and a body
    # is nearly always one message.
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body", False):
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            raise _too_large()
    if message["type"] == "http.disconnect":
        raise InvalidRequest("the client disconnected", code="client_disconnected")
    if len(body) > MAX_BODY:
        raise _too_large()
    return bytes(body)


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidRequest("request body must be JSON", code="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"malformed JSON: {exc}", code="invalid_json") from exc


async def read_json(request: Request) -> Any:
    headers = request.headers
    body = await receive_body(
        request.receive, headers.get("content-length"), headers.get("content-type")
    )
    return parse_json(body)


# -- request models -----------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


PositiveId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
UserId = Annotated[StrictStr, Field(pattern=USER_ID.pattern)]


class DrawBody(_Strict):
    activity_id: PositiveId
    client_seed: Annotated[StrictStr, Field(max_length=64, pattern=r"^[\x20-\x7e]*$")] = ""
    grant_id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] | None = None
    # Several draws in one request (SPEC §3); None: one draw, answered as ever.
    count: Annotated[
        StrictInt | None,
        Field(
            ge=1,
            le=MAX_COUNT,
            description="Several draws in one request (at most the activity's max_count); "
            'the answer is then {"draws": [...], "remaining": {...}, "stopped": null | {...}}',
        ),
    ] = None

    @field_validator("client_seed", mode="before")
    @classmethod
    def _null_seed(cls, value: object) -> object:
        return "" if value is None else value  # null is the default, as for grant_id and count

    @model_validator(mode="after")
    def _one_grant_one_draw(self) -> DrawBody:
        if self.count is not None and self.grant_id is not None:
            raise ValueError("count: grants are drawn one at a time")
        return self


class GrantBody(_Strict):
    user_id: UserId
    activity_id: PositiveId
    amount: Annotated[StrictInt, Field(ge=0, le=10**12)]
    reference: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class LotteryPrize(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=100), AfterValidator(check_name)]
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]


class LotteryBody(_Strict):
    title: Annotated[StrictStr, Field(min_length=1, max_length=100), AfterValidator(check_name)]
    draw_at: Annotated[AwareDatetime, Field(strict=False)]  # ISO-8601 with an offset
    prize: LotteryPrize


class WechatBody(_Strict):
    code: Annotated[StrictStr, Field(min_length=1, max_length=128)]


class DevLoginBody(_Strict):
    user_id: UserId


class TopUpBody(_Strict):
    round: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    prize: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    add: Annotated[StrictInt, Field(ge=1, le=100_000_000)]


class CodesBody(_Strict):
    """Redemption codes for a coupon prize; app/services/codes.py checks each."""

    codes: Annotated[list[StrictStr], Field(min_length=1, max_length=10_000)]


class PreviewBody(_Strict):
    """A configuration to plan (validated as ``POST /v1/admin/activities``
    would) and, for the budget, how many players tap how often per round."""

    config: dict[str, Any]
    players: Annotated[StrictInt, Field(ge=0, le=100_000_000)] = 0
    taps: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1


class BlacklistBody(_Strict):
    kind: Literal["user", "ip"]
    value: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-@.:]+$")]
    reason: Annotated[StrictStr, Field(max_length=200), AfterValidator(check_name)] = ""


class DeliveryBody(_Strict):
    """Where a physical prize goes: the winner's own words, kept as given."""

    name: Annotated[StrictStr, Field(min_length=1, max_length=100), AfterValidator(check_name)]
    phone: Annotated[
        StrictStr, Field(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 ()\-]*$")
    ]
    address: Annotated[StrictStr, Field(min_length=5, max_length=500), AfterValidator(check_text)]


class ShipBody(_Strict):
    tracking: Annotated[StrictStr, Field(min_length=1, max_length=200), AfterValidator(check_name)]


class ApproveBody(_Strict):
    """The exact version a four-eyes approval is for (SPEC §8)."""

    version: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
    config_hash: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class LoginBody(_Strict):
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class OperatorBody(_Strict):
    username: Annotated[StrictStr, Field(min_length=2, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]
    role: Literal["viewer", "editor", "publisher", "admin"]


class TokenBody(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    scope: Annotated[StrictStr, Field(min_length=1, max_length=32)]


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object", field="")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = describe(exc)
        raise ValidationFailed(message, field=field) from exc


async def read(request: Request, model: type[M]) -> M:
    return parse(model, await read_json(request))


# -- query values ---------------------------------------------------------------


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = parse_int(raw, lo, hi)
    if value is None:
        raise ValidationFailed(f"{name}: expected an integer in [{lo}, {hi}]", field=name)
    return value


def query_format(request: Request) -> Literal["json", "csv"]:
    """An export's ``format``: json (the default) or csv."""
    fmt = request.query_params.get("format", "json")
    if fmt == "json":
        return "json"
    if fmt == "csv":
        return "csv"
    raise ValidationFailed("format: expected json or csv", field="format")


def query_activity(request: Request) -> int | None:
    """The optional ``activity_id`` filter: a row id, like the path's ``{id:rowid}``."""
    activity = request.query_params.get("activity_id")
    if activity is None:
        return None
    value = parse_int(activity, 1)
    if value is None:
        raise ValidationFailed("activity_id: expected an activity id", field="activity_id")
    return value


def encode_cursor(*parts: int) -> str:
    raw = ".".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, n: int) -> tuple[int, ...]:
    """The ``n`` numbers of a cursor this API returned (each an id or a time
    that fits a BIGINT); anything else is 422."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor: not a cursor this API returned", field="cursor") from exc
    parts = [parse_int(p) for p in raw.split(".")]
    if len(parts) != n or None in parts:
        raise ValidationFailed("cursor: not a cursor this API returned", field="cursor")
    return tuple(p for p in parts if p is not None)


def query_cursor(request: Request, n: int) -> tuple[int, ...] | None:
    text = request.query_params.get("cursor")
    return decode_cursor(text, n) if text else None
