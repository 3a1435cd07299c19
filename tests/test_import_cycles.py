"""The kit's packages import each other without a cycle at run time (`python -m tools.import_cycles`)."""

from __future__ import annotations

import ast

import pytest

from tools import import_cycles


def test_helpers_and_sandbox_have_no_import_cycle_at_run_time(capsys):
    assert import_cycles.main([]) == 0
    assert "no import cycle at run time" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycles_are_the_strongly_connected_groups(edges, expected):
    assert sorted(import_cycles.cycles(edges)) == expected


def test_an_import_under_type_checking_does_not_count_and_a_deferred_one_does():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .kit import Kit\n"
        "def later():\n    from .flow import run\n"
    )
    nodes = list(import_cycles._runtime_nodes(ast.parse(source)))
    imported = {n.module for n in nodes if isinstance(n, ast.ImportFrom)}
    assert imported == {"typing", "flow"}
