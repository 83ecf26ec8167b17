"""The Python API: ``model = nnlandmark.load(path)``, then ``model.predict(image)`` for a file or a SimpleITK image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import SimpleITK as sitk
import torch

from nnlandmark.devices import resolve_device
from nnlandmark.errors import InputError
from nnlandmark.inference.landmark_predictor import LandmarkPredictor, load_model
from nnlandmark.inference.model_archive import open_model
from nnlandmark.inference.model_card import build_card, default_checkpoint, read_card
from nnlandmark.inference.model_folder import available_folds
from nnlandmark.inference.predict_folder import image_problem
from nnlandmark.inference.sitk_input import nnunet_input
from nnlandmark.landmarks import LandmarkSet

ImageLike = Union[str, "os.PathLike[str]", sitk.Image]


def _channels(image: ImageLike | Sequence[ImageLike]) -> list[Any]:
    if isinstance(image, (str, os.PathLike, sitk.Image)):
        return [image]
    return list(image)


@dataclass(frozen=True)
class Model:
    """A loaded landmark model: the ensemble of its folds, ready to predict images."""

    predictor: LandmarkPredictor
    folder: Path
    folds: tuple[int, ...]
    checkpoint: str

    @property
    def names(self) -> tuple[str, ...]:
        """The landmarks the model predicts, in its order."""
        return self.predictor.names

    @property
    def num_channels(self) -> int:
        """Images per case the model takes (one per channel of its dataset.json)."""
        return len(self.predictor.predictor.dataset_json["channel_names"])

    def card(self) -> dict[str, Any]:
        """The model card: stored with an exported model, built from the folder for a training folder."""
        return read_card(self.folder) or build_card(self.folder, folds=self.folds, checkpoint=self.checkpoint)

    def predict(self, image: ImageLike | Sequence[ImageLike]) -> LandmarkSet:
        """Landmarks (LPS mm, with a confidence each) of an image file or an in-memory ``SimpleITK.Image``.

        A model of several channels takes a sequence of images, one per channel. A SimpleITK image gives
        exactly the prediction that its file gives: it is turned into nnU-Net's input as nnU-Net reads files.
        """
        channels = _channels(image)
        if len(channels) != self.num_channels:
            raise InputError(f"this model takes {self.num_channels} image(s) per case (one per channel), "
                             f"got {len(channels)}")
        with torch.no_grad():
            if all(isinstance(c, sitk.Image) for c in channels):
                return self._predict_in_memory(channels)
            if any(isinstance(c, sitk.Image) for c in channels):
                raise InputError("pass either file paths or SimpleITK images, not both")
            paths = [Path(c) for c in channels]
            for path in paths:
                if not path.is_file():
                    raise FileNotFoundError(f"image {path} does not exist")
                problem = image_problem(path)
                if problem:
                    raise InputError(f"image {path} is {problem}")
            return self.predictor.predict_image(paths)

    def _predict_in_memory(self, images: list[sitk.Image]) -> LandmarkSet:
        reader = self.predictor.plans_manager.image_reader_writer_class
        if reader.__name__ != "SimpleITKIO":  # another reader orders axes or geometry its own way
            raise InputError(f"this model reads images with nnU-Net's {reader.__name__}, not SimpleITKIO: pass "
                             "the image as a file path")
        data, properties = nnunet_input(images)
        return self.predictor.predict_array(data, properties)


def load(
    model: str | os.PathLike[str],
    *,
    folds: Sequence[int] | None = None,
    device: str | torch.device = "auto",
    checkpoint: str | None = None,
    tile_step_size: float = 0.5,
    inference: str = "full",
    cache: str | os.PathLike[str] | None = None,
) -> Model:
    """Load a trained model folder or an exported model ``.zip`` for prediction.

    ``folds`` defaults to every fold with the checkpoint; ``checkpoint`` to the one the model was exported with
    (``checkpoint_final.pth`` for a training folder). A ``.zip`` is extracted once into ``cache`` (default
    ``$NNLANDMARK_CACHE`` or ``~/.cache/nnlandmark``) and checked against its manifest. ``inference``:
    ``full`` (nnU-Net's sliding window over the whole image) or ``guided`` (windows where the landmarks are).
    """
    folder = open_model(Path(model), cache=Path(cache) if cache is not None else None)
    checkpoint = checkpoint or default_checkpoint(folder)
    chosen = tuple(folds) if folds is not None else tuple(available_folds(folder, checkpoint))
    if not 0 < tile_step_size <= 1:
        raise InputError(f"tile_step_size must be in (0, 1] (a fraction of the patch size), got {tile_step_size}")
    predictor = load_model(folder, folds=chosen, checkpoint=checkpoint, device=resolve_device(device),
                           tile_step_size=tile_step_size, inference=inference)
    return Model(predictor, folder, chosen, checkpoint)
