"""The script loader's includes (issue 29, item 10): nested, each once,
cycles and missing files refused by name; the shipped scripts expand to text
with no include left."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.domain.errors import ConfigError
from app.store.redis.scripts import NAMES, expand, load

pytestmark = pytest.mark.unit


def folder(tmp_path: Path, **files: str) -> Callable[[str], Path]:
    """Include files in ``tmp_path``; the loader's way of finding one."""
    for name, text in files.items():
        (tmp_path / f"{name}.lua").write_text(text)
    return lambda name: tmp_path / f"{name}.lua"


def test_nested_includes_expand_and_each_goes_in_once(tmp_path: Path) -> None:
    inc = folder(
        tmp_path,
        base="local function base() return 1 end",
        left="-- @include base\nlocal function left() return base() end",
        right="-- @include base\nlocal function right() return base() + 1 end",
    )
    text = expand("-- @include left\n-- @include right\nreturn left() + right()", inc)
    assert text.count("local function base()") == 1  # shared by both, defined once
    assert text.index("function base") < text.index("function left") < text.index("function right")
    assert "-- (base is included above)" in text and "@include" not in text


def test_a_cycle_or_a_missing_include_is_refused_by_name(tmp_path: Path) -> None:
    inc = folder(tmp_path, a="-- @include b", b="-- @include a")
    with pytest.raises(ConfigError, match=r"cycle: \(script\) -> a -> b -> a"):
        expand("-- @include a", inc)
    with pytest.raises(ConfigError, match="'nowhere' not found"):
        expand("-- @include nowhere", inc)


def test_every_shipped_script_expands_whole() -> None:
    for name in NAMES:
        source = load(name).source
        assert "@include" not in source.replace("is included above", ""), name
