"""The benchmark's tables, one function each: numbers computed, then written as CSV, Markdown, LaTeX and HTML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from nnlandmark.evaluation.accuracy import accuracy_table, per_landmark_accuracy
from nnlandmark.evaluation.interrater import CONSENSUS_RULE, consensus_rule
from nnlandmark.evaluation.interrater_summary import (
    ALL,
    POOLED_RATER_CONSENSUS,
    interrater_per_landmark,
    summarize_consensus,
    summarize_rater_pairs,
)
from nnlandmark.evaluation.published import PUBLISHED, beside_measured, published_table
from nnlandmark.evaluation.statistics import BootstrapSettings
from nnlandmark.evaluation.summary import DETECTED_CONVENTION, SDR_CONVENTION, check_thresholds, sdr_column
from nnlandmark.evaluation.table_formats import Column, integer, p_value, text, value, with_ci, write_table

POOLED = "every annotation vs the consensus of the others"
POOLED_RATERS = "every rater vs the mean of the other raters (reference = raters' mean, left out)"


def _ci_text(settings: BootstrapSettings) -> str:
    return (f"{100 * settings.confidence:g} % confidence intervals in brackets: percentile bootstrap over cases "
            f"({settings.n_resamples} resamples, seed {settings.seed})")


def _sdr_columns(thresholds: Sequence[float], *, ci: bool, digits: int = 1) -> list[Column]:
    """SDR over every reference landmark; the header says that a missed landmark is a failure."""
    make = with_ci if ci else value
    return [make(sdr_column(t), f"SDR {t:g} mm, missed = fail (%)", digits=digits) for t in thresholds]


def _detected_columns(*, median: bool = True, of: str = "of detected") -> list[Column]:
    """Detected count, MRE with CI, SD (and median) over the detected landmarks, with the missed count beside."""
    return [integer("n_detected", "Detected"), with_ci("mre_mm", f"MRE {of} (mm)"), value("sd_mm", f"SD {of} (mm)"),
            *([value("median_mm", f"Median {of} (mm)")] if median else []), integer("n_missed", "Missed")]


CONVENTIONS = (f"{DETECTED_CONVENTION}. {SDR_CONVENTION} (denominator: the reference landmarks). False "
               "detections (reference absent, predicted present) enter neither and are counted")


def _source() -> Column:
    """"measured here", or "published: <citation>"."""
    return Column("Source", lambda row: str(row["origin"]) if row["origin"] != PUBLISHED
                  else f"{PUBLISHED}: {row['citation']}", "l")


def write_accuracy(
    errors: pd.DataFrame, stem: str | Path, *, dataset: str, thresholds: Sequence[float], settings: BootstrapSettings
) -> pd.DataFrame:
    """Per method: MRE, SD, median, SDR with CIs, missed and false detections, against the reference."""
    thresholds = check_thresholds(thresholds)
    table = accuracy_table(errors, sdr_thresholds_mm=thresholds, settings=settings)
    columns = [text("method", "Method"), integer("n_cases", "Cases"), *_detected_columns(),
               integer("n_landmarks", "Reference landmarks"), *_sdr_columns(thresholds, ci=True),
               integer("n_false_detections", "False detections")]
    caption = (f"Accuracy on the {dataset} test cases against the reference annotation. {CONVENTIONS}. "
               f"{_ci_text(settings)}; each interval resamples the landmarks its estimate uses.")
    write_table(table, stem, columns=columns, caption=caption, label=f"tab:{dataset}-accuracy")
    return table


def write_per_landmark(
    errors: pd.DataFrame, stem: str | Path, *, dataset: str, settings: BootstrapSettings
) -> pd.DataFrame:
    """Per landmark and method (landmark-major): detected, MRE with CI, SD, median, max, missed, false."""
    table = per_landmark_accuracy(errors, settings=settings)
    order = {name: i for i, name in enumerate(dict.fromkeys(errors["landmark"]))}
    table = table.sort_values("landmark", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    first, *detected = _detected_columns()
    columns = [text("landmark", "Landmark"), text("method", "Method"), first, *detected[:-1],
               value("max_mm", "Max of detected (mm)"), detected[-1], integer("n_false_detections", "False detections")]
    caption = (f"Radial error per landmark on the {dataset} test cases. {DETECTED_CONVENTION}; false detections "
               f"(reference absent, predicted present) are counted. {_ci_text(settings)}.")
    write_table(table, stem, columns=columns, caption=caption, label=f"tab:{dataset}-per-landmark")
    return table


def _reference_role(reference_is_consensus: bool) -> str:
    return ("the reference, itself the mean of the raters, is left out" if reference_is_consensus
            else "the reference is one of them")


def write_rater_pairs(
    pairs: pd.DataFrame, stem: str | Path, *, dataset: str, settings: BootstrapSettings,
    reference_is_consensus: bool = False,
) -> pd.DataFrame:
    """Per pair of annotations and pooled: rater-vs-rater distances."""
    table = summarize_rater_pairs(pairs, settings=settings)
    columns = [text("annotator_a", "Annotation A"), text("annotator_b", "Annotation B"), integer("n_cases", "Cases"),
               integer("n_landmarks", "Landmarks"), with_ci("mre_mm", "MRE (mm)"), value("sd_mm", "SD (mm)"),
               value("median_mm", "Median (mm)"), integer("n_presence_disagreements", "Presence disagreements")]
    caption = (f"Rater vs rater on the {dataset} test cases with two or more annotations "
               f"({_reference_role(reference_is_consensus)}): radial distance between the two annotations of a landmark, where both mark it "
               f"present; '{ALL}' pools every pair. {_ci_text(settings)}.")
    write_table(table, stem, columns=columns, caption=caption, label=f"tab:{dataset}-rater-pairs")
    return table


def _versus_columns(key: Column) -> list[Column]:
    return [key, integer("n_pairs", "Pairs"), with_ci("annotator_mre_mm", "Annotation vs consensus (mm)"),
            with_ci("model_mre_mm", "Model vs consensus (mm)"), with_ci("difference_mm", "Model − annotation (mm)"),
            p_value("wilcoxon_p", "Wilcoxon p")]


def write_interrater(
    consensus: pd.DataFrame, stem: str | Path, *, dataset: str, settings: BootstrapSettings,
    reference_is_consensus: bool = False,
) -> pd.DataFrame:
    """Per held-out annotation and pooled: annotation and model against the same consensus."""
    table = summarize_consensus(consensus, by="annotator", settings=settings,
                                reference_is_consensus=reference_is_consensus)
    first, *rest = _versus_columns(text("annotator", "Annotation"))
    columns = [first, text("consensus", "Consensus"), integer("n_cases", "Cases"), *rest,
               integer("n_annotator_absent", "Annotation absent"), integer("n_model_missed", "Model missed"),
               integer("n_model_false_detections", "Model false detections")]
    caption = (f"Model vs inter-rater variability on the {dataset} test cases with two or more annotations "
               f"({_reference_role(reference_is_consensus)}). "
               f"Consensus: {consensus_rule(reference_is_consensus)}. Each annotation and the model are compared with the same consensus "
               "on the same cases and landmarks (pairs: annotation, consensus and model all present); "
               f"'{ALL}' pools every held-out annotation. Wilcoxon signed-rank test of model vs annotation errors "
               "paired by case and landmark (pairs treated as independent, so descriptive). "
               f"{_ci_text(settings)}.")
    write_table(table, stem, columns=columns, caption=caption, label=f"tab:{dataset}-interrater")
    return table


def write_interrater_per_landmark(
    consensus: pd.DataFrame, pairs: pd.DataFrame, stem: str | Path, *, dataset: str, settings: BootstrapSettings,
    reference_is_consensus: bool = False,
) -> pd.DataFrame:
    """Per landmark: rater-vs-rater MRE, and annotations and model against the same consensus."""
    table = interrater_per_landmark(consensus, pairs, settings=settings, reference_is_consensus=reference_is_consensus)
    first, *rest = _versus_columns(text("landmark", "Landmark"))
    columns = [first, value("pairwise_mre_mm", "Rater vs rater (mm)"), *rest]
    caption = (f"Inter-rater comparison per landmark on the {dataset} test cases: rater-vs-rater MRE over all "
               f"pairs of annotations, and each annotation and the model against the same consensus "
               f"(pooled over held-out annotations; {_reference_role(reference_is_consensus)}). "
               f"Consensus: {consensus_rule(reference_is_consensus)}. {_ci_text(settings)}.")
    write_table(table, stem, columns=columns, caption=caption, label=f"tab:{dataset}-interrater-per-landmark")
    return table


def write_paper_accuracy(
    accuracy: Mapping[str, pd.DataFrame], published: Mapping[str, Sequence[Mapping[str, object]]], stem: str | Path,
    *, thresholds: Sequence[float],
) -> pd.DataFrame:
    """Every dataset's accuracy table, with the published references of its config block beside it."""
    thresholds = check_thresholds(thresholds)
    measured = pd.concat([t.assign(dataset=d) for d, t in accuracy.items()], ignore_index=True)
    measured = measured[["dataset", *[c for c in measured.columns if c != "dataset"]]]
    table = beside_measured(measured, published_table(published, kind="method"))
    for column in ["n_cases", "n_detected", "mre_mm", "mre_mm_ci_low", "mre_mm_ci_high", "sd_mm", "n_missed",
                   "n_landmarks", *map(sdr_column, thresholds), "n_false_detections"]:
        if column not in table.columns:
            table[column] = float("nan")
    columns = [text("dataset", "Dataset"), text("method", "Method"), _source(), integer("n_cases", "Cases"),
               *_detected_columns(median=False, of="(measured: of detected)"),
               integer("n_landmarks", "Reference landmarks"),
               *_sdr_columns(thresholds, ci=False, digits=2), integer("n_false_detections", "False detections")]
    caption = ("Accuracy per dataset: numbers measured here (with percentile-bootstrap confidence intervals "
               "over cases) beside published numbers, which come from the cited papers and were not measured "
               f"here (their test sets and protocols may differ). In measured rows: {CONVENTIONS}. The measured "
               "SDR columns thus follow the published MML benchmark's convention (every reference landmark counts) "
               "and are the ones to compare with published SDRs; a published MRE or SD follows its paper's protocol.")
    write_table(table, stem, columns=columns, caption=caption, label="tab:accuracy")
    return table


