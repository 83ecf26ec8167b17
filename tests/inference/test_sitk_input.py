"""An in-memory SimpleITK image becomes exactly what nnU-Net's SimpleITKIO reads from its file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

from nnlandmark.errors import InputError
from nnlandmark.inference.sitk_input import nnunet_input
from tests.conftest import oblique_direction


def image(pixel_type: int = sitk.sitkInt16, *, origin: tuple[float, ...] = (-3.0, 4.5, 10.0)) -> sitk.Image:
    array = np.random.default_rng(0).integers(-100, 100, size=(5, 7, 9)).astype(np.int16)
    result = sitk.Cast(sitk.GetImageFromArray(array), pixel_type)
    result.SetSpacing((0.7, 1.1, 2.9))
    result.SetOrigin(origin)
    result.SetDirection(oblique_direction())
    return result


@pytest.mark.parametrize("pixel_type", [sitk.sitkInt16, sitk.sitkFloat64], ids=["int16", "float64"])
def test_the_same_array_and_properties_as_reading_the_file(tmp_path: Path, pixel_type: int) -> None:
    channels = [image(pixel_type), sitk.Cast(image(pixel_type) * 2, pixel_type)]
    files = []
    for i, channel in enumerate(channels):
        files.append(str(tmp_path / f"case_{i:04d}.mha"))
        sitk.WriteImage(channel, files[-1])
    expected_data, expected_properties = SimpleITKIO().read_images(files)
    data, properties = nnunet_input(channels)
    assert data.dtype == expected_data.dtype == np.float32
    assert np.array_equal(data, expected_data)
    assert properties == expected_properties


def test_channels_on_different_grids_are_refused() -> None:
    with pytest.raises(InputError, match="image 1 does not share the grid"):
        nnunet_input([image(), image(origin=(0.0, 0.0, 0.0))])
    with pytest.raises(InputError, match="got none"):
        nnunet_input([])
