"""Rule plot_qualitative: orthogonal slices of the best, median and worst test cases with landmarks marked."""

import json
from pathlib import Path

import pandas as pd

from nnlandmark.script_logging import log_to_file, run_step


def main(smk) -> None:  # noqa: ANN001 - Snakemake's script object
    log_to_file(smk.log[0])
    import SimpleITK as sitk

    from nnlandmark.evaluation.errors import landmark_sets_from_errors
    from nnlandmark.evaluation.figure_io import message_figure
    from nnlandmark.evaluation.qualitative import QualitativeCase, plot_qualitative, select_cases
    from nnlandmark.evaluation.summary import per_case

    manifest = json.loads(Path(smk.input.manifest).read_text())
    raw = Path(smk.params.root) / "nnUNet_raw" / manifest["nnunet_name"]
    errors = pd.read_csv(smk.input.errors, dtype={"case": str, "landmark": str})
    paths = [Path(smk.output.png), Path(smk.output.svg)]
    chosen = select_cases(per_case(errors), method="model")
    if not chosen:
        message_figure(paths, title="Qualitative results", message="No test case has an evaluated landmark.")
        return
    reference = landmark_sets_from_errors(errors, method="model", side="ref")
    model = landmark_sets_from_errors(errors, method="model", side="pred")
    cases = [QualitativeCase(label, case, sitk.ReadImage(str(raw / "imagesTs" / f"{case}_0000.nii.gz")),
                             reference[case], model[case]) for label, case in chosen]
    plot_qualitative(cases, paths, slab_mm=float(smk.params.evaluation.get("qualitative_slab_mm", 5.0)))


if __name__ == "__main__":
    run_step(main, snakemake)  # noqa: F821 - injected by Snakemake
