"""Draws the RSS curve of bench/soak.ts (<date>-soak.json) into a PNG. Headless (Agg)."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    with open(src, encoding="utf-8") as f:
        report = json.load(f)
    xs = [s["s"] / 60 for s in report["samples"]]
    ys = [s["rssMiB"] for s in report["samples"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(xs[:-1], ys[:-1], marker=".", label="clarus-enc2 RSS under the mixed workload")
    ax.plot(xs[-1:], ys[-1:], marker="o", linestyle="", label="with 200 idle connections afterwards")
    ax.axhline(150, color="grey", linestyle="--", label="goal 150 MiB")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS MiB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")
    ax.set_title(f"Soak {report['minutes']} min, {report['rate']} tps per stream")
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
