"""Orders per second: one-line orders placed by the provider for its customers (each with
its idempotency record, authorization, subscription, seats, audit record and outbox rows in
one transaction), against a real `twotier serve`, at several connection counts.

    .venv/bin/python bench/orders.py --world var/bench-world.json [--seconds 10]

Needs a world from `twotier bench seed`; it adds subscriptions to the big reseller's
customers (run it on a world you can spare). Prints orders/s, p50/p99, the server's CPU per
order, and the statements one order runs (counted in process).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hot_reads import (  # noqa: E402
    HOST,
    Workload,
    cpu_seconds,
    percentile,
    port_taken,
    rss_mib,
    serve_env,
    start,
    world_parser,
)
from bench.load import post_bytes, run  # noqa: E402

from twotier.demo.bulk import BenchWorld  # noqa: E402

PORT = 18603


async def order_targets(url: str, world: BenchWorld, count: int) -> tuple[list[str], str, str]:
    """Customers of the big reseller, an offer, and the reseller's partner ID."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        customers = await conn.fetch(
            "SELECT customer_tenant_id FROM customer_relationships WHERE partner_account_id = $1"
            " AND status = 'active' ORDER BY created_at LIMIT $2",
            uuid.UUID(world.big.reseller_account_id),
            count,
        )
        offer = await conn.fetchval("SELECT id FROM offers ORDER BY created_at LIMIT 1")
        partner_id = await conn.fetchval(
            "SELECT partner_id FROM partner_accounts WHERE id = $1",
            uuid.UUID(world.big.reseller_account_id),
        )
    finally:
        await conn.close()
    return [str(r[0]) for r in customers], str(offer), str(partner_id)


async def statements_per_order(url: str, world: BenchWorld, customer: str, body: bytes) -> int:
    import httpx
    from sqlalchemy import event

    from twotier.app import create_app
    from twotier.config import Settings
    from twotier.kit.db import Database

    settings = Settings(database_url=url, outbox_in_process=False, _env_file=None)  # type: ignore[call-arg]
    db = Database(url)
    app = create_app(settings, db=db)
    seen: list[str] = []
    event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    headers = {
        "Authorization": f"Bearer {world.provider_token}",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        path = f"/api/v1/customers/{customer}/orders"
        for _ in range(2):
            seen.clear()
            response = await c.post(
                path, content=body, headers=headers | {"Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 201, response.text
    await db.dispose()
    return len(seen)


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time of a process and all its descendants (``--workers``: the children)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += tree_cpu_seconds(int(child))
    return total


def main() -> None:
    parser = world_parser(__doc__, seconds=10.0)
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="twotier serve --workers")
    parser.add_argument("--pool-size", default="40", help="TWOTIER_DB_POOL_SIZE of the server")
    args = parser.parse_args()
    world = BenchWorld.from_json(args.world.read_text())
    url = args.database_url or world.database
    customers, offer, partner_id = asyncio.run(order_targets(url, world, args.customers))
    body = json.dumps(
        {
            "line_items": [{"offer_id": offer, "quantity": 1, "partner_id_on_record": partner_id}],
            "attestation_accepted": True,
        }
    ).encode()
    statements = asyncio.run(statements_per_order(url, world, customers[0], body))
    requests = [
        post_bytes(HOST, f"/api/v1/customers/{c}/orders", world.provider_token, body)
        for c in customers
    ]
    if port_taken(PORT):
        raise SystemExit(f"port {PORT} is taken")
    env = serve_env(url, db_pool_size=args.pool_size)
    probe = Workload("/me", "/api/v1/me", world.provider_token)
    command = [str(Path(sys.executable).parent / "twotier"), "serve", "--port", str(PORT)]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    server = start("twotier", command, env, PORT, probe)
    out: list[dict[str, Any]] = []
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(run, (HOST, PORT, requests, 4, 2.0))  # warm up
            for connections in (int(c) for c in args.connections.split(",")):
                before = tree_cpu_seconds(server.process.pid)
                result = pool.apply(run, (HOST, PORT, requests, connections, args.seconds))
                cpu = tree_cpu_seconds(server.process.pid) - before
                if result.errors:
                    print(f"{result.errors} errors, e.g. {result.first_error}")
                rate = result.requests / result.seconds
                out.append(
                    {"workers": args.workers, "connections": connections,
                     "orders_per_s": round(rate, 1)}
                )  # fmt: skip
                print(
                    f"{connections:>3} connections: {rate:7.1f} orders/s, "
                    f"p50 {percentile(result.latencies, 0.5) * 1000:6.1f} ms, "
                    f"p99 {percentile(result.latencies, 0.99) * 1000:6.1f} ms, "
                    f"server CPU {cpu / max(result.requests, 1) * 1000:.2f} ms/order"
                )
        print(f"{statements} statements per order (in process); "
              f"RSS {rss_mib(server.process.pid):.0f} MiB")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
