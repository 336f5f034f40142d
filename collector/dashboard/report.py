"""The monthly report: one self-contained HTML file (and optionally PDF) for a period.

Modelled on the 2017 police analysis: the totals, the tool table with
shares ("TeamViewer 179 of 196 named tools"), the trend, the triggers, how
far journeys got, what people did with the warning, and the limitations.
It asks the same questions as the dashboard's overview, through the same
adapter, and draws the same Vega-Lite specs as SVG with vl-convert, so the
file needs no script and no network to be read, printed or archived.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import jinja2
from markupsafe import Markup

from collector.dashboard import charts, overview
from collector.dashboard.filters import Filters, Period
from collector.dashboard.i18n import Texts
from collector.names import display_name


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("collector.dashboard", "templates"),
        autoescape=True,
    )


def _svg(key: str, lang: str, values: list[dict[str, object]], title: str) -> Markup:
    import vl_convert

    svg = vl_convert.vegalite_to_svg(charts.static_spec(key, lang, values, title))
    # vl-convert's SVG is generated from our own spec and data, which are escaped by Vega.
    return Markup(svg)  # noqa: S704


def build(ask: overview.Ask, period: Period, lang: str, made_on: dt.date) -> str:
    """The report's HTML for ``period`` in ``lang``."""
    t = Texts(lang)
    filters = Filters(period, lang=lang)
    with ThreadPoolExecutor(max_workers=7) as pool:
        answers = overview.ask_all(ask, filters, pool)
    sections = overview.sections(t, answers)
    tools = sections[0]
    named = int(tools.extra["named"])
    top = next(
        (r for r in answers["tools"].report.rows
         if r.count is not None and r.key[0] != overview.RESERVED),
        None,
    )  # fmt: skip
    headline = ""
    if top is not None and top.count is not None and named:
        headline = t(
            "report-totals-body",
            total=answers["tools"].report.total,
            period=period.label,
            rat=named,
            tool=display_name(str(top.key[0])),
            top=t(
                "report-table-line",
                tool=display_name(str(top.key[0])),
                count=top.count,
                named=named,
            ),
            share=f"{top.count / named * 100:.1f} %",
        )
    css = (resources.files("collector.dashboard") / "static" / "report.css").read_text("utf-8")
    svgs = {s.key: _svg(s.key, lang, s.chart, s.summary) for s in sections}
    return (
        _environment()
        .get_template("report.html")
        .render(
            t=t,
            lang=lang,
            period=period,
            sections=sections,
            svgs=svgs,
            css=Markup(css),  # noqa: S704 - our own package's stylesheet
            headline=headline or t("no-counts"),
            made_on=made_on.isoformat(),
            about=Markup(t("about-body")),  # noqa: S704 - our own catalogue text
        )
    )


def write_pdf(html: str, out: str) -> None:
    """Print the report's HTML to PDF with WeasyPrint (the optional ``pdf`` extra)."""
    try:
        import weasyprint
    except ImportError as exc:  # pragma: no cover - depends on the install
        from collector.errors import CollectorError

        raise CollectorError(
            "a PDF needs WeasyPrint: pip install 'ratwatch[pdf]' (and Pango from the OS)"
        ) from exc
    weasyprint.HTML(string=html).write_pdf(out)
