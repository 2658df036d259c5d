"""Draws bench/results/<date>.png from <date>.json: median throughput (top) and p99 latency
(bottom) per scenario, grouped by client count, one bar per target. Headless (Agg)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"direct": "#4c72b0", "pgbouncer": "#dd8452", "clarus": "#55a868", "clarus-enc2": "#c44e52", "clarus-enc5": "#8172b3"}


def main(src: str, dst: str) -> None:
    with open(src, encoding="utf-8") as f:
        report = json.load(f)
    rows = report["summary"]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    targets = [t for t in report["settings"]["targets"] if any(r["target"] == t for r in rows)]
    if not scenarios:
        raise SystemExit("no results to draw")
    fig, axes = plt.subplots(2, len(scenarios), figsize=(4.2 * len(scenarios), 7), squeeze=False)
    for col, sc in enumerate(scenarios):
        clients = sorted({r["clients"] for r in rows if r["scenario"] == sc})
        # Only the targets this scenario ran on get a bar slot.
        mine = [t for t in targets if any(r["target"] == t and r["scenario"] == sc for r in rows)]
        width = 0.8 / max(1, len(mine))
        # A COPY scenario (one-shot runs) shows rows/s and the seconds one COPY took.
        one_shot = all(r.get("secondsMedian") is not None for r in rows if r["scenario"] == sc)
        panels = [("tpsMedian", "rows/s (median)"), ("secondsMedian", "seconds per COPY (median)")] if one_shot \
            else [("tpsMedian", "transactions/s (median)"), ("p99MedianMs", "p99 latency ms (median)")]
        for row, (key, label) in enumerate(panels):
            ax = axes[row][col]
            for i, t in enumerate(mine):
                found = [next((r for r in rows if r["scenario"] == sc and r["target"] == t and r["clients"] == c), None) for c in clients]
                xs = [x + (i - (len(mine) - 1) / 2) * width for x in range(len(clients))]
                ax.bar(xs, [(r and r[key]) or 0 for r in found], width, label=t, color=COLORS.get(t))
                # Encrypting proxies: throughput as a multiple of the pass-through proxy's.
                for x, r in zip(xs, found):
                    if row == 0 and r and r.get("ratioToProxy") is not None:
                        ax.annotate(f"{r['ratioToProxy']:.2f}x", (x, r[key]), ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(clients)), [f"{c} clients" for c in clients])
            ax.set_ylabel(label)
            if row == 0:
                ax.set_title(sc)
            ax.grid(axis="y", alpha=0.3)
    legend = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(lab, h)
    fig.legend(list(legend.values()), list(legend.keys()), loc="lower center", ncol=len(legend))
    title = f"Clarus benchmark {report['date']}" + (" (quick)" if report.get("quick") else "")
    if any(r.get("ratioToProxy") is not None for r in rows):
        title += "\nbar labels: throughput relative to the pass-through proxy (clarus)"
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
