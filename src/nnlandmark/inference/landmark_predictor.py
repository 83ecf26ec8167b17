"""Landmark prediction through nnU-Net's sliding-window predictor, with fold ensembling and decoding."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
from nnunetv2.utilities.plans_handling.plans_handler import ConfigurationManager, PlansManager
from torch import nn

from nnlandmark.atomic_write import write_text_atomic
from nnlandmark.checkpoints import load_checkpoint
from nnlandmark.errors import InputError
from nnlandmark.inference.absence import AbsenceThresholds
from nnlandmark.inference.coordinates import preprocessed_to_world
from nnlandmark.inference.decode import (
    CONFIDENCE_RADIUS,
    Activation,
    FoldAverage,
    confidence_radius,
    confidences_at,
    fold_votes,
    recipe_sigma_vox,
)
from nnlandmark.inference.fold_records import check_folds_agree
from nnlandmark.inference.guided import INFERENCE_MODES, GuidedSearch, full_window_count
from nnlandmark.inference.landmark_prior import LandmarkPrior
from nnlandmark.inference.model_folder import MODEL_INFO, check_model_folder, checkpoint_files, read_json
from nnlandmark.inference.network import NullLogitNetwork
from nnlandmark.inference.pair_sides import SAME_PLACE_SIGMAS, assign_pair_sides
from nnlandmark.inference.prior_modes import decode_with_prior
from nnlandmark.inference.shared_places import apart_pairs, close_twins, part_shared_places
from nnlandmark.landmarks import LandmarkSet
from nnlandmark.landmarks.mirror_pairs import pair_indices
from nnlandmark.landmarks.orientation import canonical_nnunet_input

log = logging.getLogger(__name__)

TRAINER_NAME = "nnLandmarkTrainer"


KEEP_FOLD_OUTPUTS_BYTES = 4 << 30
"""The folds' outputs of one case are kept for ensembling up to this size; beyond it each fold runs again."""


