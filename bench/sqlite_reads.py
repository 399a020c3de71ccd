"""twotier's hot reads on embedded SQLite side by side with a bare Starlette + aiosqlite app
(bench/bare_sqlite_app.py) reading the same file: alternating rounds, one server process
each, the same connections. The SQLite twin of bench/hot_reads.py.

    TWOTIER_DATABASE_URL=sqlite+aiosqlite:///var/bench.db .venv/bin/twotier bench seed \\
        --customers 20000 --out var/bench-sqlite.json     # once, into an empty file
    .venv/bin/python bench/sqlite_reads.py --world var/bench-sqlite.json

Before measuring, checks that both apps answer each workload 200 with the same JSON (and
says whether the bytes are the same too). Prints per workload: requests/s, p50 and p99
latency, the server's CPU per request (from /proc, user + system), SQL statements per
request (counted in process), and twotier's ratio to the bare app; ``--plans`` adds the
plans of twotier's hot queries (EXPLAIN QUERY PLAN). Run it alone on the machine: a
benchmark shares the cores with nothing else.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hot_reads import (  # noqa: E402
    HOST,
    Figures,
    Round,
    Server,
    Workload,
    machine,
    measure,
    port_taken,
    print_row,
    reads_parser,
    rss_mib,
    serve_env,
    start,
    statements_and_plans,
    workloads,
)

from twotier.demo.bulk import BenchWorld  # noqa: E402

TWOTIER_PORT, BARE_PORT = 18611, 18612  # hot_reads.py's are 18601 and 18602


def answer(server: Server, load: Workload) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://{HOST}:{server.port}{load.path}",
        headers={"Authorization": f"Bearer {load.token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 — loopback
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def first_difference(a: Any, b: Any, where: str = "") -> str:
    """Where two parsed answers first differ, as a path into them."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{where or '/'}: keys {list(a)} ≠ {list(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return ""
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where or '/'}: {len(a)} items ≠ {len(b)}"
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{where}/{n}")
            if found:
                return found
        return ""
    return "" if a == b else f"{where or '/'}: {a!r} ≠ {b!r}"


def same_answers(twotier: Server, bare: Server, loads: list[Workload]) -> dict[str, str]:
    """Each workload asked of both apps: both 200 with the same JSON, or exit with what
    differs. Whether the bytes are the same as well, per workload."""
    out, failures = {}, []
    for load in loads:
        (tt_status, tt_body), (ba_status, ba_body) = answer(twotier, load), answer(bare, load)
        if tt_status != 200 or ba_status != 200:
            failures.append(
                f"{load.name}: twotier {tt_status} {tt_body[:200]!r}, "
                f"bare {ba_status} {ba_body[:200]!r}"
            )
            continue
        difference = first_difference(json.loads(tt_body), json.loads(ba_body))
        if difference:
            failures.append(f"{load.name}: the answers differ at {difference}")
            continue
        out[load.name] = "bytes" if tt_body == ba_body else "json"
    if failures:
        lines = "\n  ".join(failures)
        raise SystemExit(f"error: the apps' answers are not the same:\n  {lines}")
    return out


def main() -> None:
    parser = reads_parser(__doc__)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, per app and load")
    parser.add_argument("--pool-size", type=int, default=16, help="the bare app's connections")
    args = parser.parse_args()

    world = BenchWorld.from_json(args.world.read_text())
    url = args.database_url or world.database
    if not url.startswith("sqlite"):
        raise SystemExit(
            f"the bare app is aiosqlite's: give a SQLite database (--database-url), not {url!r}"
        )
    loads = [w for w in workloads(world, args.resellers.split(",")) if args.only in w.name]
    if not loads:
        raise SystemExit("no workload matches --resellers and --only")
    counted = asyncio.run(statements_and_plans(url, loads))

    env = serve_env(url)
    for port in (TWOTIER_PORT, BARE_PORT):
        if port_taken(port):
            raise SystemExit(f"port {port} is taken: is an earlier run still serving?")
    twotier = start(
        "twotier",
        [str(Path(sys.executable).parent / "twotier"), "serve", "--port", str(TWOTIER_PORT)],
        env,
        TWOTIER_PORT,
        loads[0],
    )
    bare_app = [sys.executable, "-m", "uvicorn", "bench.bare_sqlite_app:app"]
    try:
        bare = start(
            "bare",
            [*bare_app, "--port", str(BARE_PORT)],
            {"BARE_DATABASE_URL": url, "BARE_POOL_SIZE": str(args.pool_size)},
            BARE_PORT,
            loads[0],
        )
    except BaseException:
        twotier.stop()
        raise
    # The world's shape, not its tokens.
    shape = {"customers", "resellers", "providers", "timings"}
    results: dict[str, Any] = {"world": {k: v for k, v in asdict(world).items() if k in shape}}
    results["database"] = "sqlite"
    results["machine"] = machine()
    rows = []
    ctx = multiprocessing.get_context("spawn")
    try:
        sameness = same_answers(twotier, bare, loads)
        exact = [name for name, how in sameness.items() if how == "bytes"]
        print(
            f"Same answers from both apps: {len(exact)} of {len(sameness)} workloads byte "
            "for byte, " + ("all" if len(exact) == len(sameness) else "the rest") + " as JSON."
        )
        results["same_answers"] = sameness
        with ctx.Pool(1) as pool:
            for load in loads:
                if args.warmup > 0:
                    for server in (twotier, bare):
                        measure(pool, server, load, args.connections, args.warmup)
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
        results["rss_mib"] = {
            "twotier": round(rss_mib(twotier.process.pid), 1),
            "bare": round(rss_mib(bare.process.pid), 1),
        }
    finally:
        twotier.stop()
        bare.stop()
    print(f"\nRSS after the runs: twotier {results['rss_mib']['twotier']} MiB, "
          f"bare {results['rss_mib']['bare']} MiB")  # fmt: skip
    if args.plans:
        for name, data in counted.items():
            for plan in data["plans"]:
                print(f"\n-- plan: {name}\n{plan}")
    results["workloads"] = [
        {
            "name": name,
            "twotier": asdict(tt),
            "bare": asdict(ba),
            "statements": st,
            "cpu_ratio": round(tt.cpu_ms / ba.cpu_ms, 2) if ba.cpu_ms else None,
        }
        for name, tt, ba, st in rows
    ]
    results["plans"] = {name: data["plans"] for name, data in counted.items()}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
