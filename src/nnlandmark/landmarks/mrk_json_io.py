"""3D Slicer markups JSON (.mrk.json, schema markups-schema-v1.0.3): a point list in LPS or RAS."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from nnlandmark.landmarks.json_io import RAS_FLIP, coordinate_triple, load_json_document
from nnlandmark.landmarks.landmark_set import LandmarkError, LandmarkSet

SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/"
    "Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"
)
# Slicer's identity orientation expressed in LPS (it negates the first two rows when writing LPS).
_LPS_ORIENTATION = [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0]
# Slicer accepts the old numeric codes for the coordinate system, too.
_SYSTEMS = {"LPS": "LPS", "1": "LPS", "RAS": "RAS", "0": "RAS"}
_UNITS_TO_MM = {"mm": 1.0, "um": 1e-3}
_STATUSES = ("defined", "preview", "undefined", "missing")
# Slicer writes "missing" for a point skipped while placing and "preview" for one not yet placed: neither
# is a landmark. Skipping is a deliberate "absent" (info); a preview may be an unfinished placement (warning).
_NOT_PLACED = {
    "missing": (logging.INFO, "skipped (positionStatus missing)"),
    "preview": (logging.WARNING, "not placed (positionStatus preview)"),
}

log = logging.getLogger(__name__)


def _fiducial_markup(doc: Any, *, source: str) -> dict[str, Any]:
    """The first markup of type Fiducial, else the only markup in the file."""
    markups = doc.get("markups") if isinstance(doc, dict) else None
    if not isinstance(markups, list) or not markups:
        message = (
            f'{source}: expected a JSON object with a non-empty "markups" list; '
            "is this a Slicer .mrk.json file?"
        )
        raise LandmarkError(message)
    fiducials = [m for m in markups if isinstance(m, dict) and m.get("type") == "Fiducial"]
    if fiducials:
        return fiducials[0]
    if len(markups) == 1 and isinstance(markups[0], dict):
        return markups[0]
    types = [m.get("type") if isinstance(m, dict) else m for m in markups]
    message = (
        f"{source}: no markup of type 'Fiducial' among {len(markups)} markups (types {types}); "
        "save the landmarks as a point list"
    )
    raise LandmarkError(message)


def _scale_to_mm(units: object, *, source: str) -> float:
    """Factor to mm from ``coordinateUnits`` (a UCUM string or a [code, scheme, meaning] list)."""
    code = units[0] if isinstance(units, list) and units else units
    if code not in _UNITS_TO_MM:
        message = f"{source}: unsupported coordinateUnits {units!r}; expected 'mm' or 'um'"
        raise LandmarkError(message)
    return _UNITS_TO_MM[code]  # type: ignore[index]


def parse_mrk_json(text: str, *, source: str = "<string>") -> LandmarkSet:
    """A LandmarkSet (LPS mm) from .mrk.json text; only positionStatus "defined" is a present landmark."""
    markup = _fiducial_markup(load_json_document(text, source=source), source=source)
    raw_system = str(markup.get("coordinateSystem", "LPS"))
    system = _SYSTEMS.get(raw_system.upper())
    if system is None:
        message = f"{source}: unknown coordinateSystem {raw_system!r}; expected 'LPS' or 'RAS'"
        raise LandmarkError(message)
    scale = _scale_to_mm(markup.get("coordinateUnits", "mm"), source=source)
    flip = (RAS_FLIP if system == "RAS" else np.ones(3)) * scale

    control_points = markup.get("controlPoints", [])
    if not isinstance(control_points, list):
        message = f'{source}: "controlPoints" must be a list, got {type(control_points).__name__}'
        raise LandmarkError(message)
    names: list[str] = []
    points = np.full((len(control_points), 3), np.nan)
    present = np.zeros(len(control_points), dtype=bool)
    seen: dict[str, int] = {}
    for i, cp in enumerate(control_points):
        where = f"{source}: control point #{i + 1}"
        name = cp.get("label") if isinstance(cp, dict) else None
        if not isinstance(name, str) or not name:
            message = f'{where}: expected an object with a non-empty "label", got {cp!r}'
            raise LandmarkError(message)
        if name in seen:
            message = (
                f"{where}: duplicate landmark label {name!r} (also control point #{seen[name]}); "
                "labels must be unique"
            )
            raise LandmarkError(message)
        seen[name] = i + 1
        names.append(name)
        # As in Slicer: without a positionStatus a point is defined exactly when it has a position.
        status = cp.get("positionStatus", "defined" if "position" in cp else "undefined")
        if status not in _STATUSES:
            message = f"{where} ({name!r}): unknown positionStatus {status!r}; expected one of {_STATUSES}"
            raise LandmarkError(message)
        if status in _NOT_PLACED:
            level, what = _NOT_PLACED[status]
            log.log(level, "%s: point %r is %s; taken as absent", source, name, what)
        elif status == "defined":
            points[i] = coordinate_triple(cp.get("position"), where=f"{where} ({name!r})") * flip
            present[i] = True
    return LandmarkSet(tuple(names), points, present)


def _control_point(index: int, name: str, position: list[float] | None) -> dict[str, Any]:
    return {
        "id": str(index + 1),
        "label": name,
        "description": "",
        "associatedNodeID": "",
        # Slicer reads coordinates only as JSON doubles (0.0, not 0), so every value is a float.
        "position": position if position is not None else [0.0, 0.0, 0.0],
        "orientation": list(_LPS_ORIENTATION),
        "selected": True,
        "locked": False,
        "visibility": True,
        "positionStatus": "defined" if position is not None else "undefined",
    }


def format_mrk_json(landmarks: LandmarkSet) -> str:
    """.mrk.json text (one Fiducial point list, LPS mm) for 3D Slicer 5; absent points are undefined."""
    control_points = [
        _control_point(i, name, [float(v) for v in landmarks.points[i]] if landmarks.present[i] else None)
        for i, name in enumerate(landmarks.names)
    ]
    markup = {
        "type": "Fiducial",
        "coordinateSystem": "LPS",
        "coordinateUnits": "mm",
        "locked": False,
        "fixedNumberOfControlPoints": False,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(control_points),
        "controlPoints": control_points,
        "measurements": [],
    }
    return json.dumps({"@schema": SCHEMA, "markups": [markup]}, indent=4, allow_nan=False) + "\n"
