"""One device resolver for training, the workflow's prediction, the CLI and the API."""

from __future__ import annotations

import pytest
import torch

from nnlandmark.devices import resolve_device
from nnlandmark.errors import InputError


def test_auto_is_cuda_only_when_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_without_a_gpu_names_the_key_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match=r"train.device is 'cuda', but torch sees no GPU; set train.device to 'auto'"):
        resolve_device("cuda", key="train.device")


def test_unknown_device_names_the_key_and_the_choices() -> None:
    with pytest.raises(InputError, match=r"--device must be one of auto, cpu, cuda; got 'gpu'"):
        resolve_device("gpu", key="--device")


def test_a_torch_device_passes_through() -> None:
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
