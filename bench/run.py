"""The benchmark in one command: a fresh PostgreSQL database, a seeded channel, the hot
reads side by side with the bare app; the database is dropped after.

    .venv/bin/python bench/run.py                    # `make bench`: small, a few minutes
    .venv/bin/python bench/run.py --customers 1000000 --seconds 5 --rounds 3 --plans

BENCH_POSTGRES_URL names the server (default postgresql+asyncpg://postgres@127.0.0.1:5432/
postgres); the database is created next to it and dropped at the end (``--keep`` keeps it
and its world file, to run bench/hot_reads.py against it again).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hot_reads import serve_env  # noqa: E402

TWOTIER = str(Path(sys.executable).with_name("twotier"))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--resellers", type=int, default=10_000)
    parser.add_argument("--providers", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    server = os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"twotier_bench_{uuid.uuid4().hex[:8]}"
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    world = ROOT / "var" / f"{name}.json"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    env = os.environ | serve_env(url)
    try:
        started = time.perf_counter()
        seed = [TWOTIER, "bench", "seed", "--customers", str(args.customers)]
        seed += ["--resellers", str(args.resellers), "--providers", str(args.providers)]
        subprocess.run([*seed, "--out", str(world)], env=env, check=True, cwd=ROOT)
        print(f"seeded in {time.perf_counter() - started:.0f} s\n", flush=True)
        reads = [sys.executable, str(ROOT / "bench" / "hot_reads.py"), "--world", str(world)]
        reads += ["--seconds", str(args.seconds), "--rounds", str(args.rounds)]
        reads += ["--plans"] if args.plans else []
        reads += ["--json", str(args.json)] if args.json else []
        subprocess.run(reads, env=env, check=True, cwd=ROOT)
    finally:
        if args.keep:
            print(f"\nkept: TWOTIER_DATABASE_URL={url} and {world}")
        else:
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            world.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
