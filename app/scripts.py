"""The Lua scripts: loading, include expansion, and their result codes.

Scripts ship as package data (``app/lua`` in an installed wheel, ``lua/`` in a
source checkout) and are read with :mod:`importlib.resources`. A line
``-- @include name`` is replaced by ``lua/includes/name.lua`` so shared helpers
are written once; the expanded text is what Redis loads and hashes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

_INCLUDE = re.compile(r"^-- @include (\w+)\s*$", re.MULTILINE)

# draw.lua result codes (negative = refusal; nothing was changed).
DRAWN = 1
REPLAYED = 2
ACTIVITY_NOT_FOUND = -1
NOT_STARTED = -2
ENDED = -3
ROUND_CLOSED = -4
ROUND_LIMIT = -5
DAY_LIMIT = -6
TOTAL_LIMIT = -7
WIN_LIMIT = -8
STALE = -9
WRONG_ROUND = -10
ROUND_MISSING = -11
GRANT_NOT_FOUND = -13
GRANT_USED = -14
NO_MORE_LEVELS = -15
NO_POOL = -16
RATE_LIMITED = -17
BLACKLISTED = -18

# topup.lua / round_stats.lua
ROUND_NOT_FOUND = -1
ROUND_ENDED = -2
PRIZE_NOT_FOUND = -3
EMPTY_PRIZE = -4


def lua_dir() -> Traversable:
    """``app/lua`` when installed; the repository's ``lua/`` in a source checkout."""
    packaged = resources.files("app").joinpath("lua")
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parent.parent / "lua"
    if source.is_dir():
        return source
    raise FileNotFoundError("redrain's Lua scripts were not found (is the package installed?)")


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # Computed once: it is sent with every draw.
        sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", sha)


@cache
def load(name: str) -> Script:
    root = lua_dir()
    text = root.joinpath(f"{name}.lua").read_text(encoding="utf-8")

    def include(m: re.Match[str]) -> str:
        return root.joinpath("includes", f"{m.group(1)}.lua").read_text(encoding="utf-8")

    return Script(name, _INCLUDE.sub(include, text))


NAMES = ("draw", "publish_round", "drop_round", "topup", "round_stats", "grant")
