"""An activity's configuration hash holds only what something reads (issue 29,
item 9): every field publishing writes is named in CONFIG_FIELDS with its
readers, and each reader really reads it."""

from __future__ import annotations

import inspect

import pytest

from app.domain import fairness
from app.domain.activity import parse_config
from app.domain.schedule import plan_rounds, round_slices
from app.store.redis import keys
from app.store.redis.catalogue import BUCKET_CONFIG_FIELDS, CONFIG_FIELDS, Catalogue
from app.store.redis.fakes import fake_client
from app.store.redis.scripts import lua_dir
from app.store.redis.store import RedisStore
from tests.helpers import prize, rain

pytestmark = pytest.mark.unit


async def test_publishing_writes_only_fields_something_reads() -> None:
    config = parse_config(rain([prize("c2", 9, 0.5)]))
    rounds = plan_rounds(7, config)
    seed = fairness.new_seed()
    redis = RedisStore(fake_client(), offset_ms=0, idempotency_ttl=60)
    await redis.catalogue.publish(
        7,
        version=3,
        config_json=config.model_dump_json(),
        rounds=rounds,
        slices=lambda r: round_slices(config, r),
        seeds={r.sfx: (seed.hex(), fairness.seed_hash(seed)) for r in rounds},
        buckets=2,
        history=lambda loaded: "{}",
    )
    home = {k.decode() for k in await redis.client.hkeys(keys.cfg(7))}
    assert home == set(CONFIG_FIELDS), home ^ set(CONFIG_FIELDS)
    for b in range(2):
        copy = await redis.client.hkeys(keys.cfg(7, keys.bucket(b, 2)))
        assert {k.decode() for k in copy} == set(BUCKET_CONFIG_FIELDS)
    await redis.close()


@pytest.mark.parametrize("field", sorted(CONFIG_FIELDS))
def test_each_reader_named_reads_its_field(field: str) -> None:
    for reader in CONFIG_FIELDS[field].split(", "):
        if reader.startswith("lua/"):
            source = lua_dir().joinpath(reader.removeprefix("lua/")).read_text()
            assert f"'{field}'" in source, (field, reader)
        else:
            method = getattr(Catalogue, reader.removeprefix("Catalogue."))
            assert f'"{field}"' in inspect.getsource(method), (field, reader)
