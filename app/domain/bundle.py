"""A round's audit bundle: everything ``redrain verify`` needs, in one file,
so an outside auditor can check a round with no database or Redis. Pure: it
turns a :class:`RoundBundle` into lines and back; gzip and files are the
CLI's business.

The file is JSON lines (gzip-compressed by ``redrain export``): a header
object (``"format": "redrain-round-bundle"``) holding the round, its revealed
seed and ``seed_hash``, the configuration of the activity version it was
drawn with, the top-ups, stock moves and the rule inputs, then one object
per draw in draw order with every stored field. Readers refuse another
``format`` or a newer ``bundle_version`` rather than guess.

A **public** bundle (version 2, what the /verify page links to) names players
by pseudonyms and gives each pseudonym's key per client seed
(HMAC(seed, "user:client_seed"), which the random values follow from) instead
of deriving it from the player id; coupon codes and grant ids are left out or
renamed (:func:`pseudonymized`). Everything else replays as in version 1; a
player checks their own key on /verify.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from app.domain import fairness
from app.domain.activity import ActivityConfig, config_hash
from app.domain.errors import ValidationFailed
from app.domain.records import StockMove, StoredDraw, Topup
from app.domain.schedule import plan_rounds
from app.domain.types import DrawRecord
from app.domain.verify import Report, RoundInputs, replay

FORMAT = "redrain-round-bundle"
BUNDLE_VERSION = 1
PUBLIC_VERSION = 2  # pseudonymous players, their keys given
_STORED = ("id", "prize_type", "prize_name", "prize_value", "fulfilment")


@dataclass(frozen=True)
class RoundBundle:
    round_id: str
    activity_id: int
    version: int  # the activity version the round was drawn with
    config: ActivityConfig
    seed: bytes
    seed_hash: str
    draws: list[StoredDraw]  # in draw order (seq)
    topups: list[Topup] = field(default_factory=list)
    moves: list[StockMove] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)  # count kind: earlier draws per user
    grants: dict[str, int] = field(default_factory=dict)  # amount kind: grant id -> amount
    names: dict[str, frozenset[str]] = field(default_factory=dict)  # later prize names
    # Public bundles: pseudonym -> client seed -> the key its randoms follow from.
    user_keys: dict[str, dict[str, str]] | None = None

    @property
    def public(self) -> bool:
        return self.user_keys is not None


def _unpriced(doc: object) -> object:
    """A configuration without prize values and costs (as the public round
    info shows its pools): every ``prizes`` entry's ``value`` blanked."""
    if isinstance(doc, list):
        return [_unpriced(x) for x in doc]
    if not isinstance(doc, dict):
        return doc
    out = {k: _unpriced(v) for k, v in doc.items()}
    prizes = out.get("prizes")
    for prize in prizes if isinstance(prizes, list) else []:
        if isinstance(prize, dict):
            prize["value"] = ""
            prize.pop("cost", None)
    return out


def pseudonymized(b: RoundBundle, name: Callable[[str], str]) -> RoundBundle:
    """The bundle anyone may download: players and grants renamed by ``name``
    (a keyed hash the server holds, so the revealed seed does not let a
    reader test guesses of player ids), each pseudonym's keys given, and no
    coupon codes, prize values or costs (its ``config_hash`` is that of the
    configuration so blanked)."""
    keys: dict[str, dict[str, str]] = {}
    draws = []
    for d in b.draws:
        r = d.record
        who = name(r.user_id)
        mine = keys.setdefault(who, {})
        if r.client_seed not in mine:
            mine[r.client_seed] = fairness.user_key(b.seed, r.user_id, r.client_seed)
        grant = name(f"grant:{r.grant_id}") if r.grant_id else None
        draws.append(
            dataclasses.replace(
                d,
                record=r._replace(user_id=who, grant_id=grant, code=None),
                prize_value=None if d.prize_value is None else "",
            )
        )
    return dataclasses.replace(
        b,
        config=ActivityConfig.model_validate(_unpriced(b.config.model_dump(mode="json"))),
        draws=draws,
        before={name(u): n for u, n in b.before.items()},
        grants={name(f"grant:{g}"): n for g, n in b.grants.items()},
        user_keys=keys,
    )


