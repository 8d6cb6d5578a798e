"""Provably fair randomness (SPEC §4). Pure: no I/O.

The draw script and :func:`replay` compute exactly the same thing:

    user_key = HMAC-SHA256(seed, f"{user_id}:{client_seed}")          (hex, in Python)
    random   = SHA1(f"{user_key}:{nonce}")                              (hex, in the script)
    n_j      = int(random[13j : 13j+13], 16)  for j = 0, 1, 2           (52-bit chunks)
    x        = the first n_j below 2^52 − (2^52 mod T), mod T           (uniform on [0, T))

``T`` is 10^9 in manual mode (probabilities are parts per 10^9) and the sum of
weight × released-remaining over the round's prizes in auto mode. Rejection
keeps ``x`` exactly uniform; all arithmetic stays below 2^53 so Lua's doubles
and Python's integers agree bit for bit. See docs/fairness.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from app.domain.types import PPB

CHUNK_HEX = 13
TWO52 = 1 << 52


def new_seed() -> bytes:
    return secrets.token_bytes(32)


def seed_hash(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def user_key(seed: bytes, user_id: str, client_seed: str) -> str:
    return hmac.digest(seed, f"{user_id}:{client_seed}".encode(), "sha256").hex()


def draw_random(key_hex: str, nonce: int) -> str:
    return hashlib.sha1(f"{key_hex}:{nonce}".encode(), usedforsecurity=False).hexdigest()


def uniform(random_hex: str, total: int) -> int:
    """A value uniform on ``[0, total)`` from the 40-hex ``random``."""
    limit = TWO52 - TWO52 % total
    n = 0
    for j in range(3):
        n = int(random_hex[j * CHUNK_HEX : (j + 1) * CHUNK_HEX], 16)
        if n < limit:
            break
    return n % total


def pick_manual(random_hex: str, ppbs: Sequence[int]) -> int:
    """1-based index of the picked prize, or 0 for the remainder (empty)."""
    x = uniform(random_hex, PPB)
    acc = 0
    for i, p in enumerate(ppbs, start=1):
        acc += p
        if x < acc:
            return i
    return 0


def pick_auto(random_hex: str, weighted: Sequence[int]) -> int:
    """1-based index by weight × released-remaining (``weighted``), 0 if nothing is left."""
    total = sum(weighted)
    if total <= 0:
        return 0
    x = uniform(random_hex, total)
    acc = 0
    for i, w in enumerate(weighted, start=1):
        acc += w
        if x < acc:
            return i
    return 0  # unreachable: x < total


def lottery_winners(seed_hex: str, users: Sequence[str], quantity: int) -> list[str]:
    """The ``min(quantity, len(users))`` winners of a scheduled lottery: the users
    whose HMAC-SHA256(seed, user_id) is smallest. HMAC is a pseudo-random
    function, so every participant is equally likely to win; the seed's hash is
    shown before the draw and the seed after it, so anyone can recompute this."""
    seed = bytes.fromhex(seed_hex)
    ranked = sorted(users, key=lambda u: hmac.digest(seed, u.encode(), "sha256"))
    return ranked[:quantity]
