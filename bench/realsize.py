"""Real-size and real-anatomy checks: the whole workflow on config/realsize.yaml (or, with ``--check brain``,
config/brain.yaml: subjects deformed from a public brain template with its AFIDs fiducials) once per training
recipe, timed and tabulated. What follows says ``realsize``; ``--check brain`` uses ``brain`` in its place
(folders, result files, README markers ``brain-table``).

Each recipe (a ``train.loss`` value) runs from scratch in its own working directory,
``bench/.work/realsize/<recipe>/`` (``snakemake --directory``), with a generated config file that sets only
``train.loss`` over config/realsize.yaml (itself merged over config/config.yaml). ``<recipe>@<seed>`` runs an
independent draw: the dataset generator's and the training's seed set to ``<seed>`` (config/realsize.yaml has
0), in ``bench/.work/realsize/<recipe>-seed<seed>/``. Training is deterministic, so a rerun of the same seed
repeats a result; another seed checks it. The script then reads the
run's ``results/realsize/tables/summary.csv`` and ``folds.csv`` and writes ``bench/results/realsize.json``,
``bench/results/realsize.md`` and the table between the ``realsize-table`` markers of README.md.
Estimated 20-25 minutes per recipe on 2 CPU cores.

``--redecode`` re-validates an earlier run with the current code, without retraining (about 4 minutes): each
fold's whole-case validation and the test predictions are made again from the trained checkpoints
(``snakemake --forcerun train_fold`` once the folds' ``validation/summary.json`` are removed), for decoding
changes. The run's ``run.json`` keeps its training record and adds ``redecoded`` (commit, date); its stage
times stay those of the original run.

Usage: python bench/realsize.py [--check realsize|brain] [--recipes ssce_null mse ssce ssce_null@1] [--cores 2]
       [--dry-run] [--reuse] [--redecode] [--no-readme]
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import REPO, RESULTS, WORK, machine_info, say, write_result

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
README = REPO / "README.md"
DEFAULT_RECIPES = ("ssce_null", "mse", "ssce")


@dataclass(frozen=True)
class Check:
    """One check: its config (and dataset key in it); folders, result files and README markers named after it."""

    name: str

    @property
    def config(self) -> Path:
        return REPO / "config" / f"{self.name}.yaml"

    @property
    def dataset(self) -> str:
        return self.name

    @property
    def markers(self) -> tuple[str, str]:
        return (f"<!-- {self.name}-table:start -->", f"<!-- {self.name}-table:end -->")


CHECKS = ("realsize", "brain")
CHECK = Check("realsize")  # set from --check in main()


def parse_run(spec: str) -> tuple[str, int | None]:
    """``ssce_null`` -> (ssce_null, None): config/realsize.yaml's seeds; ``ssce_null@1`` -> (ssce_null, 1)."""
    recipe, _, seed = spec.partition("@")
    if seed and not seed.isdigit():
        raise SystemExit(f"--recipes {spec}: the seed after @ must be a whole number, e.g. {recipe}@1")
    return recipe, int(seed) if seed else None


def recipe_dir(spec: str) -> Path:
    recipe, seed = parse_run(spec)
    return WORK / CHECK.name / (recipe if seed is None else f"{recipe}-seed{seed}")


def snakemake_command(recipe: str, *, cores: str) -> list[str]:
    """The workflow on the real-size config, with ``train.loss: <recipe>`` on top, in the recipe's folder."""
    folder = recipe_dir(recipe)
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(folder),
        "--cores",
        cores,
        "--resources",
        "gpu=1",
        "--configfile",
        str(CHECK.config),
        str(folder / "recipe.yaml"),
    ]


def recipe_config(spec: str) -> str:
    recipe, seed = parse_run(spec)
    text = f"# written by bench/realsize.py\nresults: results\ntrain:\n  loss: {recipe}\n"
    if seed is not None:  # an independent draw: other cases, other initial weights and batches
        text += f"  seed: {seed}\ndatasets:\n  {CHECK.dataset}:\n    seed: {seed}\n"
    return text


