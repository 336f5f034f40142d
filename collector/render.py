"""Rendering a published report as the analyst's table, CSV or JSON.

The table reads like the 2017 police analysis: tool display name, count,
share. Enum values are shown by their lower-case names (``unknown_call``);
tool ids by their catalogue display name in the table, and both id and name
in CSV and JSON so machine readers keep the stable id.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from collector.model import Dimension, Outcome, Stage, Trigger
from collector.queries import Report

_ENUMS: dict[Dimension, Any] = {
    Dimension.TRIGGER: Trigger,
    Dimension.STAGE: Stage,
    Dimension.OUTCOME: Outcome,
}


def dim_name(dim: Dimension) -> str:
    """``tool``, ``month``, ``trigger`` ... as used by ``--by``."""
    return dim.name.lower()


def _value(dim: Dimension, value: str | int) -> str:
    enum_type = _ENUMS.get(dim)
    if enum_type is not None:
        try:
            return str(enum_type(value).name.lower())
        except ValueError:
            return str(value)
    return str(value)


def _share(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f} %"


def as_json(report: Report, display_name: Callable[[str], str]) -> str:
    """A JSON document with rows, total, suppressed_cells and min_cell_count."""
    rows = []
    for row in report.rows:
        out: dict[str, Any] = {}
        for dim, value in zip(report.group_by, row.key, strict=True):
            out[dim_name(dim)] = _value(dim, value)
            if dim is Dimension.TOOL:
                out["name"] = display_name(str(value))
        out["count"] = row.count
        out["share"] = row.share
        out["suppressed"] = row.suppressed
        rows.append(out)
    doc = {
        "group_by": [dim_name(d) for d in report.group_by],
        "rows": rows,
        "total": report.total,
        "suppressed_cells": report.suppressed_cells,
        "min_cell_count": report.min_cell_count,
    }
    return json.dumps(doc, indent=2)


def as_csv(report: Report, display_name: Callable[[str], str]) -> str:
    """CSV with a header; a suppressed cell has an empty count and share."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header: list[str] = []
    for dim in report.group_by:
        header += ["tool_id", "tool_name"] if dim is Dimension.TOOL else [dim_name(dim)]
    writer.writerow([*header, "count", "share", "suppressed"])
    for row in report.rows:
        cells: list[str] = []
        for dim, value in zip(report.group_by, row.key, strict=True):
            if dim is Dimension.TOOL:
                cells += [str(value), display_name(str(value))]
            else:
                cells.append(_value(dim, value))
        count = "" if row.count is None else str(row.count)
        share = "" if row.share is None else f"{row.share:.6f}"
        writer.writerow([*cells, count, share, "true" if row.suppressed else "false"])
    return buf.getvalue()


def as_table(report: Report, display_name: Callable[[str], str]) -> str:
    """An aligned text table, then a line with the total and the suppressed cells."""
    header = [dim_name(d) for d in report.group_by] + ["count", "share"]
    body: list[list[str]] = []
    for row in report.rows:
        cells = [
            display_name(str(v)) if d is Dimension.TOOL else (_value(d, v) or "-")
            for d, v in zip(report.group_by, row.key, strict=True)
        ]
        count = f"<{report.min_cell_count}" if row.count is None else str(row.count)
        body.append([*cells, count, _share(row.share)])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    numeric = len(report.group_by)  # count and share are right-aligned

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    if not body:
        out.append("(no counts in this range)")
    note = f"total {report.total} over published cells"
    if report.suppressed_cells:
        note += (
            f"; {report.suppressed_cells} cell(s) below {report.min_cell_count} suppressed "
            "and not in the total"
        )
    out += ["", note]
    return "\n".join(out)


RENDERERS: dict[str, Callable[[Report, Callable[[str], str]], str]] = {
    "table": as_table,
    "csv": as_csv,
    "json": as_json,
}
