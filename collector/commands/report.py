"""``ratwatch-collector report``: the monthly report as one self-contained HTML (or PDF) file."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--period", required=True, help="Month (2026-10), quarter (2026-Q4) or year (2026).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the report; a name ending in .pdf writes a PDF (needs WeasyPrint).",
)
@click.option(
    "--collector",
    "address",
    metavar="HOST:PORT",
    default="127.0.0.1:50051",
    show_default=True,
    help="The collector whose Stats API the report asks.",
)
@click.option(
    "--token",
    envvar="RATWATCH_ANALYST_TOKEN",
    show_envvar=True,
    required=True,
    help="Analyst token.",
)
@click.option(
    "--lang",
    type=click.Choice(["en", "nl"]),
    default="en",
    show_default=True,
    help="Language of the report.",
)
@click.option("--tls", is_flag=True, help="Use TLS to the collector (system CA roots).")
@click.option("--ca-file", type=_FILE, help="CA bundle the collector's certificate must chain to.")
@click.option("--client-cert", type=_FILE, help="Client certificate when the collector needs one.")
@click.option("--client-key", type=_FILE, help="Private key of --client-cert.")
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for each Stats answer.",
)
def report(  # noqa: PLR0917 - click passes every option
    period: str,
    out: Path,
    address: str,
    token: str,
    lang: str,
    tls: bool,
    ca_file: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    timeout: float,
) -> None:
    """Write the report for one period: totals, tool shares, trend, triggers, stages, outcomes.

    \b
    Example:
      ratwatch-collector report --period 2026-10 --out report.html
    """
    import datetime as dt

    from collector.client import Remote, StatsClient
    from collector.dashboard import report as report_mod
    from collector.dashboard.answer import Answer, from_reply
    from collector.dashboard.filters import parse_period
    from collector.errors import CollectorError
    from collector.model import Query

    try:
        chosen = parse_period(period)
        client = StatsClient(Remote(address, "", tls, ca_file, client_cert, client_key, timeout))

        def ask(query: Query) -> Answer:
            return from_reply(query, client.reply(token, query))

        try:
            html = report_mod.build(ask, chosen, lang, dt.datetime.now(dt.timezone.utc).date())
        finally:
            client.close()
        if out.suffix.lower() == ".pdf":
            report_mod.write_pdf(html, str(out))
        else:
            out.write_text(html, encoding="utf-8")
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"{out}: {exc.strerror}") from exc
    click.echo(f"wrote {out}")
