"""The operator's raw view (not for publication): small-cell suppression within one table."""

from __future__ import annotations

import pytest

from collector.model import Cell, Dimension, Query
from collector.raw_view import publish


def test_totals_and_shares_cover_published_cells_only() -> None:
    cells = [
        Cell(("teamviewer",), 179),
        Cell(("anydesk",), 3),
        Cell(("showmypc",), 2),
        Cell(("quick_assist",), 12),
    ]
    report = publish(Query(group_by=(Dimension.TOOL,)), cells, min_cell_count=5)
    assert report.total == 191
    assert report.suppressed_cells == 2
    published = [(r.key, r.count) for r in report.rows if not r.suppressed]
    assert published == [(("teamviewer",), 179), (("quick_assist",), 12)]
    assert sum(r.share or 0 for r in report.rows) == pytest.approx(1.0)
    hidden = [r for r in report.rows if r.suppressed]
    assert all(r.count is None and r.share is None for r in hidden)


def test_suppressed_cells_are_ordered_by_key_not_by_hidden_size() -> None:
    small_first = [Cell(("b",), 1), Cell(("a",), 4), Cell(("c",), 2)]
    report = publish(Query(group_by=(Dimension.TOOL,)), small_first, min_cell_count=5)
    assert [r.key for r in report.rows] == [("a",), ("b",), ("c",)]
    reordered = publish(Query(group_by=(Dimension.TOOL,)), small_first[::-1], min_cell_count=5)
    assert reordered == report


def test_period_rows_come_in_time_order() -> None:
    cells = [
        Cell(("x", "2017-06"), 9),
        Cell(("y", "2017-02"), 5),
        Cell(("x", "2017-02"), 7),
        Cell(("z", "2017-02"), 1),
    ]
    report = publish(Query(group_by=(Dimension.TOOL, Dimension.MONTH)), cells, 5)
    assert [r.key for r in report.rows] == [
        ("x", "2017-02"),
        ("y", "2017-02"),
        ("z", "2017-02"),
        ("x", "2017-06"),
    ]


def test_min_cell_count_one_publishes_everything() -> None:
    report = publish(Query(), [Cell(("a",), 1)], min_cell_count=1)
    assert report.suppressed_cells == 0 and report.rows[0].share == 1.0
