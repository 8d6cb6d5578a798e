"""The audit trail's entries and their keyed hash chain (SPEC §8). Pure: no I/O.

Each entry stores the hash of the entry before it and its own:
``hash = HMAC-SHA256(key, prev_hash + canonical JSON of the entry)``, the
first entry's ``prev_hash`` being 64 zeros. The key comes from settings
(``REDRAIN_AUDIT_KEY``, else derived from ``REDRAIN_SECRET_KEY``) and is never
stored in the database, so whoever can write the database but not read the
settings cannot recompute a hash after editing an entry. Ids are consecutive.
Editing an entry changes its hash; deleting or reordering entries breaks an id
or a ``prev_hash``; so :func:`first_break` names the first entry that was
edited, deleted or reordered in the database. What this cannot see (cutting
entries off the end together with the head row) is in docs/security.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
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


def content_of(e: AuditEntry) -> bytes:
    """What an entry's hash covers, besides the previous hash."""
    return orjson.dumps(
        [
            e.id,
            e.at.isoformat(),
            e.actor,
            e.action,
            e.target,
            e.activity_id,
            e.before,
            e.after,
            e.ip,
        ]
    )


def recompute(key: bytes, e: AuditEntry, prev_hash: str) -> str:
    """The keyed hash ``e`` should carry after ``prev_hash``."""
    return hmac.new(key, prev_hash.encode() + content_of(e), hashlib.sha256).hexdigest()


def plain_hash(e: AuditEntry, prev_hash: str) -> str:
    """The unkeyed SHA-256 chain of releases before the key (migration 0008
    verifies an old trail with it before re-keying)."""
    return hashlib.sha256(prev_hash.encode() + content_of(e)).hexdigest()


def seal(
    key: bytes, draft: AuditDraft, entry_id: int, at: dt.datetime, prev_hash: str
) -> AuditEntry:
    """The entry a draft becomes as the ``entry_id``-th, after ``prev_hash``."""
    entry = AuditEntry(
        entry_id,
        at.replace(microsecond=0),  # what a DATETIME column keeps
        draft.actor,
        draft.action,
        draft.target[:200],
        draft.activity_id,
        canonical(draft.before),
        canonical(draft.after),
        draft.ip,
        prev_hash,
        "",
    )
    return dataclasses.replace(entry, hash=recompute(key, entry, prev_hash))


@dataclass(frozen=True, slots=True)
class Break:
    id: int
    problem: str


def first_break(
    key: bytes | None,
    entries: Iterable[AuditEntry],
    *,
    after_id: int = 0,
    after_hash: str = GENESIS,
) -> Break | None:
    """The first entry (in id order) that does not chain; None if all do.
    ``key`` None checks the unkeyed chain of old releases.
    ``after_id``/``after_hash``: where the chain is known good (for pages)."""
    expected_id, prev = after_id + 1, after_hash
    for e in entries:
        if e.id != expected_id:
            return Break(expected_id, f"entry {expected_id} is missing (next is {e.id})")
        if e.prev_hash != prev:
            return Break(e.id, f"entry {e.id} does not follow entry {e.id - 1}")
        good = plain_hash(e, prev) if key is None else recompute(key, e, prev)
        if not hmac.compare_digest(good, e.hash):
            return Break(e.id, f"entry {e.id} was changed after it was written")
        expected_id, prev = e.id + 1, e.hash
    return None


def rechained(
    entries: Iterable[AuditEntry], key: bytes, prev_hash: str = GENESIS
) -> list[AuditEntry]:
    """``entries`` (a whole chain, in id order, already verified) hashed anew
    with ``key``: re-keying after a key change or from the unkeyed chain."""
    out = []
    for e in entries:
        e = dataclasses.replace(e, prev_hash=prev_hash, hash=recompute(key, e, prev_hash))
        out.append(e)
        prev_hash = e.hash
    return out


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and from where: what the audit trail records.
    ``principal`` is the person behind it: the operator who created the API
    token ``name`` (four-eyes compares principals, so a token can never
    approve what its creator asked for); a person's own name otherwise."""

    name: str
    ip: str = ""
    owner: str = ""

    @property
    def principal(self) -> str:
        return self.owner or self.name

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
