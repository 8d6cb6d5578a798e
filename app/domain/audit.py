"""The audit trail's entries and their hash chain (SPEC §8). Pure: no I/O.

Each entry stores the hash of the entry before it and its own:
``hash = SHA-256(prev_hash + canonical JSON of the entry)``, the first entry's
``prev_hash`` being 64 zeros. Ids are consecutive. Editing an entry changes
its hash; deleting or reordering entries breaks an id or a ``prev_hash``; so
:func:`first_break` names the first entry that was edited, deleted or
reordered in the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An entry about to be written with the change it describes."""

    actor: str
    action: str  # e.g. activity.create, activity.publish, stock.topup, login.failed
    target: str  # e.g. "activity:12", "operator:ann"
    activity_id: int | None = None
    before: Any = None  # JSON-able state before the change (None: nothing)
    after: Any = None
    ip: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime  # naive UTC, whole seconds
    actor: str
    action: str
    target: str
    activity_id: int | None
    before: str | None  # canonical JSON, as stored
    after: str | None
    ip: str
    prev_hash: str
    hash: str


def canonical(value: Any) -> str | None:
    """JSON with sorted keys: the form entries are stored and hashed in."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def entry_hash(
    prev_hash: str,
    *,
    id: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    activity_id: int | None,
    before: str | None,
    after: str | None,
    ip: str,
) -> str:
    content = orjson.dumps(
        [id, at.isoformat(), actor, action, target, activity_id, before, after, ip]
    )
    return hashlib.sha256(prev_hash.encode() + content).hexdigest()


def seal(draft: AuditDraft, entry_id: int, at: dt.datetime, prev_hash: str) -> AuditEntry:
    """The entry a draft becomes as the ``entry_id``-th, after ``prev_hash``."""
    at = at.replace(microsecond=0)  # what a DATETIME column keeps
    before, after = canonical(draft.before), canonical(draft.after)
    target = draft.target[:200]
    digest = entry_hash(
        prev_hash,
        id=entry_id,
        at=at,
        actor=draft.actor,
        action=draft.action,
        target=target,
        activity_id=draft.activity_id,
        before=before,
        after=after,
        ip=draft.ip,
    )
    return AuditEntry(
        entry_id,
        at,
        draft.actor,
        draft.action,
        target,
        draft.activity_id,
        before,
        after,
        draft.ip,
        prev_hash,
        digest,
    )


def recompute(e: AuditEntry, prev_hash: str) -> str:
    return entry_hash(
        prev_hash,
        id=e.id,
        at=e.at,
        actor=e.actor,
        action=e.action,
        target=e.target,
        activity_id=e.activity_id,
        before=e.before,
        after=e.after,
        ip=e.ip,
    )


@dataclass(frozen=True, slots=True)
class Break:
    id: int
    problem: str


def first_break(
    entries: Iterable[AuditEntry], *, after_id: int = 0, after_hash: str = GENESIS
) -> Break | None:
    """The first entry (in id order) that does not chain; None if all do.
    ``after_id``/``after_hash``: where the chain is known good (for pages)."""
    expected_id, prev = after_id + 1, after_hash
    for e in entries:
        if e.id != expected_id:
            return Break(expected_id, f"entry {expected_id} is missing (next is {e.id})")
        if e.prev_hash != prev:
            return Break(e.id, f"entry {e.id} does not follow entry {e.id - 1}")
        if recompute(e, prev) != e.hash:
            return Break(e.id, f"entry {e.id} was changed after it was written")
        expected_id, prev = e.id + 1, e.hash
    return None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and from where: what the audit trail records."""

    name: str
    ip: str = ""

    def draft(
        self,
        action: str,
        target: str,
        *,
        activity_id: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> AuditDraft:
        return AuditDraft(self.name, action, target, activity_id, before, after, self.ip)


CLI = Actor("cli")  # changes made with the redrain command on a server
