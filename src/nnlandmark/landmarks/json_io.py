"""Our own landmark JSON format: names, LPS mm positions, present flags and optional confidences."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from nnlandmark.landmarks.landmark_set import LandmarkError, LandmarkSet

# Multiply a point by this to convert between RAS and LPS (the conversion is its own inverse).
RAS_FLIP = np.array([-1.0, -1.0, 1.0])


def load_json_document(text: str, *, source: str) -> Any:
    """Parse JSON text; syntax errors become a LandmarkError naming ``source`` and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        message = (
            f"{source}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno}); "
            "fix the syntax or export the file again"
        )
        raise LandmarkError(message) from None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def coordinate_triple(value: object, *, where: str) -> np.ndarray:
    """Three finite numbers from a JSON value, or a LandmarkError saying what was found at ``where``."""
    if not isinstance(value, list) or len(value) != 3 or not all(_is_number(v) for v in value):
        message = f"{where}: expected 3 numeric coordinates, got {value!r}"
        raise LandmarkError(message)
    point = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(point)):
        message = (
            f"{where}: NaN or infinite coordinate {value!r} in a present landmark; fix it or mark it absent"
        )
        raise LandmarkError(message)
    return point


def parse_json(text: str, *, source: str = "<string>") -> LandmarkSet:
    """A LandmarkSet from our JSON format; ``source`` names the file in error messages."""
    doc = load_json_document(text, source=source)
    if not isinstance(doc, dict) or not isinstance(doc.get("landmarks"), list):
        message = f'{source}: expected a JSON object with a "landmarks" list, got {type(doc).__name__}'
        raise LandmarkError(message)
    system = doc.get("coordinate_system", "LPS")
    if system not in ("LPS", "RAS"):
        message = f'{source}: unknown "coordinate_system" {system!r}; expected "LPS" or "RAS"'
        raise LandmarkError(message)
    units = doc.get("units", "mm")
    if units != "mm":
        message = f'{source}: unsupported "units" {units!r}; landmark files must be in "mm"'
        raise LandmarkError(message)
    flip = RAS_FLIP if system == "RAS" else np.ones(3)

    items = doc["landmarks"]
    names: list[str] = []
    points = np.full((len(items), 3), np.nan)
    present = np.zeros(len(items), dtype=bool)
    confidence = np.full(len(items), np.nan)
    has_confidence = False
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"{source}: landmark #{i + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            message = f'{where}: expected an object with a non-empty "name", got {item!r}'
            raise LandmarkError(message)
        name = item["name"]
        if name in seen:
            message = (
                f"{where}: duplicate landmark name {name!r} (also landmark #{seen[name]}); "
                "names must be unique"
            )
            raise LandmarkError(message)
        seen[name] = i + 1
        names.append(name)
        position = item.get("position")
        is_present = item.get("present", position is not None)
        if not isinstance(is_present, bool):
            message = f'{where} ({name!r}): "present" must be true or false, got {is_present!r}'
            raise LandmarkError(message)
        if is_present:
            points[i] = coordinate_triple(position, where=f"{where} ({name!r})") * flip
            present[i] = True
        if "confidence" in item:
            has_confidence = True
            value = item["confidence"]
            if value is not None and not _is_number(value):
                message = f'{where} ({name!r}): "confidence" must be a number or null, got {value!r}'
                raise LandmarkError(message)
            confidence[i] = np.nan if value is None else float(value)
    return LandmarkSet(tuple(names), points, present, confidence if has_confidence else None)


def format_json(landmarks: LandmarkSet) -> str:
    """Our JSON format for ``landmarks`` (LPS mm); confidences only when the set carries them."""
    items: list[dict[str, Any]] = []
    for i, name in enumerate(landmarks.names):
        is_present = bool(landmarks.present[i])
        item: dict[str, Any] = {
            "name": name,
            "position": [float(v) for v in landmarks.points[i]] if is_present else None,
            "present": is_present,
        }
        if landmarks.confidence is not None:
            value = float(landmarks.confidence[i])
            item["confidence"] = value if math.isfinite(value) else None
        items.append(item)
    doc = {"coordinate_system": "LPS", "units": "mm", "landmarks": items}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
