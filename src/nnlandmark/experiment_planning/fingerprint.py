"""nnU-Net's dataset fingerprint, with intensity statistics from the imaged region, not the landmark blobs.

nnU-Net samples its "foreground intensities" from voxels where the label map is > 0. For segmentation data
those are the organs to segment; here the label map holds only small landmark blobs, so CT normalisation
(clip to the 0.5/99.5 percentiles, z-score with mean/std) would get its window from a few spheres: typically
all air and most soft tissue collapse to one value. For landmark detection the whole imaged body is the
region of interest, so the intensity foreground here is the region nnU-Net itself calls the inside of the
image: the nonzero region of ``create_nonzero_mask`` (all channels, holes filled), the same region its
z-score normalisation uses when ``use_mask_for_norm`` is on. That is modality-agnostic, needs no threshold,
and for CT (air is -1000, not 0) it is every voxel of the scan, so the window spans air to bone and clips
only the 0.5 % tails at either end. A thresholded body mask (say > -500 HU) would instead clip air to the
level of fat and weaken the skin surface that soft-tissue landmarks sit on. Spacings, shapes after cropping and the relative size after cropping
(which decides ``use_mask_for_norm``) are computed exactly as nnU-Net does.

Import this module only after ``use_nnunet_folders``: ``nnunetv2.paths`` reads the folders on import.
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np
from batchgenerators.utilities.file_and_folder_operations import (isfile, join, load_json, maybe_mkdir_p,
                                                                 save_json)
from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
from nnunetv2.imageio.base_reader_writer import BaseReaderWriter
from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json
from nnunetv2.paths import nnUNet_preprocessed
from nnunetv2.preprocessing.cropping.cropping import crop_to_nonzero
from tqdm import tqdm

log = logging.getLogger(__name__)

CaseFingerprint = tuple[tuple[int, ...], Any, list[np.ndarray], list[dict[str, float]], float]


class ImagedRegionFingerprintExtractor(DatasetFingerprintExtractor):
    """nnU-Net's ``DatasetFingerprintExtractor`` whose intensity foreground is the image's nonzero region."""

    @staticmethod
    def analyze_case(image_files: list[str], segmentation_file: str, reader_writer_class: type[BaseReaderWriter],
                     num_samples: int = 10000) -> CaseFingerprint:
        """nnU-Net's per-case fingerprint; the label map (landmark blobs only) is not read."""
        images, properties = reader_writer_class().read_images(image_files)
        cropped, region, _ = crop_to_nonzero(images)  # region: 0 inside the nonzero region, -1 outside
        intensities, stats = DatasetFingerprintExtractor.collect_foreground_intensities(
            (region >= 0).astype(np.uint8), cropped, num_samples=num_samples)
        relative_size = float(np.prod(cropped.shape[1:]) / np.prod(images.shape[1:]))
        return cropped.shape[1:], properties["spacing"], intensities, stats, relative_size

    def run(self, overwrite_existing: bool = False) -> dict[str, Any]:
        """Write ``dataset_fingerprint.json`` to the dataset's preprocessed folder, as nnU-Net's ``run``.

        Overridden because nnU-Net's ``run`` calls ``DatasetFingerprintExtractor.analyze_case`` by name.
        """
        folder = join(nnUNet_preprocessed, self.dataset_name)
        maybe_mkdir_p(folder)
        fingerprint_file = join(folder, "dataset_fingerprint.json")
        if isfile(fingerprint_file) and not overwrite_existing:
            return load_json(fingerprint_file)

        cases = list(self.dataset.values())
        reader_writer = determine_reader_writer_from_dataset_json(self.dataset_json, cases[0]["images"][0])
        samples_per_case = int(self.num_foreground_voxels_for_intensitystats // len(cases))
        # concurrent.futures, not multiprocessing.Pool: a worker killed for memory raises instead of hanging
        with ProcessPoolExecutor(max_workers=self.num_processes, mp_context=get_context("spawn")) as pool:
            jobs = pool.map(self.analyze_case, [c["images"] for c in cases], [c["label"] for c in cases],
                            [reader_writer] * len(cases), [samples_per_case] * len(cases))
            results = list(tqdm(jobs, total=len(cases), desc="Extracting dataset fingerprint",
                                disable=not self.show_progress_bar))

        fingerprint = {
            "spacings": [r[1] for r in results],
            "shapes_after_crop": [r[0] for r in results],
            "foreground_intensity_properties_per_channel": intensity_properties([r[2] for r in results]),
            "median_relative_size_after_cropping": float(np.median([r[4] for r in results])),
        }
        for channel, props in fingerprint["foreground_intensity_properties_per_channel"].items():
            log.info("channel %d over the imaged region: 0.5-99.5 %% window %.4g..%.4g, mean %.4g, std %.4g",
                     channel, props["percentile_00_5"], props["percentile_99_5"], props["mean"], props["std"])
        save_json(fingerprint, fingerprint_file)
        return fingerprint


def intensity_properties(samples_per_case: list[list[np.ndarray]]) -> dict[int, dict[str, float]]:
    """nnU-Net's per-channel statistics of intensity samples pooled over cases: ``samples[case][channel]``."""
    properties = {}
    for channel in range(len(samples_per_case[0])):
        pooled = np.concatenate([case[channel] for case in samples_per_case])
        percentile_00_5, median, percentile_99_5 = np.percentile(pooled, (0.5, 50.0, 99.5))
        properties[channel] = {
            "mean": float(np.mean(pooled)),
            "median": float(median),
            "std": float(np.std(pooled)),
            "min": float(np.min(pooled)),
            "max": float(np.max(pooled)),
            "percentile_99_5": float(percentile_99_5),
            "percentile_00_5": float(percentile_00_5),
        }
    return properties
