"""Guided vs full sliding-window inference: network evaluations, wall time, peak memory and accuracy per case.

Scenarios:

- ``ct`` (300 x 400 x 400 voxels at 0.4 mm, 14 landmarks) and ``brain`` (193 x 229 x 193 at 1 mm, 32
  landmarks): the U-Net nnU-Net's planner plans for such a dataset (its patch, stages and widths), run on
  every window for its real cost, wrapped by a perfect ``ssce_null`` model that turns the window's position
  into exact log-probabilities (``tests/inference/perfect_model.py``), so positions, evaluations and the
  search are those of a model that finds its landmarks. The case's landmarks are drawn around a "training"
  mean with a known SD, and the guided mode gets that mean and SD as its prior.
- ``realsize``: the model ``bench/realsize.py`` trained on ``config/realsize.yaml`` (``ssce_null``, 3 folds),
  on its 8 held-out test cases read from disk: MRE, gross failures and absent landmarks of both modes.

Modes: ``full`` (nnU-Net's sliding window over the whole image, then our decoding), ``guided``
(``nnlandmark.inference.guided``) and ``nnunet``: nnU-Net's own ``predict_single_npy_array`` with
probabilities returned (preprocessing, the same sliding window, resampling and softmax export: what
upstream runs before its argmax), mirroring off as in our trainer. Each (scenario, mode) runs in its own
process, so peak memory (VmHWM above the process's baseline) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # noqa: E402
    REPO,
    WORK,
    machine_info,
    memory_kib,
    reset_peak_memory,
    run_python,
    say,
    write_result,
)

SYNTHETIC = {
    # numpy (z, y, x) shape, spacing mm, landmarks, population SD of landmark positions (mm)
    "ct": {"shape": (300, 400, 400), "spacing": 0.4, "landmarks": 14, "sd_mm": 4.0},
    "brain": {"shape": (193, 229, 193), "spacing": 1.0, "landmarks": 32, "sd_mm": 4.0},
    # a few seconds: checks the script's code paths (--scenarios smoke)
    "smoke": {"shape": (48, 160, 160), "spacing": 1.0, "landmarks": 4, "sd_mm": 4.0},
}
# the run of bench/realsize.py whose model the realsize scenario predicts with (--realsize-run)
REALSIZE_RUN_VARIABLE = "GUIDED_REALSIZE_RUN"


def realsize_paths(run: str) -> tuple[Path, Path]:
    """The model folder and the nnU-Net raw dataset of a ``bench/realsize.py`` run (``ssce_null``, ``ssce_null@1``)."""
    from realsize import recipe_dir

    nnunet = recipe_dir(run) / "results" / "realsize" / "nnunet"
    return (nnunet / "nnUNet_results" / "Dataset991_RealSize" / "nnLandmarkTrainer__nnUNetPlans__3d_fullres",
            nnunet / "nnUNet_raw" / "Dataset991_RealSize")
MODES = ("full", "guided", "nnunet")
README_MARKERS = ("<!-- guided-table:start -->", "<!-- guided-table:end -->")


# --- the synthetic scenarios -------------------------------------------------------------------------
def planned_configuration(name: str, shape: tuple[int, ...], spacing: float, landmarks: int) -> dict[str, Any]:
    """nnU-Net's 3d_fullres plan for a dataset of 20 such images (one CT channel, 1 + K outputs)."""
    root = WORK / "guided" / "planning"
    dataset = f"Dataset{900 + len(name)}_{name}"
    os.environ.update(nnUNet_raw=str(root / "raw"), nnUNet_preprocessed=str(root / "pre"),
                      nnUNet_results=str(root / "res"))
    raw, pre = root / "raw" / dataset, root / "pre" / dataset
    (raw / "imagesTr").mkdir(parents=True, exist_ok=True)
    pre.mkdir(parents=True, exist_ok=True)
    labels = {"background": 0, **{f"l{i}": i for i in range(1, landmarks + 1)}}
    (raw / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": labels,
                                                  "numTraining": 20, "file_ending": ".nii.gz"}))
    intensity = {"mean": 0.0, "std": 1.0, "percentile_00_5": -1000.0, "percentile_99_5": 1000.0, "median": 0.0,
                 "min": -1000.0, "max": 1000.0}
    (pre / "dataset_fingerprint.json").write_text(json.dumps({
        "spacings": [[spacing] * 3] * 20, "shapes_after_crop": [list(shape)] * 20,
        "foreground_intensity_properties_per_channel": {"0": intensity}, "median_relative_size_after_cropping": 1.0,
    }))
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner

    planner = ExperimentPlanner(dataset, suppress_transpose=True)
    configuration = planner.get_plans_for_configuration([spacing] * 3, shape, "nnUNetPlans_3d_fullres",
                                                        float(np.prod(shape)) * 20, {})
    return json.loads(json.dumps(configuration, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def synthetic_case(name: str) -> dict[str, Any]:
    """Landmark truth and prior of a scenario (voxels, numpy order), deterministic."""
    spec = SYNTHETIC[name]
    rng = np.random.default_rng(7)
    shape = np.asarray(spec["shape"], dtype=np.float64)
    sd = spec["sd_mm"] / spec["spacing"]
    means = rng.uniform(0.2, 0.8, size=(spec["landmarks"], 3)) * shape
    truth = means + rng.normal(0.0, sd, size=means.shape)
    return {"means": means, "sd": np.full_like(means, sd), "truth": truth, "shape": tuple(spec["shape"])}


def synthetic_worker(name: str, mode: str) -> dict[str, Any]:
    import torch
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    from torch import nn

    from nnlandmark.inference.landmark_predictor import predictor_for_network
    from nnlandmark.inference.landmark_prior import LandmarkPrior
    from tests.inference import perfect_model as pm

    spec = SYNTHETIC[name]
    configuration = planned_configuration(name, spec["shape"], spec["spacing"], spec["landmarks"])
    case = synthetic_case(name)
    shape = case["shape"]
    sigma_vox = (2.0 / spec["spacing"],) * 3  # sigma_mm 2 on this grid
    unet = get_network_from_plans(configuration["architecture"]["network_class_name"],
                                  configuration["architecture"]["arch_kwargs"],
                                  configuration["architecture"]["_kw_requires_import"], 3, spec["landmarks"] + 1,
                                  allow_init=True, deep_supervision=False)
    perfect = pm.null_network(case["truth"], sigma=sigma_vox)

    class PlannedCostPerfectOutput(nn.Module):
        """The planned U-Net's forward pass (its cost), then the perfect model's output for the window."""

        def __init__(self) -> None:
            super().__init__()
            self.unet, self.perfect = unet, perfect

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.unet(x)
            return self.perfect(x)

    network = PlannedCostPerfectOutput().eval()
    plans = PlansManager({
        "dataset_name": f"Dataset999_{name}", "plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2], "image_reader_writer": "SimpleITKIO", "label_manager": "LabelManager",
        "original_median_spacing_after_transp": [spec["spacing"]] * 3,
        "original_median_shape_after_transp": list(shape),
        "foreground_intensity_properties_per_channel": {str(c): {"mean": 0.0, "std": 1.0, "percentile_00_5": -1e9,
                                                                 "percentile_99_5": 1e9} for c in range(3)},
        "configurations": {"3d_fullres": {**configuration, "normalization_schemes": ["NoNormalization"] * 3,
                                          "use_mask_for_norm": [False] * 3}},
    })
    names = [f"l{i}" for i in range(1, spec["landmarks"] + 1)]
    dataset_json = {"channel_names": {"0": "z", "1": "y", "2": "x"}, "file_ending": ".nii.gz", "landmarks": names,
                    "labels": {"background": 0, **{n: i + 1 for i, n in enumerate(names)}}}
    size = np.asarray(shape, dtype=np.float64)
    prior = LandmarkPrior((case["means"] + 0.5) / size, case["sd"] / size, np.full(len(names), 20))
    predictor = predictor_for_network(network, plans, plans.get_configuration("3d_fullres"), dataset_json,
                                      names=names, activation="log_probability", device=torch.device("cpu"),
                                      sigma_vox=sigma_vox, inference="guided" if mode == "guided" else "full",
                                      prior=prior, parameters=[network.state_dict()])  # one fold, as nnU-Net loads it
    image = pm.coordinate_image(shape)
    properties = pm.identity_properties(shape)
    counter = {"windows": 0}
    original_forward = network.forward

    def counted(x: torch.Tensor) -> torch.Tensor:
        counter["windows"] += x.shape[0]
        return original_forward(x)

    network.forward = counted  # type: ignore[method-assign]
    exact = reset_peak_memory()
    baseline = memory_kib()["VmRSS"]
    start = time.perf_counter()
    if mode == "nnunet":
        properties = {**properties, "spacing": [1.0, 1.0, 1.0]}
        predictor.predictor.predict_single_npy_array(image.numpy(), properties, None, None, True)
        points = None
    else:
        points = predictor.predict_preprocessed(image, properties).points[:, ::-1]
    seconds = time.perf_counter() - start
    peak = memory_kib()["VmHWM"] - baseline
    result = {"scenario": name, "mode": mode, "seconds": seconds, "peak_mib": peak / 1024, "peak_reset": exact,
              "evaluations": counter["windows"], "patch": configuration["patch_size"],
              "n_stages": configuration["architecture"]["arch_kwargs"]["n_stages"]}
    if points is not None:
        errors = np.linalg.norm(points - case["truth"], axis=1) * spec["spacing"]
        result.update(mean_error_mm=float(np.nanmean(errors)), max_error_mm=float(np.nanmax(errors)),
                      n_missed=int(np.isnan(errors).sum()))
    return result


# --- the real-size model -------------------------------------------------------------------------------
def realsize_worker(mode: str) -> dict[str, Any]:
    import torch

    from nnlandmark.inference.landmark_predictor import load_model
    from nnlandmark.landmarks import read_landmarks

    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(key, str(WORK / "guided" / "unused"))
    model, raw = realsize_paths(os.environ.get(REALSIZE_RUN_VARIABLE, "ssce_null"))
    predictor = load_model(model, folds=[0, 1, 2], device=torch.device("cpu"), inference=mode)
    images = sorted((raw / "imagesTs").glob("*_0000.nii.gz"))
    errors, evaluations, seconds = [], [], []
    absent_as_present = present_as_absent = 0
    exact = reset_peak_memory()
    baseline = memory_kib()["VmRSS"]
    for image in images:
        case = image.name[: -len("_0000.nii.gz")]
        start = time.perf_counter()
        prediction = predictor.predict_image(image)
        seconds.append(time.perf_counter() - start)
        evaluations.append(predictor.last_cost["evaluations"])
        reference = read_landmarks(raw / "landmarksTs" / f"{case}.json").reorder(predictor.names)
        for i in range(len(predictor.names)):
            if reference.present[i] and prediction.present[i]:
                errors.append(float(np.linalg.norm(prediction.points[i] - reference.points[i])))
            absent_as_present += int(not reference.present[i] and prediction.present[i])
            present_as_absent += int(reference.present[i] and not prediction.present[i])
    peak = memory_kib()["VmHWM"] - baseline
    e = np.asarray(errors)
    return {"scenario": "realsize", "mode": mode, "cases": len(images), "seconds": float(np.mean(seconds)),
            "peak_mib": peak / 1024, "peak_reset": exact, "evaluations": float(np.mean(evaluations)),
            "mean_error_mm": float(e.mean()), "median_error_mm": float(np.median(e)), "max_error_mm": float(e.max()),
            "n_gross": int((e > 8.0).sum()), "n_detected": int(e.size), "absent_reported_present": absent_as_present,
            "present_reported_absent": present_as_absent,
            # per landmark (the mode's one threshold, or landmarks' own where validation saw them absent)
            "absent_below": dict(zip(predictor.names, np.broadcast_to(predictor.presence_threshold,
                                                                      len(predictor.names)).tolist()))}


# --- driver --------------------------------------------------------------------------------------------
def measure(scenario: str, mode: str, threads: int, realsize_run: str = "ssce_null") -> dict[str, Any]:
    env = {**os.environ, "nnUNet_def_n_proc": str(threads), "nnUNet_compile": "false",
           "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO), REALSIZE_RUN_VARIABLE: realsize_run}
    out = run_python([str(Path(__file__)), "--worker", scenario, mode, "--threads", str(threads)], env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    say(f"  {scenario:8s} {mode:6s}: {result['seconds']:8.1f} s/case, {result['evaluations']:6.1f} network "
        f"evaluations, peak +{result['peak_mib']:6.0f} MiB"
        + (f", MRE {result['mean_error_mm']:.3f} mm" if "mean_error_mm" in result else ""))
    return result


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    full, guided = results.get("full"), results.get("guided")
    out: dict[str, float] = {}
    if full and guided:
        out["evaluations_full_over_guided"] = full["evaluations"] / guided["evaluations"]
        out["time_full_over_guided"] = full["seconds"] / guided["seconds"]
        out["memory_guided_over_full"] = guided["peak_mib"] / max(full["peak_mib"], 1e-9)
        if "mean_error_mm" in full:
            out["mre_guided_over_full"] = guided["mean_error_mm"] / full["mean_error_mm"]
    if results.get("nnunet") and guided:
        out["time_nnunet_over_guided"] = results["nnunet"]["seconds"] / guided["seconds"]
    return out


def markdown(payload: dict[str, Any]) -> str:
    machine = payload["machine"]
    lines = ["| case | mode | network evaluations | s / case | peak memory (MiB) | MRE (mm) "
             "| absent reported present | present reported absent |",
             "|---|---|---|---|---|---|---|---|"]
    for scenario, results in payload["scenarios"].items():
        for mode, r in results["modes"].items():
            mre = f"{r['mean_error_mm']:.2f}" if "mean_error_mm" in r else "–"
            calls = [str(r[k]) if k in r else "–" for k in ("absent_reported_present", "present_reported_absent")]
            lines.append(f"| {scenario} | {mode} | {r['evaluations']:.0f} | {r['seconds']:.1f} | "
                         f"{r['peak_mib']:.0f} | {mre} | {calls[0]} | {calls[1]} |")
    lines.append("")
    for scenario, results in payload["scenarios"].items():
        parts = [f"{k.replace('_', ' ')} {v:.2f}" for k, v in results["ratios"].items()]
        lines.append(f"- {scenario}: " + "; ".join(parts))
    lines.append("")
    lines.append(f"Measured {machine['date']} on {machine['host_cpu']} ({machine['cpu_count']} cores, "
                 f"{payload['threads']} threads), torch {machine['torch']}, nnU-Net {machine['nnunetv2']}; "
                 f"command: `{payload['command']}`.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", choices=["realsize", *SYNTHETIC], default=["realsize", "brain", "ct"])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--skip", nargs="*", default=[], metavar="SCENARIO:MODE",
                        help="(scenario, mode) pairs not to run, e.g. ct:nnunet")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--readme", action="store_true", help="write the table into README.md (Performance)")
    parser.add_argument("--name", default="guided_inference", help="result file name under bench/results/")
    parser.add_argument("--realsize-run", default="ssce_null", metavar="RUN",
                        help="the bench/realsize.py run whose model the realsize scenario uses (ssce_null, ssce_null@1)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        scenario, mode = args.worker
        result = realsize_worker(mode) if scenario == "realsize" else synthetic_worker(scenario, mode)
        print(json.dumps(result))
        return
    payload: dict[str, Any] = {"benchmark": "guided vs full sliding-window inference", "threads": args.threads,
                               "command": "python bench/guided_inference.py " + " ".join(sys.argv[1:]),
                               "scenarios": {}}
    for scenario in args.scenarios:
        say(f"{scenario}:")
        modes = [m for m in args.modes if f"{scenario}:{m}" not in args.skip
                 and not (scenario == "realsize" and m == "nnunet")]
        results = {mode: measure(scenario, mode, args.threads, args.realsize_run) for mode in modes}
        payload["scenarios"][scenario] = {"modes": results, "ratios": ratios(results)}
        say("  " + ", ".join(f"{k} {v:.2f}" for k, v in payload["scenarios"][scenario]["ratios"].items()))
    payload["machine"] = machine_info()
    path = write_result(args.name, payload)
    table = markdown(payload)
    (path.parent / f"{args.name}.md").write_text(table)
    say(f"wrote {path} and {args.name}.md")
    if args.readme:
        readme = REPO / "README.md"
        text = readme.read_text()
        start, end = (text.find(m) for m in README_MARKERS)
        if start < 0 or end < start:
            say("README.md has no guided-table markers: left as it is")
        else:
            readme.write_text(text[: start + len(README_MARKERS[0])] + "\n" + table + text[end:])
            say("README.md's guided-inference table updated")


if __name__ == "__main__":
    main()