def write_paper_interrater(
    interrater: Mapping[str, pd.DataFrame], published: Mapping[str, Sequence[Mapping[str, object]]], stem: str | Path
) -> pd.DataFrame:
    """Per dataset: the pooled annotation-vs-consensus and model-vs-consensus row, and published inter-rater values."""
    rows = []
    for dataset, table in interrater.items():
        pooled = table[table["annotator"] == ALL] if (table["annotator"] == ALL).any() else table.head(1)
        rows += [{"dataset": dataset, **row, "method": POOLED_RATERS if row["consensus"] == POOLED_RATER_CONSENSUS
                  else POOLED} for row in pooled.to_dict("records")]
    first = next(iter(interrater.values()), pd.DataFrame())
    measured = pd.DataFrame(rows, columns=["dataset", "method", *first.columns])
    refs = published_table(published, kind="inter-rater").rename(columns={"mre_mm": "annotator_mre_mm"})
    table = beside_measured(measured, refs)
    columns = [text("dataset", "Dataset"), text("method", "Comparison"), _source(), integer("n_cases", "Cases"),
               *_versus_columns(text("method", ""))[1:]]
    caption = ("Model vs inter-rater variability per dataset. Measured rows pool every annotation against the "
               f"leave-one-out consensus of the others ({CONSENSUS_RULE}), with the model against the same "
               f"consensus; where the reference is itself the raters' mean (comparison '{POOLED_RATERS}') it is "
               "left out and every rater is held out against the other raters, the model against the same point. "
               "Published rows give the inter-rater error reported by the cited paper.")
    write_table(table, stem, columns=columns, caption=caption, label="tab:interrater")
    return table
