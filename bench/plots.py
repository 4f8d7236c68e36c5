"""The report's plots (matplotlib, the ``bench`` extra), each written as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

DPI = 110


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def ratio_to_go(rows: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bars per operation: Go time / Python time on wall-time minimum and on CPU time
    (log scale; right of 1: the agent is faster)."""
    rows = [r for r in rows if r.get("ratio")]
    series = [("wall-time minimum", "ratio", "#4c72b0"), ("CPU time", "ratio_cpu", "#dd8452")]
    fig, ax = plt.subplots(figsize=(9.5, 0.62 * len(rows) + 1.8))
    h = 0.38
    values = []
    for k, (label, key, color) in enumerate(series):
        ys = [i + (k - 0.5) * h for i in range(len(rows))]
        xs = [r.get(key) or 0 for r in rows]
        values += [x for x in xs if x]
        ax.barh(ys, xs, height=h, color=color, label=label)
        for y, x in zip(ys, xs, strict=True):
            if x:
                ax.text(x * 1.04, y, f"{x:.2f}×", va="center", ha="left", fontsize=7.5)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}×"))
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlim(min([*values, 0.5]) / 2, max([*values, 2.0]) * 3)
    ax.set_xlabel("Go time / Python time (> 1: the agent is faster; < 1: Go is faster)")
    ax.set_title("msp-agent against the Go baseline, per operation (same run, same input)")
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def ed25519_per_signature(rows: list[dict[str, Any]], path: Path) -> Path:
    """Per-signature CPU µs against batch size: native batch, PyNaCl one by one, Go."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for keys, style in (("distinct keys", "-"), ("shared key", "--")):
        sel = sorted((r for r in rows if r["keys"] == keys), key=lambda r: r["n"])
        if not sel:
            continue
        n = [r["n"] for r in sel]
        ax.plot(n, [r["batch_us"] for r in sel], style, marker="o", color="#1f77b4",
                label=f"agent batch verifier ({keys})")
        ax.plot(n, [r["pynacl_us"] for r in sel], style, marker="s", color="#ff7f0e",
                label=f"PyNaCl one by one ({keys})")
        ax.plot(n, [r["go_us"] for r in sel], style, color="#2ca02c",
                label=f"Go crypto/ed25519 one by one ({keys})")
    ax.set_xscale("log", base=2)
    sizes = sorted({r["n"] for r in rows})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("signatures per batch")
    ax.set_ylabel("CPU µs per signature (user + system)")
    ax.set_title("Ed25519 verification: cost per signature against batch size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def daemon_over_time(series: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """RSS and CPU use over time, one line per series (scenario and process)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8.5, 6), sharex=True)
    for label, samples in series.items():
        t = [s["t"] - samples[0]["t"] for s in samples]
        line = ax1.plot(t, [s["rss_kib"] / 1024 for s in samples], label=f"{label}: RSS")[0]
        if all("rss_anon_kib" in s for s in samples):
            ax1.plot(t, [s["rss_anon_kib"] / 1024 for s in samples], linestyle=":",
                     color=line.get_color(), label=f"{label}: anonymous RSS")
        ax2.plot(t, [s["cpu_s"] for s in samples], color=line.get_color(), label=label)
    ax1.set_ylabel("resident memory, MiB")
    ax1.set_ylim(bottom=0)
    ax1.legend(fontsize=7.5, loc="lower right")
    ax1.grid(alpha=0.3)
    ax1.set_title("The daemon over time: resident memory and CPU time")
    ax2.set_ylabel("CPU s (user + system), cumulative")
    ax2.set_xlabel("seconds since start")
    ax2.set_ylim(bottom=0)
    ax2.legend(fontsize=7.5, loc="upper left")
    ax2.grid(alpha=0.3)
    return _save(fig, path)


def scan_concurrency(rows: list[dict[str, Any]], path: Path) -> Path:
    """Scan wall time (and the agent's CPU time) against scan concurrency."""
    rows = sorted(rows, key=lambda r: r["concurrency"])
    c = [r["concurrency"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.4))
    ax.plot(c, [r["wall_s"] for r in rows], marker="o", label="wall s (whole round)")
    ax.plot(c, [r["cpu_s"] for r in rows], marker="s", label="agent CPU s (user + system)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(c, [str(x) for x in c])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("hosts scanned at once (1 = the Go daemon's way)")
    ax.set_ylabel("seconds")
    hosts = rows[0]["hosts"] if rows else 0
    ax.set_title(f"Scanning a simulated site ({hosts} hosts): time against concurrency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
