"""Draws the plots of BENCHMARKS.md from the bench's JSON lines (run by bench/plot.sh).

- latency over offered load: every open-loop run of a results file (`bench/run.sh` sweeps
  CreateTicket and GetTicket from a quarter of their peak to past it), p50 and p99 against
  the calls offered per second;
- the scale curves: calls per second and p99 of the read workloads against the tickets
  stored (`bench/scale.sh`).
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["svg.hashsalt"] = "casework"  # the same input draws the same file
plt.rcParams["svg.fonttype"] = "none"


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def latency_over_load(results, store, out):
    runs = [r for r in results if r.get("sweep")]
    workloads = sorted({r["workload"] for r in runs})
    if not workloads:
        return False
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.5 * len(workloads), 4), squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        points = sorted((r for r in runs if r["workload"] == workload), key=lambda r: r["rate"])
        rates = [r["rate"] for r in points]
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
            ax.plot(rates, [r[key] for r in points], marker="o", label=label)
        peak = next(
            (r["per_second"] for r in results if r.get("workload") == workload and r.get("mode") == "closed"),
            None,
        )
        if peak:
            ax.axvline(peak, color="grey", linestyle=":", label=f"closed-loop peak {peak:,.0f}/s")
        ax.set_yscale("log")
        ax.set_xlabel("calls offered per second (open loop)")
        ax.set_ylabel("latency, ms (from the scheduled start)")
        ax.set_title(f"{workload}, {store}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True


def scale_curves(results, store, out):
    reads = [r for r in results if r.get("mode") == "closed" and "tickets_stored" in r]
    workloads = sorted({r["workload"] for r in reads if r["workload"] != "fanout-1000"})
    if not workloads:
        return False
    fig, (rate_ax, p99_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for workload in workloads:
        points = sorted((r for r in reads if r["workload"] == workload), key=lambda r: r["tickets_stored"])
        stored = [r["tickets_stored"] for r in points]
        rate_ax.plot(stored, [r["per_second"] for r in points], marker="o", label=workload)
        p99_ax.plot(stored, [r["p99_ms"] for r in points], marker="o", label=workload)
    for ax, label in ((rate_ax, "calls per second (64 in flight)"), (p99_ax, "p99 latency, ms")):
        ax.set_xscale("log")
        ax.set_xlabel("tickets stored")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"Reads as the ticket table grows, {store}")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return True


def main():
    results_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    for store in ("sqlite", "postgres"):
        path = results_dir / f"{store}.jsonl"
        if path.exists() and latency_over_load(lines(path), store, out_dir / f"latency-{store}.svg"):
            print(out_dir / f"latency-{store}.svg")
        path = results_dir / f"scale-{store}.jsonl"
        if path.exists() and scale_curves(lines(path), store, out_dir / f"scale-{store}.svg"):
            print(out_dir / f"scale-{store}.svg")


if __name__ == "__main__":
    main()
