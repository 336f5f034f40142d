"""The overview's questions to the Stats API, and their answers as chart and table rows.

One period's overview asks seven questions: tools in the period and in the
same period a year earlier, then the trend of the top tools, the trigger
mix, the furthest stages (shown as a funnel), the outcomes and the regions.
They go to the collector at the same time (one shared channel, one thread
each), except the trend, which needs the top tools first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collector.dashboard.answer import Answer
from collector.dashboard.filters import Filters, Period
from collector.dashboard.i18n import Texts
from collector.model import Dimension, Outcome, Query, Stage, Trigger
from collector.names import display_name

TOP_TOOLS = 5  # lines in the trend chart
BAR_TOOLS = 15  # bars in the tool chart (the table lists every tool)
RESERVED = "ratwatch.dropped"
SECTIONS = ("tools", "tools_year_earlier", "trend", "triggers", "funnel", "outcomes", "regions")
HEEDED = (Outcome.USER_STOPPED, Outcome.USER_PAUSED)
# The funnel's steps: a journey counts at every step up to its furthest stage.
FUNNEL = (
    ("funnel-tool-started", Stage.REMOTE_TOOL_STARTED),
    ("funnel-session", Stage.SESSION_ACTIVE),
    ("funnel-scare", Stage.SCARE_TACTICS),
    ("funnel-banking", Stage.BANKING_DURING_SESSION),
)

Ask = Callable[[Query], Answer]


def _query(filters: Filters, period: Period, *group_by: Dimension, **kw: Any) -> Query:
    return Query(
        group_by=group_by,
        since_day=period.since_day,
        until_day=period.until_day,
        tool_ids=frozenset([filters.tool]) if filters.tool else kw.get("tools", frozenset()),
        triggers=frozenset([int(Trigger[filters.trigger.upper()])])
        if filters.trigger
        else frozenset(),
        regions=frozenset([filters.region]) if filters.region else frozenset(),
    )


def trend_window(filters: Filters) -> Period:
    """The twelve months ending with the period's last day."""
    last = filters.period.last
    first = dt.date(last.year - 1, last.month, 1) + dt.timedelta(days=32)
    first = first.replace(day=1)
    return Period(f"{first:%Y-%m}..{last:%Y-%m}", first, last)


def first_wave(filters: Filters) -> dict[str, Query]:
    """The questions that do not depend on another answer."""
    p = filters.period
    return {
        "tools": _query(filters, p, Dimension.TOOL),
        "tools_year_earlier": _query(filters, p.year_earlier(), Dimension.TOOL),
        "triggers": _query(filters, p, Dimension.TRIGGER),
        "funnel": _query(filters, p, Dimension.STAGE),
        "outcomes": _query(filters, p, Dimension.OUTCOME),
        "regions": _query(filters, p, Dimension.REGION),
    }


def top_tools(tools: Answer, n: int = TOP_TOOLS) -> list[str]:
    """The ``n`` most counted tools of a by-tool answer (rows come largest first)."""
    return [str(r.key[0]) for r in tools.report.rows if r.count is not None][:n]


def trend_query(filters: Filters, top: list[str]) -> Query:
    """The top tools per week or month over the trend window."""
    dim = Dimension.WEEK if filters.trend == "week" else Dimension.MONTH
    return _query(filters, trend_window(filters), Dimension.TOOL, dim, tools=frozenset(top))


def ask_all(ask: Ask, filters: Filters, pool: ThreadPoolExecutor) -> dict[str, Answer]:
    """Every section's answer, asked concurrently."""
    futures = {name: pool.submit(ask, q) for name, q in first_wave(filters).items()}
    answers = {name: f.result() for name, f in futures.items()}
    answers["trend"] = ask(query_of(ask, filters, "trend", answers["tools"]))
    return answers


def query_of(ask: Ask, filters: Filters, section: str, tools: Answer | None = None) -> Query:
    """The query behind one section (for its CSV download).

    The trend follows the period's top tools; with none (nothing published
    in the period) it follows the filtered tool, or every tool.
    """
    if section == "trend":
        top = top_tools(tools or ask(first_wave(filters)["tools"]))
        return trend_query(filters, top)
    return first_wave(filters)[section]


@dataclass
class Section:
    """One chart with its table: what the page and the report show."""

    key: str
    title: str
    answer: Answer
    head: list[str]
    rows: list[list[str]]
    chart: list[dict[str, Any]]  # the chart's data values
    summary: str  # the chart's text alternative
    extra: dict[str, Any] = field(default_factory=dict)


def _fmt_share(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f} %"


def _count(count: int | None, answer: Answer) -> str:
    return f"<{answer.report.threshold}" if count is None else str(count)


def tools_section(t: Texts, now: Answer, before: Answer) -> Section:
    """Tool shares with the change against the same period a year earlier."""
    earlier = {str(k[0]): v for k, v in before.counts().items()}
    rows: list[list[str]] = []
    chart: list[dict[str, Any]] = []
    for r in now.report.rows:
        tool = str(r.key[0])
        prev = earlier.get(tool)
        change = ""
        if r.count is not None and prev:
            change = f"{(r.count - prev) / prev * 100:+.0f} %"
        elif r.count is not None and prev is None:
            change = t("new")
        rows.append(
            [
                display_name(tool),
                _count(r.count, now),
                _fmt_share(r.share),
                "" if prev is None else str(prev),
                change,
            ]
        )
        if r.count is not None and tool != RESERVED and len(chart) < BAR_TOOLS:
            chart.append({"tool": display_name(tool), "period": t("this-period"), "count": r.count})
            chart.append(
                {"tool": display_name(tool), "period": t("year-earlier"), "count": prev or 0}
            )
    named = sum(c for k, c in now.counts().items() if k[0] != RESERVED)
    first = next((r for r in now.report.rows if r.count is not None and r.key[0] != RESERVED), None)
    summary = (
        t("tools-summary", tool=display_name(str(first.key[0])), count=first.count, named=named)
        if first is not None and first.count is not None
        else t("no-counts")
    )
    head = [t("col-tool"), t("col-count"), t("col-share"), t("col-year-earlier"), t("col-change")]
    return Section(
        "tools",
        t("tools-title"),
        now,
        head,
        rows,
        chart,
        summary,
        {"before": before, "named": named},
    )


