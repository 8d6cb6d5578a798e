"""Each Lua script's header against the Python that calls it.

The header documents KEYS, ARGV, the reply, the refusal codes and the stream
entry fields (app/store/redis/scripts.py gives the grammar); the calling module
declares the same layout as a ``Contract`` and builds its calls from it by
name. These tests fail when either side changes without the other: a
reordered argument, a renamed field, a code added on one side only, a Lua
local bound to the wrong position.
"""

from __future__ import annotations

import re

import pytest

from app.services.draws import REFUSALS
from app.store.redis import (
    catalogue,
    draw,
    grants,
    ledger,
    limits,
    locks,
    logins,
    moves,
    replies,
    scripts,
)
from app.store.redis.scripts import Contract, header

CONTRACTS: dict[str, Contract] = {
    c.script: c
    for c in (
        replies.CONTRACT,
        draw.CLAIM,
        catalogue.PUBLISH,
        catalogue.DROP,
        catalogue.TOPUP,
        catalogue.STATS,
        grants.CONTRACT,
        moves.MOVE_OUT,
        moves.MOVE_IN,
        logins.CONTRACT,
        locks.UNLOCK,
        limits.CONTRACT,
    )
}
_BINDING = re.compile(r"^local (\w+) = (?:tonumber\()?(KEYS|ARGV)\[(\d+)\]", re.MULTILINE)
_AT = re.compile(r"^local PRIZE_AT = (\d+)$", re.MULTILINE)


def source(name: str) -> str:
    """The script as written (its own lines, without the inlined includes)."""
    return scripts.lua_dir().joinpath(f"{name}.lua").read_text(encoding="utf-8")


def test_every_script_has_a_contract() -> None:
    assert set(CONTRACTS) == set(scripts.NAMES)


@pytest.mark.parametrize("name", scripts.NAMES)
def test_header_and_python_agree(name: str) -> None:
    documented = header(source(name), name)
    python = CONTRACTS[name]
    assert documented.keys == python.keys, "KEYS: count or order differs"
    assert documented.argv == python.argv, "ARGV: count or order differs"
    assert documented.reply == python.reply, "reply fields differ"
    assert dict(documented.errors) == dict(python.errors), "error codes differ"
    assert documented.stream == python.stream, "stream entry fields differ"


@pytest.mark.parametrize("name", scripts.NAMES)
def test_lua_binds_each_position_to_its_documented_name(name: str) -> None:
    text = source(name)
    contract = CONTRACTS[name]
    bound = {(part, int(i)): local for local, part, i in _BINDING.findall(text)}
    keys = {("KEYS", i + 1): f"{k}Key" for i, k in enumerate(contract.keys)}
    argv = {("ARGV", i + 1): str(a) for i, a in enumerate(contract.argv[: contract.fixed("argv")])}
    assert bound == keys | argv
    # The first repeated group starts right after the fixed arguments.
    if contract.fixed("argv") < len(contract.argv):
        assert _AT.findall(text) == [str(contract.fixed("argv") + 1)]


def test_every_refusal_is_told_to_the_player() -> None:
    """Each refusal code maps to one error, once; STALE and WRONG_ROUND are
    retried by the draw loop instead."""
    retried = {replies.Code.STALE, replies.Code.WRONG_ROUND}
    refusals = {c for c in replies.Code if c < 0}
    assert set(REFUSALS) == refusals - retried


def test_the_ledger_reads_the_fields_the_script_writes() -> None:
    assert set(ledger.F) == {name for _, name in replies.CONTRACT.stream}


def test_a_reordered_argument_is_caught_on_either_side() -> None:
    """The comparison above is sensitive to order, on both sides."""
    text = source("draw")
    a = "  ARGV[3]  user          user id\n"
    b = "  ARGV[4]  userKey       hex HMAC"
    assert a in text and b in text
    swapped = text.replace(a, "  ARGV[3]  userKey  \n").replace(b, "  ARGV[4]  user  ")
    assert header(swapped).argv != replies.CONTRACT.argv
    python = list(replies.CONTRACT.argv)
    python[2], python[3] = python[3], python[2]
    assert header(text).argv != tuple(python)


def test_the_decoder_refuses_what_the_contract_does_not_know() -> None:
    from app.domain.errors import ContractError

    with pytest.raises(ContractError):
        replies.decode([-99])
    with pytest.raises(ContractError):
        replies.decode([1, "20300601:0"])  # a draw with missing fields
    assert replies.decode([-10, b"20300601:1"]) == replies.Refused(
        replies.Code.WRONG_ROUND, "20300601:1"
    )
    assert replies.decode([-5]) == replies.Refused(replies.Code.ROUND_LIMIT)
