"""twotier's hot reads side by side with a bare Starlette + asyncpg app (bench/bare_app.py)
on the same database: alternating rounds, one server process each, the same connections.

    .venv/bin/twotier bench seed --customers 10000          # once, into an empty database
    .venv/bin/python bench/hot_reads.py --world var/bench-world.json

Prints per workload: requests/s, p50 and p99 latency, the server's CPU per request (from
/proc, user + system), SQL statements per request (counted in process), and twotier's
ratio to the bare app; then the plans of the hot queries (EXPLAIN ANALYZE) and each server's
resident memory. ``--soak SECONDS`` adds a run of the customer page that samples twotier's
RSS. Run it alone on the machine: a benchmark shares the cores with nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import Result, request_bytes, run  # noqa: E402

from twotier.demo.bulk import BenchWorld  # noqa: E402

HOST = "127.0.0.1"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Workload:
    name: str
    path: str
    token: str


def workloads(world: BenchWorld, which: list[str]) -> list[Workload]:
    out = []
    for label, sample in (("big", world.big), ("small", world.small)):
        if label not in which:
            continue
        tag = f"{label} reseller ({sample.customers:,} customers)"
        token = sample.reseller_token
        out += [
            Workload(f"customer page · {tag}", "/api/v1/customers", token),
            Workload(f"customer page q= · {tag}", f"/api/v1/customers?q={sample.q}", token),
            Workload(f"customer by id · {tag}", f"/api/v1/customers/{sample.customer_id}", token),
            Workload(f"/me · {tag}", "/api/v1/me", token),
            Workload(
                f"shared customers · {tag}",
                f"/api/v1/indirect-providers/{world.provider_account_id}/customers",
                token,
            ),
            Workload(
                f"subscriptions · {tag}",
                f"/api/v1/customers/{sample.customer_id}/subscriptions",
                token,
            ),
        ]
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(name: str, command: list[str], env: dict[str, str], port: int, probe: Workload) -> Server:
    process = subprocess.Popen(
        command, env=os.environ | env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            request = urllib.request.Request(
                f"http://{HOST}:{port}{probe.path}",
                headers={"Authorization": f"Bearer {probe.token}"},
            )
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 — loopback
                if answer.status == 200:
                    return Server(name, port, process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{name} did not answer on port {port}")


@dataclass
class Round:
    requests: int
    seconds: float
    cpu: float
    latencies: list[float] = field(repr=False)


def measure(pool: Any, server: Server, load: Workload, connections: int, seconds: float) -> Round:
    requests = [request_bytes(HOST, load.path, load.token)]
    before = cpu_seconds(server.process.pid)
    result: Result = pool.apply(run, (HOST, server.port, requests, connections, seconds))
    cpu = cpu_seconds(server.process.pid) - before
    if result.errors:
        raise SystemExit(f"{server.name} {load.name}: {result.errors} errors: {result.first_error}")
    return Round(result.requests, result.seconds, cpu, result.latencies)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    requests: int

    @classmethod
    def of(cls, rounds: list[Round]) -> Figures:
        latencies = [x for r in rounds for x in r.latencies]
        return cls(
            rps=statistics.median(r.requests / r.seconds for r in rounds),
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
            cpu_ms=statistics.median(r.cpu / r.requests * 1000 for r in rounds),
            requests=sum(r.requests for r in rounds),
        )


async def statements_and_plans(url: str, loads: list[Workload]) -> dict[str, Any]:
    """Each workload once through twotier in this process: its statements, and the plan
    of each statement after the principal's."""
    import httpx
    from sqlalchemy import event

    from twotier.app import create_app
    from twotier.config import Settings
    from twotier.kit.db import Database

    settings = Settings(database_url=url, outbox_in_process=False, _env_file=None)  # type: ignore[call-arg]
    db = Database(url)
    app = create_app(settings, db=db)
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    out: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for load in loads:
            headers = {"Authorization": f"Bearer {load.token}"}
            await client.get(load.path, headers=headers)
            seen.clear()
            event.listen(db.engine.sync_engine, "before_cursor_execute", record)
            response = await client.get(load.path, headers=headers)
            event.remove(db.engine.sync_engine, "before_cursor_execute", record)
            assert response.status_code == 200, response.text
            plans = []
            for statement, parameters in seen[1:]:
                plans.append(await explain(db, statement, parameters))
            out[load.name] = {"statements": len(seen), "plans": plans, "sql": [s for s, _ in seen]}
        principal = seen[0] if seen else None
        if principal is not None:
            out["principal lookup"] = {"plans": [await explain(db, *principal)]}
    await db.dispose()
    return out