def trend_section(t: Texts, answer: Answer) -> Section:
    """Counts of the top tools per week or month: a line per tool, a row per period."""
    chart: list[dict[str, Any]] = []
    table: dict[str, dict[str, str]] = {}
    tools: list[str] = []
    for r in answer.report.rows:
        tool, period = display_name(str(r.key[0])), str(r.key[1])
        if tool not in tools:
            tools.append(tool)
        table.setdefault(period, {})[tool] = _count(r.count, answer)
        if r.count is not None:
            chart.append({"period": period, "tool": tool, "count": r.count})
    rows = [[p, *(cells.get(tool, "") for tool in tools)] for p, cells in sorted(table.items())]
    summary = (
        t("trend-summary", first=rows[0][0], last=rows[-1][0], n=len(tools))
        if rows
        else t("no-counts")
    )
    head = [t("col-period"), *tools]
    return Section("trend", t("trend-title"), answer, head, rows, chart, summary)


def _enum_section(key: str, t: Texts, answer: Answer, enum: Any, prefix: str) -> Section:
    rows: list[list[str]] = []
    chart: list[dict[str, Any]] = []
    for r in answer.report.rows:
        label = t(f"{prefix}-{enum(r.key[0]).name.lower()}")
        rows.append([label, _count(r.count, answer), _fmt_share(r.share)])
        if r.count is not None:
            chart.append({"label": label, "count": r.count, "share": r.share or 0.0})
    summary = (
        t("mix-summary", label=chart[0]["label"], share=_fmt_share(float(chart[0]["share"])))
        if chart
        else t("no-counts")
    )
    head = [t(f"col-{prefix}"), t("col-count"), t("col-share")]
    return Section(key, t(f"{key}-title"), answer, head, rows, chart, summary)


def triggers_section(t: Texts, answer: Answer) -> Section:
    """What came before the tool: unknown call, unverified call, scareware page, ..."""
    return _enum_section("triggers", t, answer, Trigger, "trigger")


def outcomes_section(t: Texts, answer: Answer) -> Section:
    """What the person did with the warning, heeded (stopped, paused) or not."""
    section = _enum_section("outcomes", t, answer, Outcome, "outcome")
    counts = {Outcome(int(k[0])): v for k, v in answer.counts().items()}
    heeded = sum(counts.get(o, 0) for o in HEEDED)
    shown = sum(v for o, v in counts.items() if o is not Outcome.NO_WARNING_SHOWN)
    for row in section.chart:
        row["heeded"] = (
            t("heeded")
            if row["label"] in {t(f"outcome-{o.name.lower()}") for o in HEEDED}
            else t("not-heeded")
        )
    if shown:
        section.summary = t(
            "outcomes-summary", heeded=heeded, shown=shown, share=_fmt_share(heeded / shown)
        )
    return section


def funnel_section(t: Texts, answer: Answer) -> Section:
    """How far journeys got: each step counts every journey that reached at least it."""
    by_stage = {Stage(int(k[0])): v for k, v in answer.counts().items()}
    rows: list[list[str]] = []
    chart: list[dict[str, Any]] = []
    start = sum(by_stage.values())
    for msgid, stage in FUNNEL:
        n = sum(v for s, v in by_stage.items() if s >= stage)
        label = t(msgid)
        share = _fmt_share(n / start) if start else ""
        rows.append([label, str(n), share])
        chart.append({"label": label, "count": n, "order": len(chart)})
    summary = t("funnel-summary", started=start, scare=rows[2][1]) if start else t("no-counts")
    head = [t("col-step"), t("col-journeys"), t("col-of-started")]
    return Section("funnel", t("funnel-title"), answer, head, rows, chart, summary)


def regions_section(t: Texts, answer: Answer) -> Section:
    """Counts by the region the deployer set (none = not set)."""
    rows: list[list[str]] = []
    chart: list[dict[str, Any]] = []
    for r in answer.report.rows:
        label = str(r.key[0]) or t("region-none")
        rows.append([label, _count(r.count, answer), _fmt_share(r.share)])
        if r.count is not None:
            chart.append({"label": label, "count": r.count, "share": r.share or 0.0})
    summary = (
        t("mix-summary", label=chart[0]["label"], share=_fmt_share(float(chart[0]["share"])))
        if chart
        else t("no-counts")
    )
    head = [t("col-region"), t("col-count"), t("col-share")]
    return Section("regions", t("regions-title"), answer, head, rows, chart, summary)


def sections(t: Texts, answers: dict[str, Answer]) -> list[Section]:
    """Every section of the overview, in page order."""
    return [
        tools_section(t, answers["tools"], answers["tools_year_earlier"]),
        trend_section(t, answers["trend"]),
        triggers_section(t, answers["triggers"]),
        funnel_section(t, answers["funnel"]),
        outcomes_section(t, answers["outcomes"]),
        regions_section(t, answers["regions"]),
    ]


def today() -> dt.date:
    """Today in UTC (the default period is the month it is in)."""
    return dt.datetime.now(dt.timezone.utc).date()
