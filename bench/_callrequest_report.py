"""The text report of :mod:`bench.callrequest`: tables, ratios and the targets."""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any

from bench._callrequest_inprocess import spread

#: The targets of the performance issue, checked on the medians.
FLOOR_RATIO_MAX = 1.5
CLOUD_SPEEDUP_MIN, CLOUD_SPEEDUP_FROM_K = 8.0, 100
HTTP_RPS_RATIO_MIN = 2.5
P99_OVER_P50_MAX = 3.0
COLD_RATIO_MAX = 1 / 3


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread(s: dict[str, float]) -> str:
    return f"{_num(s['median'])} ({_num(s['min'])}-{_num(s['max'])})"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Columns sized to fit; the first ``left`` columns left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def _inprocess(results: list[dict[str, Any]], targets: list[str]) -> list[str]:
    by = {(r["sdk"], r["mode"], r["size"], r["k"]): r for r in results}
    keys = sorted(
        {(r["mode"], r["size"], r["k"]) for r in results},
        key=lambda t: (t[0] != "dev", t[1] != "200B", t[2]),
    )
    has_official = any(r["sdk"] == "official" for r in results)
    has_bare = any(r["sdk"] == "bare" for r in results)
    rows, floor_misses, speed_misses = [], [], []
    for mode, size, k in keys:
        ours = by[("ours", mode, size, k)]
        floor = by[("floor", mode, size, k)]
        mine = ours["us_per_call"]["median"]
        to_floor = mine / floor["us_per_call"]["median"]
        row = [
            mode,
            size,
            str(k),
            f"{ours['body_bytes']:,}",
            _spread(ours["us_per_call"]),
        ]
        if to_floor > FLOOR_RATIO_MAX:
            floor_misses.append(f"{mode} {size} K={k}: {to_floor:.2f}")
        rss = [f"{ours['peak_rss_mib']:.0f}"]
        if has_official:
            official = by[("official", mode, size, k)]
            theirs = official["us_per_call"]["median"]
            row += [_spread(official["us_per_call"])]
            rss.append(f"{official['peak_rss_mib']:.0f}")
            if (
                mode == "cloud"
                and k >= CLOUD_SPEEDUP_FROM_K
                and theirs / mine < CLOUD_SPEEDUP_MIN
            ):
                speed_misses.append(f"{size} K={k}: {theirs / mine:.1f}x")
        row += [_spread(floor["us_per_call"])]
        rss.append(f"{floor['peak_rss_mib']:.0f}")
        if has_official:
            row.append(f"{mine / theirs:.3f}")
        row.append(f"{to_floor:.2f}")
        if has_bare:
            bare = by[("bare", mode, size, k)]["us_per_call"]["median"]
            row.append(f"{bare / floor['us_per_call']['median']:.2f}")
        row.append("/".join(rss))
        rows.append(row)
    header = [
        "mode",
        "size",
        "K",
        "body B",
        "ours us",
        *(["official us"] if has_official else []),
        "floor us",
        *(["ours/off"] if has_official else []),
        "ours/floor",
        *(["bare/floor"] if has_bare else []),
        "RSS MiB o/" + ("off/" if has_official else "") + "fl",
    ]
    targets.append(
        _verdict(
            f"in process, ours/floor <= {FLOOR_RATIO_MAX} at every K, both modes",
            floor_misses,
        )
    )
    if has_official:
        targets.append(
            _verdict(
                f"in process, cloud, K>={CLOUD_SPEEDUP_FROM_K}: official/ours >= "
                f"{CLOUD_SPEEDUP_MIN:g}x",
                speed_misses,
            )
        )
    lines = [
        "In process, per call request: median (min-max) us over the runs",
        *_table(header, rows, left=2),
    ]
    if has_bare:
        lines.append(
            "bare: the floor's work plus the function itself, each step a "
            "counter, a SHA-1 and a lookup, no checks (what no SDK can go under)"
        )
    return lines


#: How the HTTP table names each server.
SERVER_LABELS = {
    "ours": "ours, FastAPI",
    "ours-asgi": "ours, plain ASGI",
    "official": "official, FastAPI",
}


