"""The exception tree drawn in concord.domain.errors is the real one."""

from __future__ import annotations

import re

import concord.domain.errors as errors
from concord.domain.errors import ConcordError


def _drawn_tree() -> list[tuple[int, str]]:
    doc = errors.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*)(?:[├└]── )?([A-Z][A-Za-z]+)\s{2,}", line)
        if match and match.group(2) in dir(errors):
            depth = (len(line) - len(line.lstrip(" │├└─"))) // 4
            rows.append((depth, match.group(2)))
    return rows


def test_docstring_tree_matches_classes() -> None:
    rows = _drawn_tree()
    names = [name for _, name in rows]
    assert names[0] == "ConcordError"
    assert set(names) == set(errors.__all__)
    # Each drawn child's parent is the nearest shallower row above it.
    for i, (depth, name) in enumerate(rows[1:], start=1):
        parent = next(n for d, n in reversed(rows[:i]) if d < depth)
        cls = getattr(errors, name)
        assert cls.__bases__[0].__name__ == parent, f"{name} is drawn under {parent}"


def test_every_error_has_a_one_line_docstring_and_code() -> None:
    codes = set()
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, ConcordError)
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()
        codes.add(cls.code)
    assert len(codes) == len(errors.__all__)


def test_repr_and_details() -> None:
    exc = errors.InvalidInput("bad", details={"field": "x"})
    assert repr(exc) == "InvalidInput(code='invalid-input', message='bad')"
    assert exc.details == {"field": "x"}
