"""One GPU per job on a multi-GPU machine: each job locks one device's slot file and sees only that device.

Snakemake's ``--resources gpu=N`` counts GPU jobs but assigns no device ids, so without this every job
would start on device 0. A job calls :func:`claim_gpu` before CUDA is initialised; it takes an exclusive
``flock`` on ``<lock_dir>/<device>.lock`` for one visible device and sets ``CUDA_VISIBLE_DEVICES`` to it.
The lock lasts as long as the process: the kernel drops it when the process exits, also after SIGKILL,
so a killed job never leaves its GPU reserved.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_DIR_VARIABLE = "NNLANDMARK_GPU_LOCK_DIR"

# open slot files of this process: closing one would release its lock
_held: list[IO[str]] = []


def parse_visible_devices(value: str) -> list[str]:
    """The entries of a ``CUDA_VISIBLE_DEVICES`` value as CUDA reads them: up to the first invalid one."""
    devices = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry or entry.startswith("-") or entry == "NoDevFiles":
            break
        devices.append(entry)
    return devices


def nvidia_smi_gpus() -> list[str]:
    """UUIDs of the GPUs ``nvidia-smi`` lists (none without a driver); unlike indices, they ignore device order."""
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip().startswith("GPU-")]


def visible_gpus(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may use: those ``CUDA_VISIBLE_DEVICES`` names when set, else every GPU listed."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        return parse_visible_devices(environ["CUDA_VISIBLE_DEVICES"])
    return nvidia_smi_gpus()


def default_lock_dir(environ: MutableMapping[str, str] | None = None) -> Path:
    """Per user and machine; per SLURM job under SLURM, whose jobs may all see their own GPU as device 0."""
    environ = os.environ if environ is None else environ
    if environ.get(LOCK_DIR_VARIABLE):
        return Path(environ[LOCK_DIR_VARIABLE])
    lock_dir = Path(tempfile.gettempdir()) / f"nnlandmark-gpu-slots-{os.getuid()}"
    if environ.get("SLURM_JOB_ID"):
        lock_dir = lock_dir / f"slurm-{environ['SLURM_JOB_ID']}"
    return lock_dir


def claim_gpu(
    *,
    devices: Sequence[str] | None = None,
    lock_dir: Path | str | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> str | None:
    """Reserve one GPU for this process (and its children) and point ``CUDA_VISIBLE_DEVICES`` at it.

    Call before CUDA is initialised. ``devices`` defaults to :func:`visible_gpus`. When
    ``CUDA_VISIBLE_DEVICES`` already names exactly one device (a SLURM job, or the user's choice) that device
    is used as it is, without a lock. While every device is held by other jobs, waits for one to be freed.
    Returns the device, or None when no GPU is visible (the job then runs on the CPU).
    """
    environ = os.environ if environ is None else environ
    preset = "CUDA_VISIBLE_DEVICES" in environ
    devices = visible_gpus(environ) if devices is None else list(devices)
    if not devices:
        return None
    if preset and len(devices) == 1:
        log.info("using GPU %s (CUDA_VISIBLE_DEVICES set by the scheduler or the user)", devices[0])
        return devices[0]
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir(environ)
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    waiting = False
    while True:
        for device in devices:
            if _try_lock(lock_dir / f"{_file_name(device)}.lock"):
                environ["CUDA_VISIBLE_DEVICES"] = device
                log.info("using GPU %s of %s (slot locked in %s)", device, ",".join(devices), lock_dir)
                return device
        if timeout_seconds is not None and time.monotonic() - start > timeout_seconds:
            raise TimeoutError(f"all {len(devices)} GPUs ({', '.join(devices)}) stayed held by other jobs "
                               f"for {timeout_seconds:.0f} s (slot files in {lock_dir})")
        if not waiting:
            log.info("all %d GPUs (%s) are in use by other jobs (slot files in %s); waiting for one",
                     len(devices), ", ".join(devices), lock_dir)
            waiting = True
        time.sleep(poll_seconds)


def _try_lock(path: Path) -> bool:
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")  # for a person wondering who holds the GPU
    handle.flush()
    _held.append(handle)
    return True


def _file_name(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", device)
