"""Markdown tables: the one writer behind the sweep table, the hyperparameter table and the benchmark sections."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align_numbers: bool = True) -> str:
    """A GitHub markdown table (no trailing newline); ``|`` inside a cell is escaped.

    Args:
        header: column titles.
        rows: cells, one sequence per row (``str()`` of each; None is an empty cell).
        align_numbers: right-align every column but the first (numbers line up); else all left.
    """

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join("" if c is None else str(c).replace("|", "\\|") for c in cells) + " |"

    rule = "|---" + ("|---:" if align_numbers else "|---") * (len(header) - 1) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