def dump(b: RoundBundle) -> Iterator[bytes]:
    """The bundle as JSON lines, header first."""
    yield (
        orjson.dumps(
            {
                "format": FORMAT,
                "bundle_version": PUBLIC_VERSION if b.public else BUNDLE_VERSION,
                "round_id": b.round_id,
                "activity_id": b.activity_id,
                "version": b.version,
                "config_hash": config_hash(b.config),
                "config": b.config.model_dump(mode="json", exclude_none=True),
                "seed": b.seed.hex(),
                "seed_hash": b.seed_hash,
                "draws": len(b.draws),
                "topups": [[t.prize_key, t.added, t.at_ms] for t in b.topups],
                "moves": [
                    [
                        m.move_id,
                        m.prize_key,
                        m.from_bucket,
                        m.to_bucket,
                        m.units,
                        m.out_at_ms,
                        m.in_at_ms,
                    ]
                    for m in b.moves
                ],
                "before": b.before,
                "grants": b.grants,
                "names": {k: sorted(v) for k, v in b.names.items()},
                **({"user_keys": b.user_keys} if b.user_keys is not None else {}),
            }
        )
        + b"\n"
    )
    for d in b.draws:
        row = d.record._asdict()
        row.update({k: getattr(d, k) for k in _STORED})
        yield orjson.dumps(row) + b"\n"


def load(lines: Iterable[bytes]) -> RoundBundle:
    """A bundle from its lines; :class:`ValidationFailed` naming the line
    when a line is not what a bundle holds."""
    it = iter(lines)
    n = 1
    try:
        head = orjson.loads(next(it))
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise ValidationFailed(f"line 1: not a {FORMAT} file", field="file")
        if head.get("bundle_version") not in (BUNDLE_VERSION, PUBLIC_VERSION):
            raise ValidationFailed(
                f"line 1: bundle_version {head.get('bundle_version')!r}; this release reads"
                f" {BUNDLE_VERSION} and {PUBLIC_VERSION}",
                field="file",
            )
        draws = []
        for n, line in enumerate(it, start=2):  # noqa: B007  # n names a bad line below
            if not line.strip():
                continue
            row = orjson.loads(line)
            stored = {k: row.pop(k) for k in _STORED}
            draws.append(StoredDraw(DrawRecord(**row), **stored))
        bundle = RoundBundle(
            round_id=head["round_id"],
            activity_id=int(head["activity_id"]),
            version=int(head["version"]),
            config=ActivityConfig.model_validate(head["config"]),
            seed=bytes.fromhex(head["seed"]),
            seed_hash=head["seed_hash"],
            draws=draws,
            topups=[Topup(k, int(a), int(t)) for k, a, t in head["topups"]],
            moves=[StockMove(*m) for m in head["moves"]],
            before={str(k): int(v) for k, v in head["before"].items()},
            grants={str(k): int(v) for k, v in head["grants"].items()},
            names={k: frozenset(v) for k, v in head["names"].items()},
            user_keys=(
                {
                    str(u): {str(c): str(k) for c, k in v.items()}
                    for u, v in head["user_keys"].items()
                }
                if head["bundle_version"] == PUBLIC_VERSION
                else None
            ),
        )
    except StopIteration:
        raise ValidationFailed("the file is empty", field="file") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed(f"line {n}: not a bundle line ({exc})", field="file") from exc
    if head["draws"] != len(draws):
        raise ValidationFailed(
            f"the header counts {head['draws']} draws and the file holds {len(draws)}",
            field="file",
        )
    return bundle


def check(b: RoundBundle, report: Report | None = None) -> Report:
    """Recompute every draw of the bundle (docs/fairness.md)."""
    report = report or Report(b.round_id)
    rnd = next((r for r in plan_rounds(b.activity_id, b.config) if r.round_id == b.round_id), None)
    if rnd is None:
        report.add(None, "the activity's configuration has no such round")
        return report
    if hashlib.sha256(b.seed).hexdigest() != b.seed_hash:
        report.add(None, "the seed does not match the published seed_hash")
    k = b.config.buckets
    given = {(u, c): key for u, v in (b.user_keys or {}).items() for c, key in v.items()}
    for bucket in range(k):  # each bucket is its own sequence with its own stock
        mine = [d for d in b.draws if (d.record.seq - 1) % k == bucket]
        inputs = RoundInputs(
            b.config,
            rnd,
            b.seed,
            mine,
            b.topups,
            b.before,
            b.grants,
            bucket,
            k,
            b.moves,
            b.names,
            given,
        )
        replay(report, inputs)
    return report
