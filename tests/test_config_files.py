"""A broken YAML config is named by file, line and column (Snakemake's own message names neither)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nnlandmark.config_files import check_yaml_syntax, yaml_syntax_problem
from nnlandmark.errors import InputError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("text", "where", "problem"), [
    ("train:\n  epochs: [1\n", "line 3, column 1", "flow sequence begun at line 2, column 11"),
    ("train:\n  epochs: 1\n threads: 2\n", "line 3, column 2", "expected <block end>, but found '<block mapping start>'"),
    ("train:\n\tepochs: 1\n", "line 2, column 1", "found character '\\t' that cannot start any token"),
])
def test_a_syntax_error_names_file_line_and_column(tmp_path: Path, text: str, where: str, problem: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        check_yaml_syntax(path)
    message = str(error.value)
    assert message.startswith(f"{path}, {where}: not valid YAML (") and problem in message
    assert "\n" not in message and yaml_syntax_problem(path) == message


def test_valid_yaml_and_the_shipped_configs_pass(tmp_path: Path) -> None:
    for path in sorted((REPO / "config").glob("*.yaml")):
        assert yaml_syntax_problem(path) is None, path
    (tmp_path / "empty.yaml").write_text("")
    assert yaml_syntax_problem(tmp_path / "empty.yaml") is None


def test_the_workflow_names_a_broken_default_config(tmp_path: Path) -> None:
    for part in ("Snakefile", "workflow", "config", "envs"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / part)
    config = tmp_path / "config" / "config.yaml"
    lines = config.read_text().splitlines()
    lines.append("broken: [1, 2")
    config.write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"error: {config}, line {len(lines) + 1}, column 1: not valid YAML" in output, output[-2000:]
    assert "Traceback" not in output and "not valid JSON or YAML" not in output


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nnlandmark import cli

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("train:\n  epochs: 3\n")
    bad.write_text("train:\n  epochs: [3\n")
    assert cli.main(["check-config", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: valid YAML\n"
    assert cli.main(["check-config", str(good), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nnlandmark check-config: error: {bad}, line 3, column 1: not valid YAML")
    assert cli.main(["check-config", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"nnlandmark check-config: error: {tmp_path / 'none.yaml'}: no such file"


def test_a_key_given_twice_is_named_not_silently_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("datasets:\n  mine:\n    name: A\n  mine:\n    name: B\n")
    message = yaml_syntax_problem(path)
    assert message is not None and message.startswith(f"{path}, line 4, column 3: not valid YAML (")
    assert "key 'mine' first at line 2" in message and "key 'mine' given twice" in message


def test_the_workflow_names_a_key_given_twice_in_a_configfile(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("train:\n  epochs: 3\n  epochs: 4\n")
    done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "-n", "--cores",
                           "1", "--configfile", str(config)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"error: {config}, line 3, column 3: not valid YAML" in output and "given twice" in output, output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "results").exists()