def literal(value: Any) -> str:
    """A bound value as SQL text (EXECUTE takes no parameters); our own queries' values."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return str(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text.replace("'", "''") + "'"


async def explain(db: Any, statement: str, parameters: Any) -> str:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if db.is_sqlite:
            cursor = await driver.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            rows = await cursor.fetchall()
            return "\n".join(str(r[-1]) for r in rows)
        # The plan the application gets: asyncpg prepares its statements, and after five
        # executions PostgreSQL keeps a generic plan, made without the parameters' values.
        await driver.execute("SET plan_cache_mode = force_generic_plan")
        await driver.execute(f"PREPARE bench_plan AS {statement}")
        try:
            args = ", ".join(literal(value) for value in parameters)
            execute = f"EXECUTE bench_plan({args})" if parameters else "EXECUTE bench_plan"
            rows = await driver.fetch("EXPLAIN (ANALYZE, BUFFERS) " + execute)
        finally:
            await driver.execute("DEALLOCATE bench_plan")
            await driver.execute("RESET plan_cache_mode")
        return "\n".join(r[0] for r in rows)


def serve_env(url: str, **settings: str) -> dict[str, str]:
    """``twotier serve``'s environment for a benchmark: the database, cheap password hashing
    (nothing measured signs in), and any other ``TWOTIER_*`` settings given."""
    return {
        "TWOTIER_DATABASE_URL": url,
        "TWOTIER_PASSWORD_HASH_TIME_COST": "1",
        "TWOTIER_PASSWORD_HASH_MEMORY_KIB": "8",
        "TWOTIER_PASSWORD_HASH_PARALLELISM": "1",
    } | {f"TWOTIER_{name.upper()}": value for name, value in settings.items()}


def reads_parser(doc: str | None) -> argparse.ArgumentParser:
    """The hot-read benchmarks' arguments (this one's and ``sqlite_reads.py``'s)."""
    parser = world_parser(doc, seconds=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--resellers", default="big,small", help="big, small or both")
    parser.add_argument("--only", default="", help="workloads whose name contains this")
    parser.add_argument("--plans", action="store_true", help="print the query plans")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    return parser


def world_parser(doc: str | None, *, seconds: float) -> argparse.ArgumentParser:
    """A benchmark's arguments on a seeded world: the world's file, its database, the
    seconds each measurement runs."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "var" / "bench-world.json")
    parser.add_argument("--database-url", default=os.environ.get("TWOTIER_DATABASE_URL"))
    parser.add_argument("--seconds", type=float, default=seconds, help="per measurement")
    return parser


def main() -> None:
    parser = reads_parser(__doc__)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of a memory soak")
    args = parser.parse_args()

    world = BenchWorld.from_json(args.world.read_text())
    url = args.database_url or world.database
    if not url.startswith("postgresql"):
        raise SystemExit("the bare app is asyncpg's: give a PostgreSQL database")
    loads = [w for w in workloads(world, args.resellers.split(",")) if args.only in w.name]
    counted = asyncio.run(statements_and_plans(url, loads))

    env = serve_env(url)
    for port in (18601, 18602):
        if port_taken(port):
            raise SystemExit(f"port {port} is taken: is an earlier run still serving?")
    twotier = start(
        "twotier",
        [str(Path(sys.executable).parent / "twotier"), "serve", "--port", "18601"],
        env,
        18601,
        loads[0],
    )
    try:
        bare = start(
            "bare",
            [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", "18602"],
            {"BARE_DATABASE_URL": url},
            18602,
            loads[0],
        )
    except BaseException:
        twotier.stop()
        raise
    # The world's shape, not its tokens.
    shape = {"customers", "resellers", "providers", "timings"}
    results: dict[str, Any] = {"world": {k: v for k, v in asdict(world).items() if k in shape}}
    results["machine"] = machine()
    rows = []
    ctx = multiprocessing.get_context("spawn")
    try:
        with ctx.Pool(1) as pool:
            for load in loads:
                for server in (twotier, bare):  # warm both
                    measure(pool, server, load, args.connections, 1.0)
                rounds: dict[str, list[Round]] = {"twotier": [], "bare": []}
                for n in range(args.rounds):
                    order = (twotier, bare) if n % 2 == 0 else (bare, twotier)
                    for server in order:
                        rounds[server.name].append(
                            measure(pool, server, load, args.connections, args.seconds)
                        )
                tt, ba = Figures.of(rounds["twotier"]), Figures.of(rounds["bare"])
                rows.append((load.name, tt, ba, counted[load.name]["statements"]))
                print_row(load.name, tt, ba, counted[load.name]["statements"])
            if args.soak:
                results["soak"] = soak(pool, twotier, loads[0], args.connections, args.soak)
        results["rss_mib"] = {
            "twotier": round(rss_mib(twotier.process.pid), 1),
            "bare": round(rss_mib(bare.process.pid), 1),
        }
    finally:
        twotier.stop()
        bare.stop()
    print(f"\nRSS after the runs: twotier {results['rss_mib']['twotier']} MiB, "
          f"bare {results['rss_mib']['bare']} MiB")  # fmt: skip
    if "soak" in results:
        s = results["soak"]
        print(f"Soak: {s['seconds']:.0f} s of the customer page, RSS {s['samples_mib']}")
    if args.plans:
        for name, data in counted.items():
            for plan in data["plans"]:
                print(f"\n-- plan: {name}\n{plan}")
    results["workloads"] = [
        {"name": name, "twotier": asdict(tt), "bare": asdict(ba), "statements": st}
        for name, tt, ba, st in rows
    ]
    results["plans"] = {name: data["plans"] for name, data in counted.items()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


HEADER = (
    f"{'workload':<52} {'app':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10} "
    f"{'stmts':>5}"
)


def print_row(name: str, tt: Figures, ba: Figures, statements: int) -> None:
    if not getattr(print_row, "started", False):
        print(HEADER)
        print_row.started = True  # type: ignore[attr-defined]
    for app, f, st in (("twotier", tt, str(statements)), ("bare", ba, "1")):
        print(
            f"{name if app == 'twotier' else '':<52} {app:<8} {f.rps:>7.0f} {f.p50_ms:>7.2f} "
            f"{f.p99_ms:>7.2f} {f.cpu_ms:>10.3f} {st:>5}"
        )
    print(
        f"{'':<52} {'ratio':<8} {tt.rps / ba.rps:>7.2f} {tt.p50_ms / ba.p50_ms:>7.2f} "
        f"{tt.p99_ms / ba.p99_ms:>7.2f} {tt.cpu_ms / ba.cpu_ms:>10.2f}"
    )


def soak(
    pool: Any, server: Server, load: Workload, connections: int, seconds: float
) -> dict[str, Any]:
    samples = [round(rss_mib(server.process.pid), 1)]
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        measure(pool, server, load, connections, min(30.0, seconds))
        samples.append(round(rss_mib(server.process.pid), 1))
    return {"seconds": time.monotonic() - started, "samples_mib": samples}


def machine() -> dict[str, str]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "unknown",
    )  # fmt: skip
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": sys.version.split()[0]}


if __name__ == "__main__":
    main()
