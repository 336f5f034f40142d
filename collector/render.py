"""Rendering a report as the analyst's table, CSV or JSON, always saying which view it is.

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
from collector.report import RELEASE_VIEW, Report

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


def _release_doc(report: Report) -> dict[str, Any]:
    return {
        "releases": [
            {
                "id": r.release_id,
                "kind": dim_name(r.kind),
                "period": r.period,
                "provisional": r.provisional,
                "grid": [dim_name(d) for d in r.grid],
                "noise_scale": r.noise_scale,
                "threshold": r.threshold,
                "epsilon": r.epsilon,
                "delta": r.delta,
                "noisy_total": r.noisy_total,
                "cells_checksum": r.cells_checksum,
            }
            for r in report.releases
        ],
        "noise_scale": report.noise_scale,
        "threshold": report.threshold,
        "suppressed": report.suppressed,
        "release_total": report.release_total,
        "uncovered_days": report.uncovered_days,
    }


def as_json(report: Report, display_name: Callable[[str], str]) -> str:
    """A JSON document: rows and total, and which releases (or that it is the raw view)."""
    rows = []
    for row in report.rows:
        out: dict[str, Any] = {}
        for dim, value in zip(report.group_by, row.key, strict=True):
            out[dim_name(dim)] = _value(dim, value)
            if dim is Dimension.TOOL:
                out["name"] = display_name(str(value))
        out["count"] = row.count
        out["share"] = row.share
        if report.view == RELEASE_VIEW:
            out["count_ci95"] = row.count_ci95
            out["share_ci95"] = row.share_ci95
        else:
            out["suppressed"] = row.suppressed
        rows.append(out)
    doc: dict[str, Any] = {
        "view": report.view,
        "group_by": [dim_name(d) for d in report.group_by],
        "rows": rows,
        "total": report.total,
    }
    if report.view == RELEASE_VIEW:
        doc.update(_release_doc(report))
    else:
        doc.update(
            not_for_publication=True,
            suppressed_cells=report.suppressed_cells,
            min_cell_count=report.min_cell_count,
        )
    return json.dumps(doc, indent=2)


def as_csv(report: Report, display_name: Callable[[str], str]) -> str:
    """CSV with a header; every row names the view, and for releases their ids, noise, threshold."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header: list[str] = []
    for dim in report.group_by:
        header += ["tool_id", "tool_name"] if dim is Dimension.TOOL else [dim_name(dim)]
    release = report.view == RELEASE_VIEW
    extra = (
        ["count_ci95", "share_ci95", "releases", "noise_scale", "threshold"]
        if release
        else ["suppressed", "view"]
    )
    writer.writerow([*header, "count", "share", *extra])
    ids = " ".join(r.release_id for r in report.releases)
    for row in report.rows:
        cells: list[str] = []
        for dim, value in zip(report.group_by, row.key, strict=True):
            if dim is Dimension.TOOL:
                cells += [str(value), display_name(str(value))]
            else:
                cells.append(_value(dim, value))
        count = "" if row.count is None else str(row.count)
        share = "" if row.share is None else f"{row.share:.6f}"
        if release:
            more = [
                f"{row.count_ci95 or 0:g}",
                f"{row.share_ci95 or 0:.6f}",
                ids,
                f"{report.noise_scale:g}",
                str(report.threshold),
            ]
        else:
            more = ["true" if row.suppressed else "false", "raw, not for publication"]
        writer.writerow([*cells, count, share, *more])
    return buf.getvalue()


def _release_notes(report: Report) -> list[str]:
    rel = report.releases
    if not rel:
        return ["view: releases; none covers this range yet (a period is released once closed)"]
    kinds = sorted({dim_name(r.kind) for r in rel})
    span = rel[0].release_id if len(rel) == 1 else f"{rel[0].release_id} .. {rel[-1].release_id}"
    prov = sum(r.provisional for r in rel)
    notes = [
        f"view: {len(rel)} release(s) ({', '.join(kinds)}): {span}"
        + (f", {prov} provisional" if prov else ""),
        f"noise: discrete Laplace, scale {report.noise_scale:g}; cells below "
        f"{report.threshold} are not released; epsilon {rel[0].epsilon:g} per release",
        f"total {report.total} in the rows above; {report.suppressed} more in suppressed cells; "
        f"shares are of {report.release_total} (the releases' noisy totals)",
    ]
    if report.uncovered_days:
        notes.append(
            f"{report.uncovered_days} day(s) of the range are in no release yet, "
            "or only in releases without the dimensions asked for"
        )
    return notes


def as_table(report: Report, display_name: Callable[[str], str]) -> str:
    """An aligned text table, then lines saying which view and what the totals cover."""
    release = report.view == RELEASE_VIEW
    header = [dim_name(d) for d in report.group_by] + ["count"]
    header += ["±95%", "share"] if release else ["share"]
    body: list[list[str]] = []
    for row in report.rows:
        cells = [
            display_name(str(v)) if d is Dimension.TOOL else (_value(d, v) or "-")
            for d, v in zip(report.group_by, row.key, strict=True)
        ]
        count = f"<{report.min_cell_count}" if row.count is None else str(row.count)
        if release:
            body.append([*cells, count, f"{row.count_ci95 or 0:g}", _share(row.share)])
        else:
            body.append([*cells, count, _share(row.share)])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    numeric = len(report.group_by)  # count, interval and share are right-aligned

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i >= numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [] if release else [RAW_BANNER, ""]
    out += [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    if not body:
        out.append("(no counts in this range)")
    out.append("")
    if release:
        out += _release_notes(report)
    else:
        note = f"total {report.total} over published cells"
        if report.suppressed_cells:
            note += (
                f"; {report.suppressed_cells} cell(s) below {report.min_cell_count} suppressed "
                "and not in the total"
            )
        out.append(note)
    return "\n".join(out)


RAW_BANNER = "RAW TALLIES - NOT FOR PUBLICATION (the operator's view on the collector's machine)"

RENDERERS: dict[str, Callable[[Report, Callable[[str], str]], str]] = {
    "table": as_table,
    "csv": as_csv,
    "json": as_json,
}
