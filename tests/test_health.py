import httpx


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
