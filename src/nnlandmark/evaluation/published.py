"""Published reference numbers (kept in the config, not in code) beside the numbers measured here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

MEASURED = "measured here"
PUBLISHED = "published"
KINDS = ("method", "inter-rater")
NUMERIC_KEYS = ("n_cases", "n_landmarks", "mre_mm", "sd_mm", "median_mm")
_SDR_KEY = re.compile(r"^sdr_[0-9.]+mm$")
_TEXT_KEYS = ("method", "source", "kind", "note")


def check_entry(entry: Mapping[str, object], *, where: str) -> dict[str, object]:
    """One published entry as a flat dict; unknown keys and missing ``method``/``source`` are refused."""
    unknown = [k for k in entry if k not in _TEXT_KEYS + NUMERIC_KEYS and not _SDR_KEY.match(str(k))]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; expected {', '.join(_TEXT_KEYS)}, "
                         f"{', '.join(NUMERIC_KEYS)} or sdr_<t>mm")
    missing = [k for k in ("method", "source") if not entry.get(k)]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    kind = str(entry.get("kind", "method"))
    if kind not in KINDS:
        raise ValueError(f"{where}: expected kind one of {', '.join(KINDS)}, got {kind!r}")
    out: dict[str, object] = {"method": str(entry["method"]), "source": str(entry["source"]), "kind": kind,
                              "note": str(entry.get("note", ""))}
    for key, v in entry.items():
        if key in NUMERIC_KEYS or _SDR_KEY.match(str(key)):
            out[str(key)] = float(v)  # type: ignore[arg-type]
    return out


def published_table(references: Mapping[str, Sequence[Mapping[str, object]]], *, kind: str | None = None) -> pd.DataFrame:
    """Rows ``dataset, method, kind, source (citation), note`` and the numbers given, per dataset.

    ``references`` maps a dataset name to the entries of the published set its config block names.
    ``kind`` keeps only entries of that kind.
    """
    rows = []
    for dataset, entries in references.items():
        for i, entry in enumerate(entries or []):
            row = check_entry(entry, where=f"published reference {i} of dataset {dataset!r}")
            if kind is None or row["kind"] == kind:
                rows.append({"dataset": dataset, **row})
    return pd.DataFrame(rows, columns=["dataset", "method", "kind", "source", "note"] if not rows else None)


def beside_measured(measured: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Measured rows (``origin`` = "measured here") followed, per dataset, by the published ones.

    Both tables need a ``dataset`` column; the result has the measured table's columns first, then
    ``origin`` and ``citation`` (the published entry's source; empty for measured rows), then any
    published column the measured table lacks. Datasets keep the measured table's order.
    """
    measured = measured.assign(origin=MEASURED, citation="")
    published = published.rename(columns={"source": "citation"}).assign(origin=PUBLISHED)
    columns = list(measured.columns) + [c for c in published.columns if c not in measured.columns]
    order = list(dict.fromkeys(list(measured["dataset"]) + list(published["dataset"])))
    parts = []
    for dataset in order:
        for part in (measured[measured["dataset"] == dataset], published[published["dataset"] == dataset]):
            if len(part):
                parts.append(part.reindex(columns=columns))
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)
    counts = [c for c in table.columns if c.startswith("n_")]
    return table.astype({c: "Int64" for c in counts})  # counts stay integers beside published gaps
