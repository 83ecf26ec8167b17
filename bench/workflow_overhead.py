"""Workflow overhead: ``snakemake -n`` (DAG building) on the paper config; optionally a fresh-clone demo run.

The dry run uses an empty working directory (``--directory``), so the whole DAG is planned as on a fresh
checkout. ``--with-demo`` clones the repository's committed HEAD into a scratch folder and times
``snakemake --cores all --resources gpu=1`` on the demo config there (about 9 minutes on 2 cores; off by
default so that bench/run_all.py stays under 15 minutes).

Usage: python bench/workflow_overhead.py [--reps N] [--with-demo]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO, WORK, say, summary, write_result

LEAD_DEMO_SECONDS = 9 * 60  # the lead's fresh-clone demo run on 2 cores, 2026-11-28
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def dry_run(configfile: Path | None, reps: int) -> dict[str, Any]:
    """Median wall time of ``snakemake -n`` planning the whole DAG from an empty working directory."""
    args = [str(SNAKEMAKE), "-n", "--cores", "1", "--quiet", "rules"]
    if configfile is not None:
        args += ["--configfile", str(configfile)]
    times, cpu, jobs, error = [], [], None, None
    for _ in range(reps):
        with tempfile.TemporaryDirectory(prefix="smk-dry-") as workdir:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            result = subprocess.run([*args, "--directory", workdir], cwd=REPO, capture_output=True, text=True,
                                    check=False)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if result.returncode != 0:
            error = (result.stderr or result.stdout)[-2000:]
            break
        total = re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.MULTILINE)
        jobs = int(total.group(1)) if total else None
    return {"seconds": summary(times), "cpu_seconds": summary(cpu), "jobs": jobs, "error": error}


def slurm_probe_seconds() -> float | None:
    """Wall time of ``scontrol show config``, which snakemake-executor-plugin-slurm runs whenever snakemake
    starts (it waits for the controller: seconds when slurmctld is down); None without SLURM's client."""
    if shutil.which("scontrol") is None:
        return None
    start = time.perf_counter()
    try:
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        pass
    return time.perf_counter() - start


def fresh_clone_demo() -> dict[str, Any]:
    """Clone HEAD and run the demo workflow there with this environment; the clone's own src/ is imported."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    clone = WORK / "fresh-clone"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {**os.environ, "PYTHONPATH": str(clone / "src"),
           "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    say(f"fresh-clone demo: snakemake --cores all --resources gpu=1 in {clone} (commit {head[:10]}) ...")
    start = time.perf_counter()
    result = subprocess.run([str(SNAKEMAKE), "--cores", "all", "--resources", "gpu=1"], cwd=clone, env=env,
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "commit": head, "returncode": result.returncode,
            "ratio_vs_lead_measurement": seconds / LEAD_DEMO_SECONDS,
            "log_tail": (result.stderr or result.stdout)[-1500:] if result.returncode else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--with-demo", action="store_true", help="also time the demo from a fresh clone (~9 min)")
    args = parser.parse_args()
    paper = REPO / "config" / "paper.yaml"
    payload: dict[str, Any] = {"benchmark": "snakemake -n from an empty working directory (the whole DAG)"}
    probe = slurm_probe_seconds()
    payload["slurm_probe_seconds"] = probe
    payload["note"] = ("wall minus CPU time is mostly snakemake-executor-plugin-slurm's 'scontrol show config' at "
                       "start-up, which waits for the SLURM controller when it is down")
    default = dry_run(None, args.reps)
    payload["dry_run_default_config"] = default
    say("scontrol show config (run by the SLURM executor plugin at snakemake start-up): "
        + ("no SLURM client" if probe is None else f"{probe:.1f} s"))
    say(f"snakemake -n, default config: {default['seconds']['median']:.2f} s median "
        f"({default['cpu_seconds']['median']:.2f} s CPU), {default['jobs']} jobs"
        + (f" (FAILED: {default['error'].strip().splitlines()[-1]})" if default["error"] else ""))
    if paper.is_file():
        result = dry_run(paper, args.reps)
        payload["dry_run_paper_config"] = result
        say(f"snakemake -n, config/paper.yaml: {result['seconds']['median']:.2f} s median "
            f"({result['cpu_seconds']['median']:.2f} s CPU), {result['jobs']} jobs"
            + (f" (FAILED: {result['error'].strip().splitlines()[-1]})" if result["error"] else ""))
    else:
        payload["dry_run_paper_config"] = None
        payload["todo"] = "config/paper.yaml did not exist when this ran: rerun bench/workflow_overhead.py"
        say("config/paper.yaml does not exist yet: only the default config was dry-run (TODO recorded)")
    payload["fresh_clone_demo"] = {"lead_measurement_seconds": LEAD_DEMO_SECONDS,
                                   "lead_measurement": "2026-11-28, 2 cores, snakemake --cores all --resources gpu=1"}
    if args.with_demo:
        demo = fresh_clone_demo()
        payload["fresh_clone_demo"].update(demo)
        say(f"fresh-clone demo: {demo['seconds'] / 60:.1f} min (exit {demo['returncode']}; "
            f"{demo['ratio_vs_lead_measurement']:.2f} x the lead's 9 min 0 s)")
    else:
        payload["fresh_clone_demo"]["measured_here"] = None
        say(f"fresh-clone demo: not re-measured (pass --with-demo); lead's figure {LEAD_DEMO_SECONDS / 60:.0f} min")
    path = write_result("workflow_overhead", payload)
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
