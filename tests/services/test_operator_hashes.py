"""The fixed hash an unknown sign-in name is checked against costs what a
real operator's does: the same argon2 parameters as the hasher's."""

from __future__ import annotations

from argon2 import PasswordHasher, Type, extract_parameters

from app.services import operators


def test_the_dummy_hash_has_the_production_hashers_parameters() -> None:
    # operators.HASHER is swapped for a cheap one in tests: build production's.
    production = PasswordHasher()
    dummy = extract_parameters(operators._DUMMY)
    real = extract_parameters(production.hash("a password"))
    assert dummy == real
    assert dummy.type is Type.ID


def test_an_unknown_name_is_checked_and_fails() -> None:
    assert operators.Operators._check(operators._DUMMY, "") is False
    assert operators.Operators._check(operators._DUMMY, "dev") is False
