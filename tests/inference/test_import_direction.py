"""Prediction does not depend on training: inference modules never import nnlandmark.training, not even lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nnlandmark.inference

INFERENCE = Path(nnlandmark.inference.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names anywhere in the file, in functions too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(INFERENCE.glob("*.py")), ids=lambda p: p.name)
def test_inference_module_imports_nothing_from_training(path: Path) -> None:
    training = sorted(m for m in imported_modules(path) if m.startswith("nnlandmark.training"))
    assert not training, f"{path.name} imports {training}: prediction must not depend on training"


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_prediction_imports_in_a_fresh_interpreter_without_training() -> None:
    loaded = run_python(
        "import sys\n"
        "import nnlandmark.inference.landmark_predictor, nnlandmark.inference.whole_case_validation\n"
        "print(sorted(m for m in sys.modules if m.startswith('nnlandmark.training')))"
    )
    assert loaded == "[]"


def test_trainer_imports_alone_in_a_fresh_interpreter() -> None:
    assert run_python("import nnlandmark.training.trainer\nprint('imported')") == "imported"
