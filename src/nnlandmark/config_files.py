"""Workflow config files: a YAML syntax error or a key given twice named by file, line and column."""

from __future__ import annotations

from pathlib import Path

import yaml

from nnlandmark.errors import InputError


def yaml_syntax_problem(path: Path | str) -> str | None:
    """What is wrong with ``path`` as YAML (file, line, column and the fix), or None when it parses."""
    try:
        check_yaml_syntax(path)
    except InputError as error:
        return str(error)
    return None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that holds a key twice (plain YAML lets the second one win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    f"while reading a mapping (key {key!r} first at line {seen[key].line + 1})", node.start_mark,
                    f"key {key!r} given twice (the second would silently win); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def check_yaml_syntax(path: Path | str) -> None:
    """Raise :class:`InputError` naming ``path``, the line and the column when it is not valid YAML or holds a
    key twice in one mapping.

    Snakemake's own message ("Config file is not valid JSON or YAML") names neither, and it takes the second of
    two equal keys without a word.
    """
    path = Path(path)
    try:
        yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context, opened = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and opened is not None:
            context = f"{context} begun at line {opened.line + 1}, column {opened.column + 1}"
        detail = f"{context}: {problem}" if context else problem
        raise InputError(f"{where}: not valid YAML ({detail}); fix the file (a YAML checker shows the spot)") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8") from None