def _http(results: list[dict[str, Any]], targets: list[str]) -> list[str]:
    rows = []
    rps = {}
    tail_misses = []
    for r in results:
        p50, p99 = median(r["p50_ms"]), median(r["p99_ms"])
        rate = spread(r["rps"])
        rps[(r["sdk"], r["mode"], r["concurrency"])] = rate["median"]
        label = SERVER_LABELS.get(r["sdk"], r["sdk"])
        rows.append(
            [
                r["mode"],
                str(r["concurrency"]),
                label,
                _spread(rate),
                _num(p50),
                _num(p99),
                f"{p99 / p50:.1f}",
                f"{r['server_peak_rss_mib']}",
            ]
        )
        if (
            r["sdk"] != "official"
            and r["concurrency"] == 1
            and p99 / p50 > P99_OVER_P50_MAX
        ):
            tail_misses.append(f"{label}, {r['mode']}: {p99 / p50:.1f}")
    stack = results[0].get("stack", "uvicorn")
    lines = [
        f"Over HTTP ({stack}, 127.0.0.1), K=1 200B, "
        f"{results[0]['requests']} requests per run, the servers taking turns: "
        "median (min-max)",
        *_table(
            [
                "mode",
                "conc",
                "server",
                "requests/s",
                "p50 ms",
                "p99 ms",
                "p99/p50",
                "server RSS MiB",
            ],
            rows,
            left=3,
        ),
    ]
    ratios = []
    for (sdk, mode, conc), value in sorted(rps.items()):
        if sdk == "official" or ("official", mode, conc) not in rps:
            continue
        ratio = value / rps[("official", mode, conc)]
        label = SERVER_LABELS.get(sdk, sdk)
        ratios.append(f"{label}, {mode} c{conc}: {ratio:.2f}")
        if mode == "dev" and conc == 16:
            targets.append(
                _verdict(
                    f"HTTP, c16, K=1, dev: {label} / official, FastAPI "
                    f"requests/s >= {HTTP_RPS_RATIO_MIN}",
                    [] if ratio >= HTTP_RPS_RATIO_MIN else [f"{ratio:.2f}"],
                )
            )
    if ratios:
        lines.append("requests/s over the official SDK's: " + "; ".join(ratios))
    targets.append(
        _verdict(f"HTTP, c1: ours p99 <= {P99_OVER_P50_MAX:g}x p50", tail_misses)
    )
    return lines


def _cold(results: list[dict[str, Any]], targets: list[str]) -> list[str]:
    rows, modules = [], []
    by = {(r["sdk"], r["variant"]): r for r in results}
    for r in results:
        rows.append(
            [
                r["variant"],
                r["sdk"],
                _spread(r["ms"]),
                _spread(r["process_ms"]),
                f"{r['peak_rss_mib']:.0f}",
                str(r["modules_new"]),
            ]
        )
        modules.append(f"  {r['sdk']} ({r['variant']}): {', '.join(r['third_party'])}")
    lines = [
        "Cold start, fresh process each: import + build + first call request; "
        "median (min-max) ms",
        *_table(
            [
                "variant",
                "sdk",
                "in-process ms",
                "whole process ms",
                "peak RSS MiB",
                "modules",
            ],
            rows,
            left=2,
        ),
        "Third-party top-level modules imported:",
        *modules,
    ]
    for variant in ("handler", "fastapi"):
        if ("ours", variant) in by and ("official", variant) in by:
            ratio = (
                by[("ours", variant)]["ms"]["median"]
                / by[("official", variant)]["ms"]["median"]
            )
            lines.append(f"cold start ({variant}), ours/official: {ratio:.2f}")
            targets.append(
                _verdict(
                    f"cold start ({variant}): ours/official <= 1/3",
                    [] if ratio <= COLD_RATIO_MAX else [f"{ratio:.2f}"],
                )
            )
    return lines


def _verdict(target: str, misses: list[str]) -> str:
    return f"  [{'met ' if not misses else 'MISS'}] {target}" + (
        f" -- missed: {'; '.join(misses)}" if misses else ""
    )


def render(summary: dict[str, Any]) -> str:
    """The report as text: one table per part, then the issue's targets."""
    lines: list[str] = []
    targets: list[str] = []
    parts: list[tuple[str, Callable[[list[dict[str, Any]], list[str]], list[str]]]] = [
        ("inprocess", _inprocess),
        ("http", _http),
        ("cold", _cold),
    ]
    for key, part in parts:
        if summary.get(key):
            lines += [*part(summary[key], targets), ""]
    machine = summary["machine"]
    lines += [
        "Targets (on the medians):",
        *targets,
        "",
        *summary["notes"],
        f"Python {machine['python']}, {machine['cpus']} CPUs, "
        f"{machine['platform']}; every answer checked before timing",
    ]
    return "\n".join(lines)
