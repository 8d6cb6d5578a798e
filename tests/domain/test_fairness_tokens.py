"""The randomness construction and player tokens."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.domain import fairness, tokens
from app.domain.errors import Unauthorized, ValidationFailed


def test_construction_is_the_documented_one() -> None:
    seed = bytes(range(32))
    key = fairness.user_key(seed, "alice", "lucky")
    assert key == hmac.new(seed, b"alice:lucky", hashlib.sha256).hexdigest()
    assert fairness.draw_random(key, 3) == hashlib.sha1(f"{key}:3".encode()).hexdigest()
    assert fairness.seed_hash(seed) == hashlib.sha256(seed).hexdigest()


def test_uniform_rejects_the_biased_tail() -> None:
    total = 3 * (1 << 50)  # 2^52 mod total = 2^50: chunks >= 3·2^50 are rejected
    first_rejected = format(3 << 50, "013x")
    second_ok = format(7, "013x")
    assert fairness.uniform(first_rejected + second_ok + "0" * 14, total) == 7
    assert fairness.uniform(format(5, "013x") + "f" * 27, total) == 5


def test_pick_manual_and_auto() -> None:
    # x = n mod 10^9 with n the first 13 hex digits.
    def hx(n: int) -> str:
        return format(n, "013x") + "0" * 27

    assert fairness.pick_manual(hx(0), [500_000_000, 200_000_000]) == 1
    assert fairness.pick_manual(hx(499_999_999), [500_000_000, 200_000_000]) == 1
    assert fairness.pick_manual(hx(500_000_000), [500_000_000, 200_000_000]) == 2
    assert fairness.pick_manual(hx(700_000_000), [500_000_000, 200_000_000]) == 0
    assert fairness.pick_auto(hx(0), [0, 5]) == 2
    assert fairness.pick_auto(hx(4), [5, 5]) == 1
    assert fairness.pick_auto(hx(5), [5, 5]) == 2
    assert fairness.pick_auto(hx(5), [0, 0]) == 0


def test_tokens_round_trip_and_refusals() -> None:
    secret = b"k" * 32
    tok = tokens.issue(secret, "alice", 2_000)
    assert tokens.verify(secret, tok, 1_000) == "alice"
    with pytest.raises(Unauthorized) as e:
        tokens.verify(secret, tok, 2_000)
    assert e.value.code == "token_expired"
    forged = tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")
    with pytest.raises(Unauthorized) as e:
        tokens.verify(secret, forged, 1_000)
    assert e.value.code == "invalid_token"
    with pytest.raises(Unauthorized):
        tokens.verify(b"other" * 8, tok, 1_000)
    # Changing the user id or the expiry breaks the signature.
    with pytest.raises(Unauthorized):
        tokens.verify(secret, tok.replace("alice", "mallory"), 1_000)
    with pytest.raises(Unauthorized):
        tokens.verify(secret, tok.replace("2000", "9999"), 1_000)
    for bad in ("", "a.b.c", "rd1.alice.x.sig", "rd2.alice.2000.sig"):
        with pytest.raises(Unauthorized):
            tokens.verify(secret, bad, 1_000)
    with pytest.raises(ValidationFailed, match="user_id"):
        tokens.issue(secret, "bad id", 2_000)


def test_a_remembered_token_still_expires_and_is_bound_to_its_secrets() -> None:
    key, other = b"k" * 32, b"o" * 32
    tok = tokens.issue(key, "alice", 1_000)
    assert tokens.verify(key, tok, 999) == "alice"
    assert tokens.verify(key, tok, 999) == "alice"  # the remembered answer
    with pytest.raises(Unauthorized) as err:
        tokens.verify(key, tok, 1_000)
    assert err.value.code == "token_expired"
    with pytest.raises(Unauthorized):
        tokens.verify(other, tok, 999)  # another secret: checked anew, refused
    assert tokens.verify((other, key), tok, 999) == "alice"  # the rotation window
    with pytest.raises(Unauthorized):
        tokens.verify(key, tok[:-2] + "AA", 999)
