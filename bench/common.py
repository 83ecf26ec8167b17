"""Shared helpers of the benchmark scripts: paths, machine facts, robust statistics and result files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
WORK = Path(os.environ.get("NNLANDMARK_BENCH_WORK", BENCH / ".work"))


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages (what else runs on this machine while we measure)."""
    return os.getloadavg()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Where and when a figure was measured: date, CPU, cores, load, GPU, library versions."""
    import numpy
    import torch

    info: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host_cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": [round(x, 2) for x in load_average()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    try:
        from importlib.metadata import version

        import nnunetv2  # noqa: F401 - the version is what we want

        info["nnunetv2"] = version("nnunetv2")
    except Exception:  # noqa: BLE001 - a benchmark may run without nnU-Net installed
        info["nnunetv2"] = None
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                            text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["git_commit"] = None
    return info


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median (the figure we report), min, max and the number of repetitions."""
    values = [float(v) for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def rotate(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` rotated by ``shift``: interleaved repetitions start with a different contender each round."""
    shift %= max(1, len(items))
    return list(items[shift:]) + list(items[:shift])


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` atomically, with the machine facts added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"machine": machine_info(), **payload}, indent=2) + "\n")
    tmp.replace(path)
    return path


def say(text: str) -> None:
    """Benchmarks report to the console as they go (these are scripts, not library code)."""
    print(text, flush=True)


def run_python(args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float | None = None,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` with this interpreter, capturing output; raise with its stderr on failure."""
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout,
                            cwd=REPO, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed with exit code {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time in seconds of one call and its return value."""
    import time

    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def memory_kib() -> dict[str, int]:
    """This process's resident memory now (``VmRSS``) and at its peak (``VmHWM``), in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            key, value = line.split(":")
            fields[key] = int(value.split()[0])
    return fields


def reset_peak_memory() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
