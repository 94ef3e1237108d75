"""Line numbers of the keys of a YAML document, so a bad value can be reported as
``file:line: field 'a.b': why``. Used by every YAML file the project reads."""

from __future__ import annotations

from typing import Any

import yaml

Lines = dict[tuple[Any, ...], int]


def key_lines(node: yaml.Node | None) -> Lines:
    """``{key path: 1-based line}`` for every mapping key and sequence item under ``node``
    (``yaml.compose``'s result); the empty path is the document's first line."""
    lines: Lines = {}
    if node is not None:
        _walk(node, (), lines)
    return lines


def _walk(node: yaml.Node, path: tuple[Any, ...], lines: Lines) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            kpath = (*path, key.value)
            lines[kpath] = key.start_mark.line + 1
            _walk(value, kpath, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)
