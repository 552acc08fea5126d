#!/usr/bin/env python3
"""Draws the soak run of tests/bench/soak.sh and prints its table for docs/BENCHMARKS.md.

Usage: soak_plot.py OUT_DIR CONFIG...   (reads OUT_DIR/CONFIG-{samples,load}.jsonl,
writes OUT_DIR/soak.svg). Standard library only: the plot is plain SVG.
"""
import json
import sys
from pathlib import Path

MIB = 1024 * 1024
COLOURS = {"one": "#1f77b4", "two": "#d62728"}
DASHES = ["none", "6,3"]


def read(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def series(config, out):
    """Per config: named lines of (minute, value) for every panel."""
    samples = read(out / f"{config}-samples.jsonl")
    windows = [w for w in read(out / f"{config}-load.jsonl") if w.get("mode") == "soak"]
    lines = {"rss": {}, "fds": {}, "store": {}, "p99": {}}
    for s in samples:
        minute = s["t"] / 60
        for n in s["nodes"]:
            lines["rss"].setdefault(n["node"], []).append((minute, n["rss_kib"] / 1024))
            lines["fds"].setdefault(n["node"], []).append((minute, n["fds"]))
            if s["redis"] is None:
                db = (n["db_bytes"] + n["wal_bytes"]) / MIB
                lines["store"].setdefault(f"{n['node']} db+wal", []).append((minute, db))
        if s["redis"] is not None and s["redis"]["used_memory"] is not None:
            lines["store"].setdefault("redis used_memory", []).append(
                (minute, s["redis"]["used_memory"] / MIB)
            )
    for w in windows:
        # at_s: when the window ended, from the load generator's start (as the samples' t).
        lines["p99"].setdefault("op-to-peer", []).append((w["at_s"] / 60, w["p99_ms"]))
    return samples, windows, lines


def svg(configs, out):
    panels = [
        ("rss", "server RSS (MiB)"),
        ("fds", "open file descriptors"),
        ("store", "store size (MiB)"),
        ("p99", "op-to-peer p99 per minute (ms)"),
    ]
    width, ph, left, top, gap = 760, 170, 70, 30, 50
    height = top + len(panels) * (ph + gap)
    data = {c: series(c, out)[2] for c in configs}
    rooms = {
        w["rooms"]
        for c in configs
        for w in series(c, out)[1]
    } or {"?"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13">Plenary soak: {"/".join(map(str, rooms))} '
        f"rooms x 5 attendees at 2 ops/s; blue one node (SQLite), red two nodes + Redis</text>",
    ]
    xmax = max(
        [x for c in configs for p in data[c].values() for pts in p.values() for x, _ in pts]
        or [1]
    )
    for k, (key, title) in enumerate(panels):
        y0 = top + k * (ph + gap) + 20
        plot_w = width - left - 20
        ymax = max(
            [v for c in configs for pts in data[c][key].values() for _, v in pts] or [1]
        )
        ymax = ymax * 1.15 or 1
        parts.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{title}</text>')
        parts.append(
            f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{ph}" fill="none" '
            f'stroke="#999"/>'
        )
        for i in range(5):
            v = ymax * i / 4
            y = y0 + ph - ph * i / 4
            parts.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="#eee"/><text x="{left - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{v:.3g}</text>'
            )
        for i in range(7):
            m = xmax * i / 6
            x = left + plot_w * i / 6
            parts.append(
                f'<text x="{x:.1f}" y="{y0 + ph + 14}" text-anchor="middle">'
                f"{m:.0f} min</text>"
            )
        legend_y = y0 + 12
        for c in configs:
            for j, (name, pts) in enumerate(sorted(data[c][key].items())):
                if not pts:
                    continue
                path = " ".join(
                    f"{left + plot_w * x / xmax:.1f},{y0 + ph - ph * v / ymax:.1f}"
                    for x, v in pts
                )
                dash = DASHES[j % len(DASHES)]
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{COLOURS.get(c, "#333")}" '
                    f'stroke-width="1.5" stroke-dasharray="{dash}"/>'
                )
                parts.append(
                    f'<text x="{left + plot_w - 6}" y="{legend_y}" text-anchor="end" '
                    f'fill="{COLOURS.get(c, "#333")}">{c}: {name}</text>'
                )
                legend_y += 13
    parts.append("</svg>")
    (out / "soak.svg").write_text("\n".join(parts) + "\n")


def table(config, out):
    samples, windows, _ = series(config, out)
    if not samples:
        print(f"(no samples for {config})")
        return
    print(f"\n### {config}\n")
    redis = samples[0]["redis"] is not None
    head = "| minute | RSS MiB | fds | threads | "
    head += "Redis MiB | Redis keys | AOF MiB |" if redis else "db MiB | WAL MiB |"
    head += " p99 ms (that minute) | lost / dup / errors (cumulative) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    last = len(samples) - 1
    shown = [i for i, s in enumerate(samples) if round(s["t"] / 60) % 10 == 0 or i in (1, 5, last)]
    for i in sorted(set(shown)):
        s = samples[i]
        minute = round(s["t"] / 60)
        nodes = s["nodes"]
        rss = " / ".join(f"{n['rss_kib'] / 1024:.0f}" for n in nodes)
        fds = " / ".join(str(n["fds"]) for n in nodes)
        threads = " / ".join(str(n["threads"]) for n in nodes)
        if redis:
            r = s["redis"]
            used = "-" if r["used_memory"] is None else f"{r['used_memory'] / MIB:.1f}"
            store = f"{used} | {r['keys']} | {r['aof_bytes'] / MIB:.1f} |"
        else:
            store = " / ".join(f"{n['db_bytes'] / MIB:.1f}" for n in nodes) + " | "
            store += " / ".join(f"{n['wal_bytes'] / MIB:.1f}" for n in nodes) + " |"
        done = [w for w in windows if w["at_s"] <= s["t"] + 30]
        p99 = f"{done[-1]['p99_ms']:.2f}" if done else "-"
        lost = sum(w["lost"] for w in done)
        dup = sum(w["duplicates"] for w in done)
        err = sum(w["errors"] for w in done)
        print(f"| {minute} | {rss} | {fds} | {threads} | {store} {p99} | {lost} / {dup} / {err} |")
    if windows:
        p99s = sorted(w["p99_ms"] for w in windows)
        sent = sum(w["sent"] for w in windows)
        delivered = sum(w["delivered"] for w in windows)
        print(
            f"\n{len(windows)} windows: {sent:,} ops sent, {delivered:,} deliveries, "
            f"{sum(w['lost'] for w in windows)} lost, "
            f"{sum(w['duplicates'] for w in windows)} duplicates, "
            f"{sum(w['errors'] for w in windows)} errors; "
            f"per-minute p99 median {p99s[len(p99s) // 2]:.2f} ms, "
            f"max {p99s[-1]:.2f} ms"
        )
    total = [w for w in read(out / f"{config}-load.jsonl") if w.get("mode") == "soak-total"]
    if total:
        print(f"whole-run p99 {total[-1]['p99_ms']:.2f} ms")


def main():
    out = Path(sys.argv[1])
    configs = sys.argv[2:] or ["one", "two"]
    svg(configs, out)
    for c in configs:
        table(c, out)
    print(f"\nplot: {out / 'soak.svg'}")


if __name__ == "__main__":
    main()