def run_recipe(recipe: str, *, cores: str) -> dict[str, Any]:
    """Run the workflow from an empty folder; wall time, exit status and the log's tail on failure."""
    folder = recipe_dir(recipe)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "recipe.yaml").write_text(recipe_config(recipe))
    command = snakemake_command(recipe, cores=cores)
    say(f"{recipe}: {shlex.join(command)}")
    commit = machine_info().get("git_commit")  # each job imports the code as it is when the job starts
    start = time.perf_counter()
    with open(folder / "snakemake.log", "w") as log:
        result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=False)
    record = {
        "recipe": recipe,
        "seed": parse_run(recipe)[1],
        "seconds": time.perf_counter() - start,
        "returncode": result.returncode,
        "cores": cores,
        "command": shlex.join(command),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": commit,  # the code this run started with (a --reuse table may be newer)
    }
    if machine_info().get("git_commit") != commit:  # the code changed while it ran
        record["commit_at_end"] = machine_info().get("git_commit")
    if result.returncode:
        record["log_tail"] = (folder / "snakemake.log").read_text()[-3000:]
    (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    say(f"{recipe}: exit {result.returncode} after {record['seconds'] / 60:.1f} min")
    return record


def redecode_run(spec: str, *, cores: str) -> dict[str, Any]:
    """Validate and predict an earlier successful run again with the current code, from its trained folds."""
    folder = recipe_dir(spec)
    previous = folder / "run.json"
    if not previous.is_file():
        raise SystemExit(f"--redecode {spec}: {previous} does not exist; run the recipe first (without --redecode)")
    record = json.loads(previous.read_text())
    if record["returncode"]:
        raise SystemExit(f"--redecode {spec}: the run in {folder} failed (exit {record['returncode']}); run it again")
    for summary in folder.glob("results/*/nnunet/nnUNet_results/*/*/fold_*/validation/summary.json"):
        summary.unlink()  # a fold whose summary is missing is validated again from its checkpoint_final
    benchmarks, kept = folder / "benchmarks", folder / "benchmarks.training-run"
    if benchmarks.is_dir() and not kept.exists():
        shutil.copytree(benchmarks, kept)
    command = [*snakemake_command(spec, cores=cores), "--forcerun", "train_fold"]
    say(f"{spec}: re-decoding: {shlex.join(command)}")
    start = time.perf_counter()
    with open(folder / "snakemake-redecode.log", "w") as log:
        result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=False)
    if kept.is_dir():  # the stage times stay those of the training run
        shutil.rmtree(benchmarks, ignore_errors=True)
        kept.rename(benchmarks)
    record["redecoded"] = {
        "commit": machine_info().get("git_commit"),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - start,
        "returncode": result.returncode,
    }
    previous.write_text(json.dumps(record, indent=2) + "\n")
    if result.returncode:
        raise SystemExit(f"--redecode {spec}: snakemake exited {result.returncode}; see {folder / 'snakemake-redecode.log'}")
    say(f"{spec}: re-decoded in {record['redecoded']['seconds'] / 60:.1f} min")
    return record


def _read_csv(path: Path, *, delimiter: str = ",") -> list[dict[str, Any]]:
    def value(text: str) -> Any:
        try:
            return float(text) if text not in ("", "nan") else None
        except ValueError:
            return text

    with open(path, newline="") as handle:
        return [
            {key: value(text) for key, text in row.items()}
            for row in csv.DictReader(handle, delimiter=delimiter)
        ]


def stage_seconds(folder: Path) -> dict[str, float]:
    """Seconds per rule from the run's ``benchmarks/<rule>/*.tsv`` (rules without ``benchmark:`` are absent)."""
    totals: dict[str, float] = {}
    for tsv in sorted(folder.glob("benchmarks/*/*.tsv")):
        for row in _read_csv(tsv, delimiter="\t"):
            totals[tsv.parent.name] = totals.get(tsv.parent.name, 0.0) + float(row.get("s") or 0.0)
    return totals


