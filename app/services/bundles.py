"""The public audit bundle of an ended round (SPEC §5, the /verify page's
download): the same file ``redrain export`` writes, with players as
pseudonyms and their keys given (app/domain/bundle.py: ``pseudonymized``).

Building one reads and decodes the whole round, so it is built once per
round and process (an ended round's draws do not change; a repair by
reconcile shows after :data:`KEEP_S`), one build at a time, and rounds past
:data:`MAX_DRAWS` are refused: their operator exports them.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import time
from collections import OrderedDict

from app.domain.bundle import dump, pseudonymized
from app.domain.errors import Conflict, PayloadTooLarge
from app.domain.verify import Report
from app.services.clock import Clock
from app.services.verifier import Verifier
from app.store.sql.database import Database

MAX_DRAWS = 1_000_000  # a public download; larger rounds: `redrain export`
KEEP = 16  # bundles kept per process
KEEP_S = 600.0  # how long one is served before it is built again


class Bundles:
    def __init__(self, db: Database, clock: Clock, secret: bytes) -> None:
        self.verifier = Verifier(db)
        self.db = db
        self.clock = clock
        # Pseudonyms are keyed by the server, not the revealed seed: a reader
        # of the file cannot test guesses of player ids against it.
        self._key = hmac.new(secret, b"redrain bundle pseudonyms v1", hashlib.sha256).digest()
        self._built: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._one_at_a_time = asyncio.Lock()

    def pseudonym(self, user_id: str) -> str:
        return "p-" + hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()[:16]

    async def public(self, round_id: str) -> bytes:
        """The gzip-compressed public bundle; :class:`NotFound` for a round the
        database does not have, :class:`Conflict` while it is open."""
        async with self._one_at_a_time:
            kept = self._built.get(round_id)
            if kept is not None and time.monotonic() - kept[0] < KEEP_S:
                self._built.move_to_end(round_id)
                return kept[1]
            led = await self.db.draws.round_ledger(round_id)
            if led.draws > MAX_DRAWS:
                raise PayloadTooLarge(
                    f"round {round_id} has {led.draws:,} draws; its operator can export it"
                    " with `redrain export`",
                    code="bundle_too_large",
                )
            report = Report(round_id)
            bundle = await self.verifier.gather(round_id, report, now_ms=self.clock.now_ms())
            if not report.ended:
                raise Conflict(
                    f"round {round_id} has not ended: its seed is still secret",
                    code="round_not_ended",
                )
            if bundle is None:
                raise Conflict(
                    f"round {round_id} cannot be bundled: {report.findings[0].problem}",
                    code="round_incomplete",
                )
            data = gzip.compress(b"".join(dump(pseudonymized(bundle, self.pseudonym))), 6)
            self._built[round_id] = (time.monotonic(), data)
            while len(self._built) > KEEP:
                self._built.popitem(last=False)
            return data
