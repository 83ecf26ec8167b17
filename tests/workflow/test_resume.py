"""Resume: a training job killed mid-epoch continues from its checkpoint when the workflow is run again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from nnlandmark.training.run_fold import resume_checkpoint

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
EPOCHS = 4


def test_a_checkpoint_cut_short_is_skipped(tmp_path: Path) -> None:
    torch.save({"current_epoch": 4}, tmp_path / "checkpoint_latest.pth")
    torch.save({"current_epoch": 3}, tmp_path / "checkpoint_best.pth")
    assert resume_checkpoint(tmp_path) == tmp_path / "checkpoint_latest.pth"
    data = (tmp_path / "checkpoint_latest.pth").read_bytes()
    (tmp_path / "checkpoint_latest.pth").write_bytes(data[: len(data) // 2])  # killed during torch.save
    assert resume_checkpoint(tmp_path) == tmp_path / "checkpoint_best.pth"
    (tmp_path / "checkpoint_final.pth").write_bytes(b"")
    assert resume_checkpoint(tmp_path) == tmp_path / "checkpoint_best.pth"
    torch.save({"current_epoch": 6}, tmp_path / "checkpoint_final.pth")
    assert resume_checkpoint(tmp_path) == tmp_path / "checkpoint_final.pth"


def epochs_started(log: str) -> list[int]:
    return [int(n) for n in re.findall(r": Epoch (\d+)$", log, flags=re.MULTILINE)]


def epochs_finished(log: str) -> int:
    return log.count(": Epoch time:")


@pytest.mark.slow
def test_a_killed_training_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    budget = tmp_path / "resume.yaml"
    budget.write_text(yaml.safe_dump({"train": {"folds": [0], "epochs": EPOCHS, "iterations_per_epoch": 4,
                                                "val_iterations_per_epoch": 1, "save_every": 1}}))
    # the commands README.md gives: run; after a kill, unlock and run the same command again
    run = [*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "2", "--resources", "gpu=1",
           "--configfile", str(REPO / "config" / "test.yaml"), str(budget), "--",
           "results-test/demo/nnunet/training/fold_0.json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "logs" / "train_fold" / "demo_fold0.log"
    fold = (tmp_path / "results-test" / "demo" / "nnunet" / "nnUNet_results" / "Dataset990_Demo"
            / "nnLandmarkTrainer__nnUNetPlans__3d_fullres" / "fold_0")

    with (tmp_path / "first.out").open("w") as out:
        first = subprocess.Popen(run, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                                 start_new_session=True)
        deadline = time.monotonic() + 240
        # "Epoch 2" opens the third epoch: the first two are done and checkpoint_latest holds them
        while not (log.is_file() and 2 in epochs_started(log.read_text())):
            assert first.poll() is None, (tmp_path / "first.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "training did not reach epoch 2 in time"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # Snakemake and its job, mid-epoch, no clean-up
        first.wait(timeout=30)
    first_log = log.read_text()
    assert not (fold / "checkpoint_final.pth").exists()
    latest = torch.load(fold / "checkpoint_latest.pth", map_location="cpu", weights_only=False)
    checkpointed = latest["current_epoch"]
    assert checkpointed >= 2

    unlock = subprocess.run([*run[:-2], "--unlock"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120, check=False)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    second = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
                            check=False)
    assert second.returncode == 0, second.stderr[-5000:]
    second_log = log.read_text()

    assert epochs_started(second_log)[0] == checkpointed > 0, second_log[-3000:]
    assert epochs_finished(first_log) == checkpointed  # killed mid-epoch, after the checkpoint
    assert epochs_finished(first_log) + epochs_finished(second_log) == EPOCHS
    assert (fold / "checkpoint_final.pth").is_file()
    assert len(list(fold.glob("training_log_*.txt"))) == 2  # the folder of the first run was kept
    assert (tmp_path / "results-test" / "demo" / "nnunet" / "training" / "fold_0.json").is_file()