@dataclass
class LandmarkPredictor:
    """An initialised nnU-Net predictor plus what is needed to turn its logits into landmarks."""

    predictor: nnUNetPredictor
    names: tuple[str, ...]
    activation: Activation
    absent_below: float = 0.0
    confidence_radius: tuple[int, ...] = (CONFIDENCE_RADIUS,) * 3
    # (left, right) channel indices of mirror pairs, put on their sides after decoding (inference/pair_sides.py)
    mirror_pairs: tuple[tuple[int, int], ...] = ()
    sigma_vox: tuple[float, ...] = (2.0, 2.0, 2.0)
    # "full": nnU-Net's sliding window over the whole image (the reference); "guided": windows where the
    # landmarks are (inference/guided.py), for ssce_null models; ``prior`` says where to look first
    inference: str = "full"
    prior: LandmarkPrior | None = None
    # what the last case cost: windows, network evaluations (windows x folds), mode
    last_cost: dict[str, Any] = field(default_factory=dict)
    # (i, j) channel indices that the training references always kept apart: parted when they peak at one
    # place (inference/shared_places.py)
    apart: tuple[tuple[int, int], ...] = ()
    # mirror pairs whose twins the training references put within the same-place distance: their two peaks
    # are never taken for one place (inference/pair_sides.py)
    close_twins: tuple[tuple[int, int], ...] = ()
    # the guided mode's own absence threshold, chosen on its validation confidences; None: the model has none
    # (trained before guided validation existed) and guided presence uses ``absent_below``
    absent_below_guided: float | None = None
    # each mode's thresholds of landmarks whose validation showed them absent and present
    # (inference/absence.py, AbsenceThresholds); the others use the mode's one threshold
    absent_below_landmarks: dict[str, float] = field(default_factory=dict)
    absent_below_guided_landmarks: dict[str, float] = field(default_factory=dict)

    @property
    def presence_threshold(self) -> float | np.ndarray:
        """The absence thresholds of this predictor's inference mode, (K,) per landmark; a model without a
        guided threshold holds the guided mode to the full mode's one threshold."""
        if self.inference == "guided":
            if self.absent_below_guided is None:
                return self.absent_below
            return AbsenceThresholds(self.absent_below_guided, self.absent_below_guided_landmarks).for_names(self.names)
        return AbsenceThresholds(self.absent_below, self.absent_below_landmarks).for_names(self.names)

    @property
    def plans_manager(self) -> PlansManager:
        return self.predictor.plans_manager

    @property
    def configuration_manager(self) -> ConfigurationManager:
        return self.predictor.configuration_manager

    def predict_preprocessed(self, data: torch.Tensor, properties: dict[str, Any]) -> LandmarkSet:
        """Landmarks (LPS mm) of one preprocessed case, ensembled over the loaded folds.

        The folds' outputs are averaged as probabilities (nnU-Net's ensembling,
        :class:`~nnlandmark.inference.decode.FoldAverage`) and every landmark is read at one place: its
        position is the averaged output's peak, its confidence the averaged output's mass there (the mean of the
        folds' confidences there), and it is
        present when more than half of the folds' own confidences at that same place reach the absence
        threshold (chosen on single folds' validation confidences, the same kind of number;
        :func:`~nnlandmark.inference.decode.fold_votes`). Two folds at one place outvote a third elsewhere, and
        no landmark is reported where no fold put it. Each fold's output is kept until the places are known, or
        computed again where keeping them all would take more than :data:`KEEP_FOLD_OUTPUTS_BYTES`.
        """
        shape = tuple(data.shape[1:])

        def world(positions: np.ndarray) -> np.ndarray:
            return preprocessed_to_world(positions, preprocessed_shape=shape, properties=properties,
                                         transpose_forward=self.plans_manager.transpose_forward)

        if self.inference == "guided":
            search = GuidedSearch(self, data, prior=self.prior, lps_x=lambda p: world(p)[:, 0])
            result = search.run()
            for note in result.notes:
                log.debug("mirror pair: %s", note)
            self.last_cost = {"inference": "guided", "windows": result.windows, "evaluations": result.evaluations}
            return LandmarkSet(self.names, world(result.positions),
                               fold_votes(list(result.fold_confidences.T), self.presence_threshold), result.confidences)

        with torch.inference_mode():
            average, kept, keep = FoldAverage(self.activation), [], True
            for logits in self._fold_logits(data):
                shape = tuple(logits.shape[1:])
                average.add(logits)
                keep = keep and logits.numel() * logits.element_size() * (len(kept) + 1) <= KEEP_FOLD_OUTPUTS_BYTES
                kept = [*kept, logits] if keep else []
            positions, confidence = self._decode(average.result(), world=world)
            confidences = [confidence]
            if average.count > 1:  # each fold's own confidence at the reported places
                folds = kept or self._fold_logits(data)  # computed again where they were too large to keep
                confidences = [confidences_at(fold, positions, activation=self.activation,
                                              radius=self.confidence_radius) for fold in folds]
        windows = full_window_count(self, shape)
        self.last_cost = {"inference": "full", "windows": windows, "evaluations": windows * len(confidences)}
        present = fold_votes(confidences, self.presence_threshold)
        return LandmarkSet(self.names, world(positions), present, confidence)

    def _decode(self, logits: torch.Tensor, *, world: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Positions (array order) and confidences of one output: each channel at its prior-gated mode
        (:mod:`~nnlandmark.inference.prior_modes`), mirror pairs put on their sides, shared places parted.
        ``world`` maps array positions to LPS mm."""
        positions, confidence, notes = decode_with_prior(logits, activation=self.activation,
                                                         radius=self.confidence_radius, prior=self.prior)
        for note in notes:
            log.debug("landmark prior: %s", note)
        if self.mirror_pairs:
            positions, confidence, changes = assign_pair_sides(
                logits, positions, confidence, pairs=self.mirror_pairs, activation=self.activation,
                radius=self.confidence_radius, sigma_vox=self.sigma_vox, world=world,
                side_margin_mm=self.side_margin_mm,
                half_separation_mm=self.half_separations(tuple(logits.shape[1:]), world),
                close_twins=self.close_twins)
            for change in changes:
                log.debug("mirror pair: %s", change)
        if self.apart:
            positions, confidence, changes = part_shared_places(
                logits, positions, confidence, apart=self.apart, activation=self.activation,
                radius=self.confidence_radius, sigma_vox=self.sigma_vox, mirror_pairs=self.mirror_pairs)
            for change in changes:
                log.debug("shared place: %s", change)
        return positions, confidence

    def half_separations(self, shape: tuple[int, ...], world: Callable[[np.ndarray], np.ndarray]) -> list[float] | None:
        """Per mirror pair, half the distance (mm) between its twins' prior places on a grid of ``shape``
        (0 where a twin has none); None without a prior."""
        if self.prior is None:
            return None
        centres = self.prior.centres(shape)
        halves = []
        for left, right in self.mirror_pairs:
            known = np.all(np.isfinite(centres[[left, right]]))
            halves.append(float(np.linalg.norm(np.subtract(*world(centres[[left, right]])))) / 2.0 if known else 0.0)
        return halves

    @property
    def side_margin_mm(self) -> float:
        """How far (mm) from the fitted midline a place must lie to count as on one side: 2 target sigma."""
        spacing = np.asarray(self.configuration_manager.spacing, dtype=np.float64)
        return SAME_PLACE_SIGMAS * float(np.mean(np.asarray(self.sigma_vox) * spacing))

    def _fold_logits(self, data: torch.Tensor) -> Iterator[torch.Tensor]:
        """Each loaded fold's sliding-window output on the CPU (the network as it is when no folds are loaded)."""
        network = self.predictor.network
        for parameters in self.predictor.list_of_parameters or [None]:
            if parameters is not None:
                getattr(network, "_orig_mod", network).load_state_dict(parameters)  # torch.compile's wrapper
            yield self.predictor.predict_sliding_window_return_logits(data).cpu()

    def predict_array(self, data: np.ndarray, properties: dict[str, Any]) -> LandmarkSet:
        """Landmarks of an image as nnU-Net's reader gives it: ``data`` (channels, *numpy axes), ``properties``.

        ``properties`` needs nnU-Net's ``spacing`` and SimpleITK's ``sitk_stuff`` (spacing, origin, direction).
        The image is first stored in the canonical orientation that training images were converted to
        (:mod:`nnlandmark.landmarks.orientation`); landmarks come out in the same physical LPS frame.
        """
        data, properties = canonical_nnunet_input(data, properties)
        preprocessor = self.configuration_manager.preprocessor_class(verbose=False)
        data, _, properties = preprocessor.run_case_npy(data, None, dict(properties), self.plans_manager,
                                                        self.configuration_manager, self.predictor.dataset_json)
        return self.predict_preprocessed(torch.from_numpy(np.ascontiguousarray(data)), properties)

    def predict_image(self, image_file: Path | Sequence[Path]) -> LandmarkSet:
        """Read an image file (or one file per channel) as training data was read, then predict its landmarks."""
        files = [image_file] if isinstance(image_file, (str, Path)) else list(image_file)
        reader = self.plans_manager.image_reader_writer_class()
        data, properties = reader.read_images([str(f) for f in files])
        return self.predict_array(data, properties)


def build_network(plans_manager: PlansManager, configuration_manager: ConfigurationManager, *,
                  num_input_channels: int, num_landmarks: int, activation: Activation = "softmax") -> nn.Module:
    """nnLandmarkTrainer's network: the plans' architecture, channel 0 plus one per landmark, no deep supervision.

    Built the way nnU-Net's ``nnUNetTrainer.build_network_architecture`` does, without importing the trainer,
    so that prediction does not depend on training (a test checks both build the same network). The model's
    ``activation`` says which: ``log_probability`` (the ``ssce_null`` recipe) wraps the U-Net in
    :class:`~nnlandmark.inference.network.NullLogitNetwork`; the other recipes train the plain U-Net.
    """
    unet = get_network_from_plans(
        configuration_manager.network_arch_class_name,
        configuration_manager.network_arch_init_kwargs,
        configuration_manager.network_arch_init_kwargs_req_import,
        num_input_channels,
        num_landmarks + 1,
        allow_init=True,
        deep_supervision=False,
    )
    if activation != "log_probability":
        return unet
    patch_size = tuple(configuration_manager.patch_size)
    return NullLogitNetwork.around(unet, num_landmarks=num_landmarks, patch_size=patch_size)


def predictor_for_network(
    network: nn.Module,
    plans_manager: PlansManager,
    configuration_manager: ConfigurationManager,
    dataset_json: dict[str, Any],
    *,
    names: Sequence[str],
    activation: Activation,
    device: torch.device,
    parameters: list[dict[str, Any]] | None = None,
    tile_step_size: float = 0.5,
    absent_below: float = 0.0,
    sigma_vox: Sequence[float] | None = None,
    mirror_pairs: Sequence[Sequence[str]] = (),
    inference: str = "full",
    prior: LandmarkPrior | None = None,
    may_share_place: Sequence[Sequence[str]] | None = None,
) -> LandmarkPredictor:
    """A :class:`LandmarkPredictor` around ``network``: as it is, or with each fold's ``parameters`` in turn.

    ``sigma_vox``: the target Gaussian's sigma per axis (voxels); a ``log_probability`` confidence is the mass
    within +-2 sigma of the peak. Validation and prediction must pass the same (``recipe_sigma_vox``).
    ``mirror_pairs``: (left, right) landmark names put on their sides after decoding (the model's record).
    ``inference``: ``full`` or ``guided`` (:mod:`nnlandmark.inference.guided`, with ``prior``).
    ``may_share_place``: landmark name pairs the training references did not keep apart; every other pair is
    parted when both peak at one place (:mod:`nnlandmark.inference.shared_places`); ``None``: none is.
    """
    check_inference_mode(inference, activation)
    predictor = make_nnunet_predictor(device=device, tile_step_size=tile_step_size)
    predictor.manual_initialization(network, plans_manager, configuration_manager, parameters, dataset_json,
                                    TRAINER_NAME, None)
    sigma = tuple(float(x) for x in sigma_vox) if sigma_vox is not None else (2.0,) * 3
    pairs = pair_indices(mirror_pairs, names)
    return LandmarkPredictor(predictor, tuple(names), activation, absent_below,
                             confidence_radius(activation, sigma_vox), pairs, sigma, inference, prior,
                             apart=apart_pairs(names, may_share=may_share_place, mirror_pairs=pairs),
                             close_twins=close_twins(names, may_share=may_share_place, mirror_pairs=pairs))


def check_inference_mode(inference: str, activation: str) -> None:
    """``full`` always; ``guided`` only for ``log_probability`` (ssce_null) models, whose windows say "not here"."""
    if inference not in INFERENCE_MODES:
        raise InputError(f"inference mode must be one of {', '.join(INFERENCE_MODES)}; got {inference!r}")
    if inference == "guided" and activation != "log_probability":
        raise InputError(f"guided inference needs a model trained with train.loss: ssce_null (this one's outputs "
                         f"are {activation}); use the full sliding window (--inference full)")


def make_nnunet_predictor(*, device: torch.device, tile_step_size: float = 0.5) -> nnUNetPredictor:
    """nnU-Net's predictor without mirroring (it would swap left/right landmarks).

    On a CPU nnU-Net prints that everything-on-device is for CUDA only, even when not asked for it: that
    line goes to the debug log, not the user's console.
    """
    with contextlib.redirect_stdout(io.StringIO()) as said:
        predictor = nnUNetPredictor(
            tile_step_size=tile_step_size,
            use_gaussian=True,
            use_mirroring=False,
            perform_everything_on_device=device.type == "cuda",
            device=device,
            verbose=False,
            allow_tqdm=False,
        )
    if said.getvalue().strip():
        log.debug("nnU-Net: %s", said.getvalue().strip())
    return predictor


def load_model(
    model_dir: Path,
    *,
    folds: Sequence[int],
    checkpoint: str = "checkpoint_final.pth",
    device: torch.device,
    tile_step_size: float = 0.5,
    inference: str = "full",
) -> LandmarkPredictor:
    """Load a trained model folder (``nnLandmarkTrainer__<plans>__<configuration>``) for ensembled prediction.

    Built directly from the folder's files: nnU-Net's trainer lookup by name is not used.
    Checkpoints are loaded weights-only, with an allow-list of types (``nnlandmark.checkpoints``). Folds
    whose provenance records say they were trained from different recipes, plans or dataset.json are refused.
    """
    model_dir = Path(model_dir)
    check_model_folder(model_dir)
    paths = checkpoint_files(model_dir, folds, checkpoint)
    check_folds_agree(model_dir, folds)
    parameters = [load_checkpoint(path, required=("network_weights",))["network_weights"] for path in paths]
    info = read_json(model_dir / MODEL_INFO)
    plans_manager = PlansManager(read_json(model_dir / "plans.json"))
    dataset_json = read_json(model_dir / "dataset.json")
    configuration_manager = plans_manager.get_configuration(info["configuration"])
    names = tuple(info["landmarks"])
    network = build_network(plans_manager, configuration_manager,
                            num_input_channels=len(dataset_json["channel_names"]), num_landmarks=len(names),
                            activation=info["activation"]).to(device)
    predictor = predictor_for_network(network, plans_manager, configuration_manager, dataset_json, names=names,
                                      activation=info["activation"], device=device, parameters=parameters,
                                      tile_step_size=tile_step_size, absent_below=float(info.get("absent_below", 0.0)),
                                      sigma_vox=recipe_sigma_vox(info.get("recipe") or {},
                                                                 configuration_manager.spacing),
                                      mirror_pairs=info.get("mirror_pairs", ()), inference=inference,
                                      prior=LandmarkPrior.from_dict(info["landmark_prior"])
                                      if info.get("landmark_prior") else None,
                                      may_share_place=info.get("may_share_place"))
    guided_threshold = info.get("absent_below_guided")
    predictor.absent_below_guided = None if guided_threshold is None else float(guided_threshold)
    predictor.absent_below_landmarks = _thresholds(info.get("absent_below_landmarks"))
    predictor.absent_below_guided_landmarks = _thresholds(info.get("absent_below_guided_landmarks"))
    if inference == "guided":
        warn_guided_presence(model_dir, absent_below=predictor.absent_below, guided=predictor.absent_below_guided)
    log.info("loaded %s, folds %s (%s)", model_dir, list(folds), checkpoint)
    return predictor


def _thresholds(record: Mapping[str, float] | None) -> dict[str, float]:
    return {str(name): float(value) for name, value in (record or {}).items()}


def warn_guided_presence(model_dir: Path, *, absent_below: float, guided: float | None) -> None:
    """Say when the guided mode's presence calls cannot be trusted: no guided threshold, or one of 0 (its
    validation confidences did not separate absent from present landmarks) where the full mode's does."""
    if guided is None:
        log.warning("%s has no absence threshold of the guided mode (its folds were validated before guided "
                    "validation existed): guided presence uses the full mode's threshold, which guided "
                    "confidences overshoot, so absent landmarks may be reported present; predict with "
                    "--inference full where presence matters, or re-validate the folds", model_dir)
    elif guided <= 0.0 < absent_below:
        log.warning("%s: the guided mode's validation confidences did not separate absent from present landmarks "
                    "(its absence threshold is 0), so guided inference reports every landmark present; predict "
                    "with --inference full where presence matters", model_dir)


def write_model_info(model_dir: Path, *, landmarks: Sequence[str], configuration: str, activation: Activation,
                     recipe: dict[str, Any], mirror_pairs: Sequence[Sequence[str]] = (),
                     prior: LandmarkPrior | None = None,
                     may_share_place: Sequence[Sequence[str]] | None = None) -> None:
    """What prediction needs beyond nnU-Net's plans and dataset.json."""
    info = {"landmarks": list(landmarks), "configuration": configuration, "activation": activation,
            "absent_below": 0.0, "absent_below_guided": None, "absent_below_landmarks": {},
            "absent_below_guided_landmarks": {}, "recipe": recipe,
            "mirror_pairs": [list(p) for p in mirror_pairs],
            "landmark_prior": prior.to_dict() if prior is not None else None,
            "may_share_place": None if may_share_place is None else [list(p) for p in may_share_place]}
    write_text_atomic(Path(model_dir) / MODEL_INFO, json.dumps(info, indent=2))


def set_absence_threshold(model_dir: Path, absent_below: float, *, guided: float | None = None,
                          landmarks: Mapping[str, float] | None = None,
                          guided_landmarks: Mapping[str, float] | None = None) -> None:
    """Record the validation-chosen absence thresholds in the model folder (used by ``nnlandmark predict``):
    the full mode's and, where the folds were validated in the guided mode too, the guided mode's; each with
    its landmarks' own (``landmarks``, ``guided_landmarks``: see AbsenceThresholds)."""
    path = Path(model_dir) / MODEL_INFO
    info = json.loads(path.read_text())
    info["absent_below"] = float(absent_below)
    info["absent_below_guided"] = None if guided is None else float(guided)
    info["absent_below_landmarks"] = _thresholds(landmarks)
    info["absent_below_guided_landmarks"] = _thresholds(guided_landmarks if guided is not None else None)
    write_text_atomic(path, json.dumps(info, indent=2))
