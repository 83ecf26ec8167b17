"""Independent, deliberately plain re-implementations of every benchmark table, for tests to compare against.

Only the documented definitions are shared with the package (e.g. the bootstrap's draw order), not its code:
loops over dicts and lists instead of pandas group-bys and vectorised bincounts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

Point = tuple[float, float, float] | None
Annotation = dict[str, Point]  # landmark -> point or None (absent)


def naive_ci(values_by_case: Mapping[str, Sequence[float]], *, n_resamples: int, seed: int,
             confidence: float) -> tuple[float, float]:
    """Percentile bootstrap of the pooled mean, resampling cases: the package's documented algorithm."""
    cases = sorted(c for c, v in values_by_case.items() if len(v))
    if len(cases) < 2:
        return math.nan, math.nan
    draws = np.random.default_rng(seed).integers(0, len(cases), size=(n_resamples, len(cases)))
    means = []
    for row in draws:
        pooled = [v for i in row for v in values_by_case[cases[i]]]
        means.append(sum(pooled) / len(pooled))
    alpha = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [alpha, 100 - alpha])
    return float(low), float(high)


def _by_case(rows: Sequence[tuple[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for case, v in rows:
        out.setdefault(case, []).append(v)
    return out


def _describe(values: Sequence[float]) -> dict[str, float]:
    n = len(values)
    return {"mre_mm": sum(values) / n if n else math.nan,
            "sd_mm": float(np.std(values, ddof=1)) if n > 1 else math.nan,
            "median_mm": float(np.median(values)) if n else math.nan,
            "max_mm": max(values) if n else math.nan}


def accuracy(errors: pd.DataFrame, thresholds: Sequence[float], boot: dict) -> pd.DataFrame:
    """MRE, SD, median over detected landmarks; SDR over every reference landmark, a missed one failing."""
    rows = []
    for method in dict.fromkeys(errors["method"]):
        records = errors[errors["method"] == method].to_dict("records")
        ev = [(r["case"], r["error_mm"]) for r in records if r["ref_present"] and r["pred_present"]]
        scored = [(r["case"], r["error_mm"] if r["pred_present"] else None) for r in records if r["ref_present"]]
        values = [e for _, e in ev]
        d = _describe(values)
        row = {"method": method, "n_cases": len({r["case"] for r in records}), "n_detected": len(values),
               "n_landmarks": len(scored), "mre_mm": d["mre_mm"]}
        row["mre_mm_ci_low"], row["mre_mm_ci_high"] = naive_ci(_by_case(ev), **boot)
        row["sd_mm"], row["median_mm"] = d["sd_mm"], d["median_mm"]
        for t in thresholds:
            name = f"sdr_{t:g}mm"
            hits = [(c, 100.0 if e is not None and e <= t else 0.0) for c, e in scored]
            row[name] = sum(h for _, h in hits) / len(hits) if hits else math.nan
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = naive_ci(_by_case(hits), **boot)
        row["n_missed"] = sum(r["ref_present"] and not r["pred_present"] for r in records)
        row["n_false_detections"] = sum(r["pred_present"] and not r["ref_present"] for r in records)
        rows.append(row)
    return pd.DataFrame(rows)


def per_landmark(errors: pd.DataFrame, boot: dict) -> pd.DataFrame:
    """Landmark-major (landmarks in order of appearance), methods in order of appearance."""
    rows = []
    for landmark in dict.fromkeys(errors["landmark"]):
        for method in dict.fromkeys(errors["method"]):
            records = errors[(errors["method"] == method) & (errors["landmark"] == landmark)].to_dict("records")
            ev = [(r["case"], r["error_mm"]) for r in records if r["ref_present"] and r["pred_present"]]
            d = _describe([e for _, e in ev])
            low, high = naive_ci(_by_case(ev), **boot)
            rows.append({"method": method, "landmark": landmark, "n_detected": len(ev), "mre_mm": d["mre_mm"],
                         "mre_mm_ci_low": low, "mre_mm_ci_high": high, "sd_mm": d["sd_mm"],
                         "median_mm": d["median_mm"], "max_mm": d["max_mm"],
                         "n_missed": sum(r["ref_present"] and not r["pred_present"] for r in records),
                         "n_false_detections": sum(r["pred_present"] and not r["ref_present"] for r in records)})
    return pd.DataFrame(rows)


def _dist(p: Point, q: Point) -> float:
    return math.dist(p, q) if p is not None and q is not None else math.nan


def annotations_from_errors(errors: pd.DataFrame, side: str) -> dict[str, Annotation]:
    """case -> landmark -> point of the model rows' reference (side "ref") or prediction ("pred")."""
    out: dict[str, Annotation] = {}
    for r in errors[errors["method"] == "model"].to_dict("records"):
        point = (r[f"x_{side}"], r[f"y_{side}"], r[f"z_{side}"]) if r[f"{side}_present"] else None
        out.setdefault(r["case"], {})[r["landmark"]] = point
    return out


def interrater(annotations: Mapping[str, Mapping[str, Annotation]], model: Mapping[str, Annotation],
               names: Sequence[str], boot: dict, *, reference_is_consensus: bool = False) -> dict[str, pd.DataFrame]:
    """Tables "pairs", "by_annotator", "by_landmark" as the package defines them, and the row-level
    distances "rows" (annotator, case, landmark, annotator_error_mm, model_error_mm) and "pair_rows".

    ``reference_is_consensus``: the annotation named "reference" is the raters' mean and takes no part."""
    annotators = [a for a in annotations if not (reference_is_consensus and a == "reference")]
    counts = {c: sum(c in annotations[a] for a in annotators) for a in annotators for c in annotations[a]}
    cases = sorted(c for c, n in counts.items() if n >= 2 and c in model)
    pair_rows = []
    for a, b in itertools.combinations(annotators, 2):
        for case in sorted(set(annotations[a]) & set(annotations[b])):
            for k in names:
                p, q = annotations[a][case].get(k), annotations[b][case].get(k)
                pair_rows.append({"a": a, "b": b, "case": case, "landmark": k, "pa": p is not None,
                                  "pb": q is not None, "e": _dist(p, q)})
    rows = []
    for held in annotators:
        for case in cases:
            if case not in annotations[held]:
                continue
            others = [a for a in annotators if a != held and case in annotations[a]]
            for k in names:
                used = [a for a in others if annotations[a][case].get(k) is not None]
                target = (tuple(float(np.mean([annotations[a][case][k][i] for a in used])) for i in range(3))
                          if used else None)
                target = tuple(target) if target is not None else None
                own, pred = annotations[held][case].get(k), model[case].get(k)
                rows.append({"annotator": held, "case": case, "landmark": k, "used": used, "own": own is not None,
                             "target": target is not None, "model": pred is not None,
                             "ea": _dist(own, target), "em": _dist(pred, target)})

    def versus(group: list[dict], consensus: str) -> dict:
        paired = [r for r in group if r["own"] and r["target"] and r["model"]]
        a = [r["ea"] for r in paired]
        m = [r["em"] for r in paired]
        out = {"consensus": consensus, "n_cases": len({r["case"] for r in paired}), "n_pairs": len(paired)}
        for name, values in (("annotator_mre_mm", a), ("model_mre_mm", m),
                             ("difference_mm", [y - x for x, y in zip(a, m)])):
            out[name] = sum(values) / len(values) if values else math.nan
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = naive_ci(
                _by_case([(r["case"], v) for r, v in zip(paired, values)]), **boot)
        if any(x != y for x, y in zip(a, m)):
            test = stats.wilcoxon(m, a)
            out["wilcoxon_statistic"], out["wilcoxon_p"] = float(test.statistic), float(test.pvalue)
        else:
            out["wilcoxon_statistic"] = out["wilcoxon_p"] = math.nan
        out["n_annotator_absent"] = sum(r["target"] and not r["own"] for r in group)
        out["n_annotator_extra"] = sum(r["own"] and not r["target"] for r in group)
        out["n_model_missed"] = sum(r["target"] and not r["model"] for r in group)
        out["n_model_false_detections"] = sum(r["model"] and not r["target"] for r in group)
        return out

    pooled = ("leave-one-out mean of the other raters of each case (reference, their mean, left out)"
              if reference_is_consensus else "leave-one-out mean of the other annotations of each case")
    held_out = [h for h in annotators if any(r["annotator"] == h for r in rows)]
    by_annotator = []
    for held in held_out:
        group = [r for r in rows if r["annotator"] == held]
        used = sorted({a for r in group for a in r["used"]})
        by_annotator.append({"annotator": held, **versus(group, f"leave-one-out mean of {', '.join(used)}")})
    if len(held_out) > 1:
        by_annotator.append({"annotator": "all", **versus(rows, pooled)})
    by_landmark = []
    for k in dict.fromkeys(r["landmark"] for r in rows):
        both = [r["e"] for r in pair_rows if r["landmark"] == k and r["pa"] and r["pb"]]
        row = {"landmark": k, **versus([r for r in rows if r["landmark"] == k], pooled)}
        row["pairwise_n"], row["pairwise_mre_mm"] = len(both), sum(both) / len(both) if both else math.nan
        by_landmark.append(row)
    pairs = []
    keys = list(dict.fromkeys((r["a"], r["b"]) for r in pair_rows))
    for a, b in keys + ([("all", "all")] if len(keys) > 1 else []):
        group = [r for r in pair_rows if (a, b) == ("all", "all") or (r["a"], r["b"]) == (a, b)]
        ev = [(r["case"], r["e"]) for r in group if r["pa"] and r["pb"]]
        d = _describe([e for _, e in ev])
        low, high = naive_ci(_by_case(ev), **boot)
        pairs.append({"annotator_a": a, "annotator_b": b, "n_cases": len({r["case"] for r in group}),
                      "n_landmarks": len(ev), "mre_mm": d["mre_mm"], "mre_mm_ci_low": low, "mre_mm_ci_high": high,
                      "sd_mm": d["sd_mm"], "median_mm": d["median_mm"],
                      "n_presence_disagreements": sum(r["pa"] != r["pb"] for r in group)})
    return {
        "pairs": pd.DataFrame(pairs), "by_annotator": pd.DataFrame(by_annotator),
        "by_landmark": pd.DataFrame(by_landmark),
        "rows": pd.DataFrame([{"annotator": r["annotator"], "case": r["case"], "landmark": r["landmark"],
                               "annotator_error_mm": r["ea"], "model_error_mm": r["em"]} for r in rows]),
        "pair_rows": pd.DataFrame([{"annotator_a": r["a"], "annotator_b": r["b"], "case": r["case"],
                                    "landmark": r["landmark"], "error_mm": r["e"]} for r in pair_rows]),
    }


def assert_same_table(produced: pd.DataFrame, expected: pd.DataFrame, *, what: str) -> None:
    """Every expected column and row present in ``produced`` with equal text and numbers (rtol 1e-9)."""
    assert len(produced) == len(expected), f"{what}: {len(produced)} rows, expected {len(expected)}"
    for column in expected.columns:
        assert column in produced.columns, f"{what}: column {column} missing"
        for i, (got, want) in enumerate(zip(produced[column], expected[column])):
            if isinstance(want, str) or isinstance(got, str):
                assert str(got) == str(want), f"{what} row {i} {column}: {got!r} != {want!r}"
            elif want is None or (isinstance(want, float) and math.isnan(want)):
                assert pd.isna(got), f"{what} row {i} {column}: {got!r}, expected NaN"
            else:
                assert got == pytest_approx(float(want)), f"{what} row {i} {column}: {got!r} != {want!r}"


def pytest_approx(value: float):
    import pytest

    return pytest.approx(value, rel=1e-9, abs=1e-12)
