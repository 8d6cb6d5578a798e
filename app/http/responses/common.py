"""Shared by every response: times, masking, WithConfig; ops and auth bodies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypedDict

from app.domain.activity import ActivityConfig


@dataclass(frozen=True)
class WithConfig:
    """Marks a response as an activity's configuration merged with the
    TypedDict it annotates (``Annotated[Meta, WithConfig()]``): its JSON
    Schema is ``allOf`` the configuration's and the TypedDict's."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        config = dict(handler(ActivityConfig.__pydantic_core_schema__))
        # The configuration refuses unknown fields as input; as part of a
        # response it sits beside the TypedDict's fields.
        config.pop("additionalProperties", None)
        return {"allOf": [config, handler(core_schema)]}


def utc(ts: dt.datetime | None) -> str | None:
    """A naive-UTC database time as ISO-8601 with ``Z``."""
    return None if ts is None else ts.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


def utc_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def mask(user_id: str) -> str:
    """Enough of a winner's id to recognise oneself, never enough to recover it:
    at most a third of it is shown (nothing of an id under 4 characters), and
    the stars do not tell the length."""
    n = len(user_id)
    if n < 4:
        return "***"
    if n < 9:
        return f"{user_id[0]}***"
    return f"{user_id[:2]}***{user_id[-1]}"


# -- ops and auth -----------------------------------------------------------------


class Health(TypedDict):
    status: str


class Ready(TypedDict):
    status: str
    redis: str
    database: str


class Token(TypedDict):
    token: str
    user_id: str
    expires_in: int
