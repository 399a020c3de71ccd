"""Licence assignments per second: the big reseller's admin agent assigns and unassigns a
licence to a customer's user (acting through its delegated access), each connection on a
customer of its own, against a real `twotier serve`.

    .venv/bin/python bench/licenses.py --world var/bench-world.json [--seconds 10]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hot_reads import (  # noqa: E402
    HOST,
    Workload,
    cpu_seconds,
    percentile,
    port_taken,
    start,
    world_parser,
)
from bench.load import post_bytes, run  # noqa: E402

from twotier.demo.bulk import BenchWorld  # noqa: E402

PORT = 18604


async def targets(url: str, world: BenchWorld, count: int) -> list[tuple[str, str, str]]:
    """(customer, its admin user, a SKU it has seats of) for the big reseller's customers."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT s.customer_tenant_id, u.id AS user_id, s.sku_id FROM subscriptions s"
            " JOIN users u ON u.tenant_id = s.customer_tenant_id"
            " WHERE s.reseller_account_id = $1 AND s.status = 'active'"
            " ORDER BY s.created_at LIMIT $2",
            uuid.UUID(world.big.reseller_account_id),
            count,
        )
    finally:
        await conn.close()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def main() -> None:
    parser = world_parser(__doc__, seconds=10.0)
    parser.add_argument("--connections", default="8,32")
    args = parser.parse_args()
    world = BenchWorld.from_json(args.world.read_text())
    url = args.database_url or world.database
    found = asyncio.run(targets(url, world, 64))
    token = world.big.reseller_token
    per_connection = []
    for customer, user, sku in found:
        path = f"/api/v1/customers/{customer}/users/{user}/license-updates"
        add = json.dumps({"add": [sku]}).encode()
        remove = json.dumps({"remove": [sku]}).encode()
        per_connection.append(
            [post_bytes(HOST, path, token, add), post_bytes(HOST, path, token, remove)]
        )
    if port_taken(PORT):
        raise SystemExit(f"port {PORT} is taken")
    env = {"TWOTIER_DATABASE_URL": url, "TWOTIER_DB_POOL_SIZE": "40"}
    probe = Workload("/me", "/api/v1/me", token)
    twotier = str(Path(sys.executable).parent / "twotier")
    server = start("twotier", [twotier, "serve", "--port", str(PORT)], env, PORT, probe)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(run, (HOST, PORT, per_connection, 4, 2.0))  # warm up
            for connections in (int(c) for c in args.connections.split(",")):
                if connections > len(per_connection):
                    raise SystemExit(f"only {len(per_connection)} subscribed customers found")
                before = cpu_seconds(server.process.pid)
                result = pool.apply(run, (HOST, PORT, per_connection, connections, args.seconds))
                cpu = cpu_seconds(server.process.pid) - before
                if result.errors:
                    print(f"{result.errors} errors, e.g. {result.first_error}")
                print(
                    f"{connections:>3} connections: "
                    f"{result.requests / result.seconds:7.1f} assignments or removals/s, "
                    f"p50 {percentile(result.latencies, 0.5) * 1000:6.1f} ms, "
                    f"p99 {percentile(result.latencies, 0.99) * 1000:6.1f} ms, "
                    f"server CPU {cpu / max(result.requests, 1) * 1000:.2f} ms each"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
