"""Fixtures of the dataset tests: a loopback HTTP (and S3-listing) server over a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.datasets.builders import LoopbackServer


@pytest.fixture
def www(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    return folder


@pytest.fixture
def server(www: Path) -> Iterator[LoopbackServer]:
    """Serves ``www`` on 127.0.0.1 for the test, then stops."""
    with LoopbackServer(www) as running:
        yield running
