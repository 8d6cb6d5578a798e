"""The Lua scripts: loading, include expansion, and their contracts.

Scripts ship as package data (``app/lua`` in an installed wheel, ``lua/`` in a
source checkout) and are read with :mod:`importlib.resources`. A line
``-- @include name`` is replaced by ``lua/includes/name.lua`` so shared helpers
are written once (includes may include others; each goes in once); the
expanded text is what Redis loads and hashes.

Each script's header documents its layout in a fixed grammar, one item per
line (see ``lua/draw.lua``)::

    KEYS[i] name ...                 ARGV[i] name ...        REPLY[i] name ...
    ARGV[..] group = a, b, c         (a repeated group; REPLY[..] likewise)
    REPLY name ...                   (a scalar reply)
    ERROR -n NAME {detail}           (a refusal and what its second value holds)
    FIELD f name                     (a field of the stream entry the script appends)

The module that calls a script declares the same layout as a
:class:`Contract` and builds its KEYS and ARGV from it by name; the contract
test parses every header with :func:`header` and compares.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from app.domain.errors import ConfigError

_INCLUDE = re.compile(r"^-- @include (\w+)\s*$", re.MULTILINE)
_ITEM = re.compile(
    r"^\s*(KEYS|ARGV|REPLY|BATCH)(?:\[(\d+|\.\.)\])?\s+(\w+)(?:\s*=\s*(\w+(?:,\s*\w+)*))?",
    re.MULTILINE,
)
_ERROR = re.compile(r"^\s*ERROR\s+(-\d+)\s+([A-Z_]+)(?:\s+\{(\w+)\})?", re.MULTILINE)
_FIELD = re.compile(r"\bFIELD\s+(\w+)\s+(\w+)")

NAMES = (
    "draw",
    "claim_key",
    "publish_round",
    "drop_round",
    "topup",
    "round_stats",
    "grant",
    "move_out",
    "move_in",
    "login_attempt",
    "unlock",
    "write_limit",
)

# One position of a layout: a name, or a repeated group (name, its fields).
Item = str | tuple[str, tuple[str, ...]]


def lua_dir() -> Traversable:
    """``app/lua`` when installed; the repository's ``lua/`` in a source checkout."""
    packaged = resources.files("app").joinpath("lua")
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[3] / "lua"
    if source.is_dir():
        return source
    raise ConfigError("redrain's Lua scripts were not found (is the package installed?)")


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
    return Script(name, expand(text, lambda inc: root.joinpath("includes", f"{inc}.lua")))


def expand(text: str, find: Callable[[str], Traversable]) -> str:
    """``text`` with every ``-- @include name`` replaced by that file, whose own
    includes are expanded too. Each file goes in once, where it is first
    included (as BullMQ's loader does): a helper two includes share is
    defined once, so a ``local function`` is never redeclared. An include
    that includes itself, directly or not, is a ConfigError naming the chain."""
    done: set[str] = set()

    def expanded(source: str, chain: tuple[str, ...]) -> str:
        def include(m: re.Match[str]) -> str:
            inc = m.group(1)
            if inc in chain:
                raise ConfigError(f"Lua include cycle: {' -> '.join((*chain, inc))}")
            if inc in done:
                return f"-- ({inc} is included above)"
            done.add(inc)
            path = find(inc)
            if not path.is_file():
                raise ConfigError(f"Lua include {inc!r} not found ({' -> '.join(chain)})")
            return expanded(path.read_text(encoding="utf-8"), (*chain, inc))

        return _INCLUDE.sub(include, source)

    return expanded(text, ("(script)",))


@dataclass(frozen=True)
class Contract:
    """A script's layout as its Python caller uses it."""

    script: str
    keys: tuple[str, ...]
    argv: tuple[Item, ...]
    reply: tuple[Item, ...] = ()
    batch: tuple[Item, ...] = ()  # the reply to several draws in one call, when a script makes them
    errors: Mapping[str, tuple[int, str | None]] = field(default_factory=dict)
    stream: tuple[tuple[str, str], ...] = ()  # (field, what it holds) of a ledger entry

    def part(self, part: str) -> tuple[Item, ...]:
        """The items of KEYS, ARGV, REPLY or BATCH, by lower-case name."""
        parts = {"keys": self.keys, "argv": self.argv, "reply": self.reply, "batch": self.batch}
        return parts[part]

    def index(self, part: str, name: str) -> int:
        """0-based position of a fixed (not repeated) item: KEYS, ARGV or REPLY."""
        items = self.part(part)
        for i, item in enumerate(items):
            if item == name:
                return i
            if not isinstance(item, str):
                break  # past a repeated group positions are not fixed
        raise KeyError(f"{self.script}: no fixed {part} item {name!r}")

    def fixed(self, part: str) -> int:
        """How many items of ``part`` come before the first repeated group."""
        items = self.part(part)
        return next((i for i, item in enumerate(items) if not isinstance(item, str)), len(items))


def header(source: str, name: str = "") -> Contract:
    """The layout a script's header documents (its first ``--[[ ... ]]`` block)."""
    start, end = source.find("--[["), source.find("]]")
    text = source[start:end] if start >= 0 and end > start else ""
    parts: dict[str, list[Item]] = {"KEYS": [], "ARGV": [], "REPLY": [], "BATCH": []}
    for m in _ITEM.finditer(text):
        part, position, item, group = m.groups()
        items = parts[part]
        if group is not None:
            items.append((item, tuple(g.strip() for g in group.split(","))))
            continue
        if position not in (None, "..") and int(position) != len(items) + 1:
            raise ValueError(f"{part}[{position}] {item}: out of order in the header")
        items.append(item)
    errors = {m.group(2): (int(m.group(1)), m.group(3)) for m in _ERROR.finditer(text)}
    return Contract(
        name,
        keys=tuple(str(k) for k in parts["KEYS"]),
        argv=tuple(parts["ARGV"]),
        reply=tuple(parts["REPLY"]),
        batch=tuple(parts["BATCH"]),
        errors=errors,
        stream=tuple((m.group(1), m.group(2)) for m in _FIELD.finditer(text)),
    )
