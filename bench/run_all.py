"""Run every benchmark (training throughput, decoding, target rendering, workflow overhead) and print the ratios.

Under 15 minutes on 2 CPU cores. Each benchmark runs in its own process and writes bench/results/<name>.json;
this script adds bench/results/summary.json with every ratio and whether its target is met.

Usage: python bench/run_all.py [--quick] [--with-demo] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from common import BENCH, REPO, RESULTS, load_average, say, write_result


def run_step(name: str, args: list[str]) -> float:
    say(f"\n=== {name}: python {' '.join(args)}")
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=REPO, check=True)
    return time.perf_counter() - start


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def collect(training_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every ratio with its target (None where the issue sets none), plus the figures the README quotes."""
    rows: list[dict[str, Any]] = []
    training = load(training_name)
    for key, value in training["ratios_iterations_per_second"].items():
        paired = value["paired_median"]
        rows.append({"figure": f"training it/s {key}", "value": paired, "target": ">= 0.9", "met": paired >= 0.9,
                     "detail": f"ratio of medians {value['ratio_of_medians']:.3f}"})
    decoding = load("decoding")
    for scenario, result in decoding["scenarios"].items():
        ratios, met = result["ratios"], result["targets_met"]
        rows.append({"figure": f"decoding {scenario}: speed-up vs upstream", "value": ratios["speedup"],
                     "target": ">= 3", "met": met["speedup_ge_3"]})
        rows.append({"figure": f"decoding {scenario}: peak memory / upstream", "value": ratios["peak_memory_fraction"],
                     "target": "<= 0.333", "met": met["memory_le_one_third"]})
        methods = result["methods"]
        rows.append({"figure": f"decoding {scenario}: mean error ours - upstream (mm)",
                     "value": ratios["error_ours_minus_upstream_mm"], "target": "<= 0",
                     "met": met["error_equal_or_better"],
                     "detail": f"{methods['ours']['mean_error_mm']:.3f} vs {methods['upstream']['mean_error_mm']:.3f} mm"})
    targets = load("target_rendering")
    for plan, result in targets["results"].items():
        for key, value in result["ratios"].items():
            rows.append({"figure": f"targets {plan} {key}", "value": value, "target": None, "met": None})
    workflow = load("workflow_overhead")
    for key in ("dry_run_default_config", "dry_run_paper_config"):
        if workflow.get(key):
            rows.append({"figure": f"snakemake -n seconds ({key.removeprefix('dry_run_')})",
                         "value": workflow[key]["seconds"]["median"], "target": None, "met": None})
    demo = workflow["fresh_clone_demo"]
    if demo.get("seconds"):
        rows.append({"figure": "fresh-clone demo minutes", "value": demo["seconds"] / 60, "target": None, "met": None})
    return rows, {"training": training, "decoding": decoding, "targets": targets, "workflow": workflow}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewest repetitions: a smoke test, not a measurement")
    parser.add_argument("--with-demo", action="store_true", help="also time the demo from a fresh clone (~9 min)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="device of the training and target benchmarks (decoding is CPU work, as in nnU-Net)")
    args = parser.parse_args()
    start_load = load_average()
    say(f"load average before: {start_load[0]:.2f} {start_load[1]:.2f} {start_load[2]:.2f} (1/5/15 min)")
    quick = ["--reps", "1"] if args.quick else []
    steps = {
        "prepare": [str(BENCH / "prepare_dataset.py")],
        "training": [str(BENCH / "training_throughput.py"), "--device", args.device,
                     *(["--reps", "1", "--warmup", "1"] if args.quick else [])],
        "decoding": [str(BENCH / "decoding.py"), *quick],
        "targets": [str(BENCH / "target_rendering.py"), "--device", args.device, *(["--reps", "2"] if args.quick else [])],
        "workflow": [str(BENCH / "workflow_overhead.py"), *(["--reps", "1"] if args.quick else []),
                     *(["--with-demo"] if args.with_demo else [])],
    }
    seconds = {name: run_step(name, step) for name, step in steps.items()}
    end_load = load_average()
    rows, _ = collect("training_throughput")
    say(f"\n=== summary (medians; load average before {start_load[0]:.2f}, after {end_load[0]:.2f})")
    for row in rows:
        verdict = "" if row["met"] is None else ("  target " + row["target"] + (" met" if row["met"] else " NOT met"))
        say(f"  {row['figure']:60s} {row['value']:9.3f}{verdict}" + (f"  ({row['detail']})" if row.get("detail") else ""))
    say(f"  total bench time {sum(seconds.values()) / 60:.1f} min: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    path = write_result("summary", {"quick": args.quick, "load_average_before": start_load,
                                    "load_average_after": end_load, "step_seconds": seconds, "ratios": rows})
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
