"""Generated blocks in README/docs: only the text between the markers changes."""

import pytest

from benchmarks.generated import replace_block


def test_replaces_only_the_block():
    text = "intro\n<!-- generated:t -->\nold 1\nold 2\n<!-- /generated:t -->\noutro\n"
    out = replace_block(text, "t", ["| a |", "| 1 |"])
    assert out == "intro\n<!-- generated:t -->\n| a |\n| 1 |\n<!-- /generated:t -->\noutro\n"
    assert replace_block(out, "t", ["| a |", "| 1 |"]) == out  # idempotent


def test_missing_block_is_an_error():
    with pytest.raises(ValueError, match="no generated block"):
        replace_block("no markers here", "t", ["x"])
