"""The charts, declared with Altair as Vega-Lite specs; Vega draws them.

Each chart's grammar (marks, encodings, translated axis titles) is built
once per language and kept; a page only adds its data, as the spec's named
dataset ``values``. That keeps Altair's spec building out of each request.
The browser draws the specs with Vega served from vl-convert's bundle
(collector.dashboard.app); the report turns the same specs into SVG.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import altair as alt

from collector.dashboard.i18n import Texts

DATA = "values"
WIDTH = "container"
_HEIGHT = 260


_BLUE = "#1f5f8b"


def _bars(t: Texts, y: str, color: Any = None) -> Any:
    color = alt.value(_BLUE) if color is None else color
    return (
        alt.Chart(alt.NamedData(DATA))
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title=t("col-count")),
            y=alt.Y(f"{y}:N", title=None, sort=None),
            color=color,
            tooltip=[alt.Tooltip(f"{y}:N"), alt.Tooltip("count:Q", title=t("col-count"))],
        )
    )


def _tools(t: Texts) -> Any:
    return (
        alt.Chart(alt.NamedData(DATA))
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title=t("col-count")),
            y=alt.Y("tool:N", title=None, sort=None),
            yOffset=alt.YOffset("period:N", sort=None),
            color=alt.Color(
                "period:N",
                title=None,
                sort=None,
                scale=alt.Scale(range=["#1f5f8b", "#a6bddb"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=["tool:N", "period:N", alt.Tooltip("count:Q", title=t("col-count"))],
        )
    )


def _trend(t: Texts) -> Any:
    return (
        alt.Chart(alt.NamedData(DATA))
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title=t("col-period")),
            y=alt.Y("count:Q", title=t("col-count")),
            color=alt.Color("tool:N", title=t("col-tool"), legend=alt.Legend(orient="bottom")),
            tooltip=["period:O", "tool:N", alt.Tooltip("count:Q", title=t("col-count"))],
        )
    )


def _outcomes(t: Texts) -> Any:
    color = alt.Color(
        "heeded:N",
        title=None,
        scale=alt.Scale(domain=[t("heeded"), t("not-heeded")], range=["#2b8a3e", "#c0392b"]),
        legend=alt.Legend(orient="bottom"),
    )
    return _bars(t, "label", color)


_BUILDERS: dict[str, Any] = {
    "tools": _tools,
    "trend": _trend,
    "triggers": lambda t: _bars(t, "label"),
    "funnel": lambda t: _bars(t, "label"),
    "outcomes": _outcomes,
    "regions": lambda t: _bars(t, "label"),
}


@functools.cache
def _template(key: str, lang: str) -> dict[str, Any]:
    t = Texts(lang)
    chart = _BUILDERS[key](t).properties(width=WIDTH, height=_HEIGHT)
    spec: dict[str, Any] = chart.to_dict()
    return spec


def spec(key: str, lang: str, values: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """The Vega-Lite spec of chart ``key`` with its data and description (text alternative)."""
    out = dict(_template(key, lang))
    out["datasets"] = {DATA: values}
    out["description"] = title
    return out


def static_spec(key: str, lang: str, values: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """The same spec with a fixed width, for drawing without a page (SVG in the report)."""
    out = copy.deepcopy(spec(key, lang, values, title))
    out["width"] = 560
    return out
