"""BENCHMARKS.md's tables from bench/hot_reads.py --json files.

    .venv/bin/python bench/report.py var/r10k.json var/r1m.json

One table per file (twotier beside the bare app, and the ratios the targets are written
in), then, for two or more files, each workload's p99 and CPU per request at the largest
world divided by the smallest's (the scale target: ≤ 1.2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def table(result: dict[str, Any]) -> str:
    world = result["world"]
    lines = [
        f"#### {world['customers']:,} customers, {world['resellers']:,} resellers, "
        f"{world['providers']:,} providers",
        "",
        "| workload | req/s twotier · bare · ratio | p50 ms twotier · bare | "
        "p99 ms twotier · bare | CPU ms/req twotier · bare · ratio | statements |",
        "|---|---|---|---|---|---|",
    ]
    for w in result["workloads"]:
        t, b = w["twotier"], w["bare"]
        lines.append(
            f"| {w['name']} | {t['rps']:.0f} · {b['rps']:.0f} · **{t['rps'] / b['rps']:.2f}** "
            f"| {t['p50_ms']:.1f} · {b['p50_ms']:.1f} | {t['p99_ms']:.1f} · {b['p99_ms']:.1f} "
            f"| {t['cpu_ms']:.3f} · {b['cpu_ms']:.3f} · **{t['cpu_ms'] / b['cpu_ms']:.2f}** "
            f"| {w['statements']} |"
        )
    rss = result.get("rss_mib", {})
    lines += [
        "",
        f"RSS after the runs: twotier {rss.get('twotier')} MiB, bare {rss.get('bare')} MiB.",
    ]
    return "\n".join(lines)


def _key(name: str) -> str:
    """A workload's name without the customer count, which differs between worlds."""
    return name.split(" (")[0]


def scale(small: dict[str, Any], large: dict[str, Any]) -> str:
    before = {_key(w["name"]): w for w in small["workloads"]}
    lines = [
        f"#### {large['world']['customers']:,} customers ÷ {small['world']['customers']:,}",
        "",
        "| workload | p99 ratio | CPU ms/req ratio |",
        "|---|---|---|",
    ]
    for w in large["workloads"]:
        b = before.get(_key(w["name"]))
        if b is None:
            continue
        lines.append(_ratio_row(_key(w["name"]), w, b))
    return "\n".join(lines)


def _ratio_row(name: str, workload: dict[str, Any], base: dict[str, Any]) -> str:
    """A table row: twotier's p99 and CPU per request in ``workload`` ÷ those in ``base``."""
    p99 = workload["twotier"]["p99_ms"] / base["twotier"]["p99_ms"]
    cpu = workload["twotier"]["cpu_ms"] / base["twotier"]["cpu_ms"]
    return f"| {name} | {p99:.2f} | {cpu:.2f} |"


def big_and_small(result: dict[str, Any]) -> str:
    """The reseller with many customers ÷ the one with few (the target: ≤ 1.2)."""
    by = {w["name"]: w for w in result["workloads"]}
    lines = [
        f"#### big reseller ÷ small reseller, {result['world']['customers']:,} customers",
        "",
        "| workload | p99 ratio | CPU ms/req ratio |",
        "|---|---|---|",
    ]
    for name, w in by.items():
        if "big reseller" not in name:
            continue
        small = next(
            (v for k, v in by.items() if k.startswith(name.split(" · ")[0] + " · small")), None
        )
        if small is None:
            continue
        lines.append(_ratio_row(name.split(" · ")[0], w, small))
    return "\n".join(lines)


def main() -> None:
    results = [json.loads(Path(arg).read_text()) for arg in sys.argv[1:]]
    results.sort(key=lambda r: r["world"]["customers"])
    for result in results:
        print(table(result), end="\n\n")
    if len(results) > 1:
        print(scale(results[0], results[-1]), end="\n\n")
    print(big_and_small(results[-1]))


if __name__ == "__main__":
    main()