def collect(record: dict[str, Any]) -> dict[str, Any]:
    """A run's record plus its test-set summary (model and baseline rows), folds and stage times."""
    folder = recipe_dir(record["recipe"])
    tables = folder / "results" / CHECK.dataset / "tables"
    out = dict(record)
    if (tables / "summary.csv").is_file():
        rows = {row["method"]: row for row in _read_csv(tables / "summary.csv")}
        out["model"], out["baseline"] = rows.get("model"), rows.get("baseline")
    if (tables / "folds.csv").is_file():
        out["folds"] = _read_csv(tables / "folds.csv")
    out["stage_seconds"] = stage_seconds(folder)
    out["iterations_per_fold"] = training_iterations(folder)
    return out


def training_iterations(folder: Path) -> int | None:
    """Training iterations per fold, from nnU-Net's ``debug.json`` of the run's first fold (what it really ran)."""
    for debug in sorted(folder.glob("results/*/nnunet/nnUNet_results/*/*/fold_*/debug.json")):
        record = json.loads(debug.read_text())
        return int(record["num_epochs"]) * int(record["num_iterations_per_epoch"])
    return None


def _number(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value: Any) -> str:
    return "–" if value is None else str(int(value))


def table_row(run: dict[str, Any]) -> str:
    minutes = f"{run['seconds'] / 60:.1f}"
    day = str(run.get("date", ""))[:16].replace("T", " ")
    model, baseline = run.get("model"), run.get("baseline")
    if run["returncode"] or model is None:
        return f"| `{run['recipe']}` | failed (exit {run['returncode']}) | | | | | | | | | | | {minutes} | {day} |"
    folds = run.get("folds") or []

    def per_fold(column: str) -> str:
        return " / ".join(_count(f.get(column)) for f in folds) or "–"

    ratio = (model["mre_mm"] / baseline["mre_mm"]) if baseline and baseline.get("mre_mm") else None
    return (
        f"| `{run['recipe']}` | {_number(model['mre_mm'])} | {_number(model['median_mm'])} "
        f"| {_number(model.get('max_mm'))} | {_count(model.get('n_gross'))} / {_count(model['n_detected'])} "
        f"| {per_fold('n_gross')} | {per_fold('n_gross_detected')} | {per_fold('n_false_absent')} "
        f"| {_count(model['n_false_detections'])} | {_count(model['n_missed'])} "
        f"| {_number(ratio)} | {_count(run.get('iterations_per_fold'))} | {minutes} | {day} |"
    )


