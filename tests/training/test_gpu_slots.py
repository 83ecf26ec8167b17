"""GPU slots: concurrent jobs of one machine get distinct GPUs, and a killed job frees its GPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nnlandmark.training.gpu_slots import claim_gpu, default_lock_dir, parse_visible_devices

# a GPU job as the workflow scripts start one: claim a GPU, say which, then work until stdin closes
JOB = """
import logging, os, sys
from nnlandmark.training.gpu_slots import claim_gpu
logging.basicConfig(level=logging.INFO)
device = claim_gpu(poll_seconds=0.05, timeout_seconds=float(sys.argv[1]))
print(device, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
sys.stdin.read()
"""


def start_job(lock_dir: Path, visible: str, *, timeout_s: float = 30.0) -> subprocess.Popen[str]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible, "NNLANDMARK_GPU_LOCK_DIR": str(lock_dir)}
    return subprocess.Popen([sys.executable, "-c", JOB, str(timeout_s)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def device_of(job: subprocess.Popen[str]) -> str:
    line = job.stdout.readline().split()
    assert line, job.stderr.read()
    claimed, visible = line
    assert claimed == visible, "CUDA_VISIBLE_DEVICES must name the claimed GPU alone"
    return claimed


def finish(*jobs: subprocess.Popen[str]) -> None:
    for job in jobs:
        if job.poll() is None:
            job.stdin.close()
        job.wait(timeout=30)


@pytest.mark.parametrize(
    ("value", "devices"),
    [("0,1,2", ["0", "1", "2"]), (" 3 , 1", ["3", "1"]), ("GPU-8a1b,GPU-ffee", ["GPU-8a1b", "GPU-ffee"]),
     ("", []), ("-1", []), ("0,-1,2", ["0"]), ("NoDevFiles", [])],
)
def test_visible_devices_are_read_as_cuda_reads_them(value: str, devices: list[str]) -> None:
    assert parse_visible_devices(value) == devices


def test_concurrent_jobs_get_distinct_gpus(tmp_path: Path) -> None:
    jobs = [start_job(tmp_path, "0,1,2") for _ in range(3)]
    try:
        assert sorted(device_of(job) for job in jobs) == ["0", "1", "2"]
    finally:
        finish(*jobs)


def test_a_job_waits_while_every_gpu_is_taken(tmp_path: Path) -> None:
    single, first, second = start_job(tmp_path, "0"), start_job(tmp_path, "0,1"), start_job(tmp_path, "0,1")
    try:
        assert device_of(single) == "0"  # one device named by the user or SLURM: used without a lock
        assert {device_of(first), device_of(second)} == {"0", "1"}
        late = start_job(tmp_path, "0,1", timeout_s=1.0)
        assert late.wait(timeout=30) != 0
        assert "stayed held by other jobs" in late.stderr.read()
    finally:
        finish(single, first, second)


def test_a_killed_job_frees_its_gpu(tmp_path: Path) -> None:
    first, second = start_job(tmp_path, "0,1"), start_job(tmp_path, "0,1")
    try:
        devices = {device_of(first): first, device_of(second): second}
        victim = devices["1"]
        victim.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
        victim.wait(timeout=30)
        successor = start_job(tmp_path, "0,1", timeout_s=10.0)
        assert device_of(successor) == "1"
        finish(successor)
    finally:
        finish(first, second)


def test_no_gpu_leaves_the_environment_alone(tmp_path: Path) -> None:
    environ = {"CUDA_VISIBLE_DEVICES": ""}
    assert claim_gpu(lock_dir=tmp_path, environ=environ) is None
    assert environ == {"CUDA_VISIBLE_DEVICES": ""}
    assert list(tmp_path.iterdir()) == []


def test_in_process_claims_take_free_devices_in_order(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert claim_gpu(devices=["GPU-a/1", "GPU-b"], lock_dir=tmp_path, environ=environ) == "GPU-a/1"
    assert environ["CUDA_VISIBLE_DEVICES"] == "GPU-a/1"
    assert claim_gpu(devices=["GPU-a/1", "GPU-b"], lock_dir=tmp_path, environ=environ) == "GPU-b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GPU-a_1.lock", "GPU-b.lock"]


def test_each_slurm_job_has_its_own_lock_folder() -> None:
    assert default_lock_dir({"SLURM_JOB_ID": "42"}).name == "slurm-42"
    assert default_lock_dir({"NNLANDMARK_GPU_LOCK_DIR": "/x/y"}) == Path("/x/y")
