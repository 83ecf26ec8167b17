"""The real-anatomy check (config/brain.yaml) end to end on a tiny version: every fiducial trains and is predicted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from nnlandmark.datasets.brain_template import BrainTemplate
from tests.workflow.test_workflow import REPO, snakemake


@pytest.mark.slow
def test_tiny_brain_check_trains_every_fiducial_close_ones_included(tmp_path: Path,
                                                                   real_template: BrainTemplate) -> None:
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({
        "results": "results-tiny",
        # 6 mm: the mammillary bodies and the intermammillary sulcus lie within a voxel of each other
        "datasets": {"brain": {"n_train": 4, "n_test": 2, "spacing_mm": 6.0,
                               "template_cache": str(real_template.image.parent)}},
        "train": {"folds": [0], "num_folds": 2, "epochs": 2, "iterations_per_epoch": 2,
                  "val_iterations_per_epoch": 1},
    }))
    result = snakemake(tmp_path, "--cores", "2", "--resources", "gpu=1", "--configfile",
                       str(REPO / "config" / "brain.yaml"), str(tiny))
    assert result.returncode == 0, result.stderr[-5000:]
    results = tmp_path / "results-tiny" / "brain"
    names = json.loads((results / "source" / "dataset.json").read_text())["landmarks"]
    assert len(names) == 32
    raw = next((results / "nnunet" / "nnUNet_raw").glob("Dataset992_*"))
    dataset = json.loads((raw / "dataset.json").read_text())
    layers = dict(zip(dataset["landmarks"], dataset["blob_layers"]))
    assert len({layers["L MB"], layers["R MB"], layers["intermammillary sulcus"]}) == 3
    # every image was converted into the canonical orientation (axes closest to LPS)
    for image in (raw / "imagesTr").glob("*.nii.gz"):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(image))
        reader.ReadImageInformation()
        direction = np.asarray(reader.GetDirection()).reshape(3, 3)
        assert np.all(np.diag(direction) > 0.5), (image.name, direction)
    errors = pd.read_csv(results / "tables" / "errors.csv", dtype={"case": str})
    predicted = errors[errors["method"] == "model"]
    assert set(predicted["landmark"]) == set(names)  # a channel, and a prediction, for every fiducial
    assert (results / "tables" / "summary.csv").is_file()