def markdown(runs: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    """The README's table: one row per recipe, then what was measured, where, when and how."""
    first = next((r for r in runs if r.get("model")), None)
    gross = first["model"].get("gross_error_mm") if first else None
    header = (
        f"| recipe | MRE (mm) | median (mm) | max (mm) | gross failures (> {_number(gross, 1)} mm) / detected "
        "| gross per fold (validation) | per fold, of those reported present | per fold, present reported absent "
        "| absent reported present | present reported absent "
        "| MRE / baseline MRE | training iterations / fold | minutes | finished (UTC) |"
    )
    lines = [
        header,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(table_row(run) for run in runs),
        "",
    ]
    if first:
        model = first["model"]
        lines.append(
            f"Held-out test set: {_count(model['n_cases'])} cases, {_count(model['n_landmarks'])} reference "
            "landmarks; gross failures per fold are each fold's whole-case validation "
            "(`tables/folds.csv`), all its landmarks and then those it reports present at absence thresholds "
            "chosen on the other folds' validation; baseline: the training set's mean position."
        )
    lines.append(
        f"Measured {machine['date']} on {machine['host_cpu']} ({machine['cpu_count']} cores), "
        f"torch {machine['torch']}, nnU-Net {machine['nnunetv2']}, commit {machine['git_commit']}; "
        f"minutes are the whole workflow from an empty folder; a row dated earlier is an earlier run "
        f"tabulated with `--reuse` (its training budget beside it)."
    )
    commits = [f"`{run['recipe']}` {run['commit']}" + (f" to {run['commit_at_end']}" if run.get("commit_at_end") else "")
               for run in runs if run.get("commit")]
    if commits:
        lines.append(f"Code each run ran (commit): {', '.join(commits)}; runs without one predate this record.")
    redecoded = [f"`{run['recipe']}` with {run['redecoded']['commit']} at {run['redecoded']['date'][:16].replace('T', ' ')}"
                 for run in runs if (run.get("redecoded") or {}).get("returncode") == 0]
    if redecoded:
        lines.append(
            f"Validated and predicted again from the trained folds (`--redecode`, decoding changes only): "
            f"{', '.join(redecoded)}; those rows' numbers are the new decoding's, their minutes the training run's."
        )
    cores = " / ".join(sorted({str(run.get("cores", "?")) for run in runs}))
    lines.append(
        f"Command: `python bench/realsize.py {' '.join(sys.argv[1:])}`; each recipe "
        f"runs `snakemake --cores {cores} --resources gpu=1 --configfile config/{CHECK.name}.yaml recipe.yaml` "
        "in an empty folder, recipe.yaml setting `train.loss`; for `<recipe>@<seed>` also the dataset's and the "
        "training's seed (an independent draw of cases and training; the others use seed 0)."
    )
    return "\n".join(lines) + "\n"


def earlier_runs() -> dict[str, dict[str, Any]]:
    """The runs of the check's last results file, by recipe (rows whose run folder is gone, e.g. another machine)."""
    path = RESULTS / f"{CHECK.name}.json"
    if not path.is_file():
        return {}
    return {run["recipe"]: run for run in json.loads(path.read_text()).get("runs", []) if "recipe" in run}


def update_readme(table: str) -> bool:
    """Replace the text between README.md's markers of the check; False when the markers are missing."""
    text = README.read_text()
    markers = CHECK.markers
    start, end = (text.find(m) for m in markers)
    if start < 0 or end < start:
        return False
    README.write_text(text[: start + len(markers[0])] + "\n" + table + text[end:])
    return True


def main() -> None:
    global CHECK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", choices=CHECKS, default="realsize", help="which check (default: %(default)s)")
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=list(DEFAULT_RECIPES),
        help="train.loss values, one workflow run each (default: %(default)s)",
    )
    parser.add_argument("--cores", default="2", help="snakemake --cores (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the snakemake commands and run nothing")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="tabulate a recipe's earlier successful run (its run.json, else its row in bench/results/<check>.json) "
             "instead of running it again",
    )
    parser.add_argument(
        "--redecode",
        action="store_true",
        help="validate and predict each recipe's earlier run again with the current code (no retraining)",
    )
    parser.add_argument("--no-readme", action="store_true", help="leave README.md's table as it is")
    args = parser.parse_args()
    CHECK = Check(args.check)
    if args.dry_run:
        for recipe in args.recipes:
            say(f"# {recipe}: {recipe_dir(recipe) / 'recipe.yaml'} holds:")
            say("\n".join(f"#   {line}" for line in recipe_config(recipe).splitlines()))
            say(shlex.join(snakemake_command(recipe, cores=args.cores)))
        return
    runs = []
    earlier = earlier_runs() if args.reuse else {}
    for recipe in args.recipes:
        previous = recipe_dir(recipe) / "run.json"
        if args.redecode:
            runs.append(collect(redecode_run(recipe, cores=args.cores)))
            continue
        if args.reuse and not previous.is_file() and recipe in earlier:
            say(f"{recipe}: reusing its row of {RESULTS / f'{CHECK.name}.json'} (its run folder is gone)")
            runs.append(earlier[recipe])
            continue
        record = json.loads(previous.read_text()) if args.reuse and previous.is_file() else None
        if record is None or record["returncode"]:
            record = run_recipe(recipe, cores=args.cores)
        else:
            say(f"{recipe}: reusing the run of {record['date']} ({record['seconds'] / 60:.1f} min)")
        runs.append(collect(record))
    machine = machine_info()
    table = markdown(runs, machine)
    path = write_result(
        CHECK.name,
        {
            "benchmark": f"workflow on config/{CHECK.name}.yaml per recipe",
            "dataset": CHECK.dataset,
            "config": str(CHECK.config.relative_to(REPO)),
            "runs": runs,
        },
    )
    (RESULTS / f"{CHECK.name}.md").write_text(table)
    say(table)
    say(f"wrote {path} and {RESULTS / f'{CHECK.name}.md'}")
    if not args.no_readme:
        say("README.md table updated" if update_readme(table) else f"README.md has no {CHECK.markers[0]} marker")


if __name__ == "__main__":
    main()
