"""Checkpoint loading: nnU-Net checkpoints load, crafted or damaged ones are refused with a clear error."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nnlandmark.checkpoints import (
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    allow_listed_loads,
    load_checkpoint,
)


class _RunsCode:
    """Unpickling this calls ``function(*args)``: what a malicious checkpoint does."""

    def __init__(self, function: object, *args: object) -> None:
        self.call = (function, args)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.call


def malicious_payloads(marker: Path) -> list[_RunsCode]:
    return [_RunsCode(os.system, f"touch '{marker}'"),
            _RunsCode(exec, f"open({str(marker)!r}, 'w').write('ran')")]


def nnunet_checkpoint(path: Path) -> Path:
    """A checkpoint written by nnU-Net's own ``save_checkpoint``, of a small network after one SGD step."""
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from nnunetv2.training.logging.nnunet_logger import MetaLogger
    from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    network = PlainConvUNet(1, 2, (4, 8), torch.nn.Conv3d, 3, (1, 2), (1, 1), 3, (1,), False,
                            torch.nn.InstanceNorm3d, {"eps": 1e-5, "affine": True}, None, None,
                            torch.nn.LeakyReLU, {"inplace": True})
    optimizer = torch.optim.SGD(network.parameters(), 0.01, weight_decay=3e-5, momentum=0.99, nesterov=True)
    scheduler = PolyLRScheduler(optimizer, 0.01, 10)
    network(torch.randn(1, 1, 8, 8, 8)).sum().backward()
    optimizer.step()
    scheduler.step(1)
    logger = MetaLogger(str(path.parent), False)
    # the types nnU-Net logs: np.mean of float32 losses is np.float32, of float64 dice np.float64
    logger.log("epoch_start_timestamps", time.time(), 0)
    logger.log("lrs", optimizer.param_groups[0]["lr"], 0)
    logger.log("train_losses", np.mean(np.array([0.5, 0.25], dtype=np.float32)), 0)
    logger.log("val_losses", np.mean(np.array([0.5, 0.25])), 0)
    logger.log("mean_fg_dice", np.nanmean([0.3, 0.4]), 0)
    logger.log("dice_per_class_or_region", [np.float64(0.3), 0.4], 0)
    logger.log("epoch_end_timestamps", time.time(), 0)
    trainer = SimpleNamespace(
        local_rank=0, disable_checkpointing=False, is_ddp=False, network=network, optimizer=optimizer,
        grad_scaler=None, logger=logger, _best_ema=logger.get_checkpoint()["ema_fg_dice"][-1],
        current_epoch=0,
        my_init_kwargs={"plans": {"configurations": {"3d_fullres": {"patch_size": [8, 8, 8]}}},
                        "configuration": "3d_fullres", "fold": 0,
                        "dataset_json": {"labels": {"background": 0}}, "device": torch.device("cuda", 0)},
        inference_allowed_mirroring_axes=(0, 1, 2),
    )
    nnUNetTrainer.save_checkpoint(trainer, str(path))
    return path


def test_an_nnunet_checkpoint_loads(tmp_path: Path) -> None:
    checkpoint = load_checkpoint(nnunet_checkpoint(tmp_path / "checkpoint_latest.pth"),
                                 required=("network_weights", "current_epoch"))
    assert checkpoint["current_epoch"] == 1
    assert checkpoint["init_args"]["device"] == torch.device("cuda", 0)
    assert isinstance(checkpoint["logging"]["train_losses"][0], np.float32)
    assert isinstance(checkpoint["_best_ema"], np.float64)
    assert all(isinstance(v, torch.Tensor) for v in checkpoint["network_weights"].values())
    assert checkpoint["optimizer_state"]["state"]  # momentum buffers


@pytest.mark.parametrize("payload", [0, 1], ids=["os.system", "exec"])
def test_a_checkpoint_that_runs_code_is_refused(tmp_path: Path, payload: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint_final.pth"
    torch.save({"network_weights": {}, "trap": malicious_payloads(marker)[payload]}, path)
    refused = r"holds a type outside the allow-list \((posix\.system|builtins\.exec)\): refusing to load it"
    with pytest.raises(UnsafeCheckpointError, match=refused) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "only load models you trust" in str(error.value)
    assert not marker.exists()


def test_the_payload_is_live(tmp_path: Path) -> None:
    """The crafted file does run code when loaded the unsafe way, so its refusal above means something."""
    marker = tmp_path / "pwned"
    torch.save({"trap": malicious_payloads(marker)[0]}, tmp_path / "evil.pth")
    torch.load(tmp_path / "evil.pth", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "empty", "flipped pickle bytes"])
def test_a_damaged_checkpoint_is_unreadable(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "checkpoint_final.pth"
    torch.save({"network_weights": {"w": torch.ones(64)}, "current_epoch": 3}, path)
    data = bytearray(path.read_bytes())
    if damage == "random bytes":
        data = bytearray(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:  # data.pkl is the archive's first, uncompressed member: corrupt its opcodes, keep the zip intact
        data[60:140] = bytes(80)
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableCheckpointError, match="is not a readable torch checkpoint") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_missing_keys_and_files_are_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint_final.pth"
    torch.save({"current_epoch": 3}, path)
    not_nnunet = r"is not an nnU-Net training checkpoint \("
    with pytest.raises(UnreadableCheckpointError, match=not_nnunet + "no network_weights in it"):
        load_checkpoint(path, required=("network_weights",))
    torch.save(torch.ones(3), path)
    with pytest.raises(UnreadableCheckpointError, match=not_nnunet + "it holds a Tensor, not a dict"):
        load_checkpoint(path)
    with pytest.raises(UnreadableCheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pth")


def test_allow_listed_loads_makes_other_code_load_safely(tmp_path: Path) -> None:
    """nnU-Net's ``trainer.load_checkpoint`` calls ``torch.load(weights_only=False)``: made safe here."""
    marker = tmp_path / "pwned"
    torch.save({"trap": malicious_payloads(marker)[0]}, tmp_path / "evil.pth")
    nnunet_checkpoint(tmp_path / "good.pth")
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    with allow_listed_loads():
        assert torch.load(tmp_path / "good.pth", map_location="cpu", weights_only=False)["current_epoch"] == 1
        with pytest.raises(Exception, match="posix.system"):
            torch.load(tmp_path / "evil.pth", weights_only=False)
    assert not marker.exists()
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") == before


def test_resume_skips_a_cut_short_checkpoint_but_stops_at_an_unsafe_one(tmp_path: Path) -> None:
    from nnlandmark.training.run_fold import resume_checkpoint

    torch.save({"current_epoch": 2}, tmp_path / "checkpoint_best.pth")
    (tmp_path / "checkpoint_latest.pth").write_bytes(b"PK\x03\x04 cut short")
    assert resume_checkpoint(tmp_path) == tmp_path / "checkpoint_best.pth"
    marker = tmp_path / "pwned"
    latest = tmp_path / "checkpoint_latest.pth"
    torch.save({"current_epoch": 5, "trap": malicious_payloads(marker)[0]}, latest)
    refused = f"checkpoint {re.escape(str(latest))} holds a type outside the allow-list"
    with pytest.raises(UnsafeCheckpointError, match=refused):
        resume_checkpoint(tmp_path)
    assert not marker.exists()
