import gc

import httpx

from twotier.app import GC_THRESHOLDS, create_app
from twotier.config import Settings
from twotier.kit.db import Database


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_when_the_database_does(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-Id": "trace-123"})
    assert echoed.headers["X-Request-Id"] == "trace-123"
    generated = await client.get("/healthz")
    assert len(generated.headers["X-Request-Id"]) >= 16
    insane = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert insane.headers["X-Request-Id"] != "bad id\twith spaces"


async def test_start_up_freezes_what_it_made_and_collects_the_young_less_often(
    settings: Settings, db: Database
) -> None:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's own
    try:
        app = create_app(settings, db=db)
        assert gc.get_threshold() == (700, 10, 10)  # making the app changes nothing
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == GC_THRESHOLDS
            assert GC_THRESHOLDS[0] >= 10_000
            assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
