"""``ratwatch-agent signatures``: check detection content, import LOLRMM as an extra catalogue."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("signatures")
def signatures() -> None:
    """Check signature files and convert other catalogues into ours.

    The schema of remote_tools.yaml, scam_context.yaml and rules.yaml (and of
    extra catalogue files) is documented in signatures/README.md.
    """


@signatures.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Agent config whose [signatures].extra_catalogues are checked with the bundled files "
    "(only when no PATH is given).",
)
@click.option("--notes", is_flag=True, help="Also list entries skipped as duplicates.")
def check(paths: tuple[Path, ...], config_path: Path | None, notes: bool) -> None:
    """Validate signature files and report every problem as file:line: field: message.

    With no PATH: the bundled signatures plus the extra catalogues configured
    in --config, read together exactly as the agent reads them. With PATHs:
    only those files, in the order given. Exits 1 if anything is wrong.
    """
    from agent import config as agent_config
    from agent.catalogue.loader import bundled_paths, load_files
    from agent.errors import ConfigError, SignatureError

    if paths:
        files = list(paths)
    else:
        try:
            cfg = agent_config.load(config_path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        files = [*bundled_paths(), *(Path(p) for p in cfg.signatures.extra_catalogues)]
    try:
        catalogue = load_files(files)
    except SignatureError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        n = len(exc.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in {len(files)} file(s)", err=True)
        raise SystemExit(1) from None
    skipped = f"; {len(catalogue.notes)} duplicate entries skipped" if catalogue.notes else ""
    click.echo(
        f"ok: {len(files)} file(s), catalogue version {catalogue.version}: "
        f"{len(catalogue.tools)} tools, {len(catalogue.scare_tactics)} scare tactics, "
        f"{len(catalogue.pages)} pages, {len(catalogue.softphones)} softphones{skipped}"
    )
    if notes:
        for note in catalogue.notes:
            click.echo(f"note: {note}")


@signatures.command("import-lolrmm")
@click.argument("src_dir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.argument("out_file", type=click.Path(path_type=Path, dir_okay=False))
def import_lolrmm(src_dir: Path, out_file: Path) -> None:
    """Convert the LOLRMM catalogue in SRC_DIR into an extra catalogue file OUT_FILE.

    SRC_DIR is a LOLRMM checkout (its yaml/ folder is used) or the folder of
    its YAML files. Only remote-control tools are kept, every entry as
    confidence: low; known data problems are repaired and counted. Name
    OUT_FILE in [signatures].extra_catalogues to use it. Do not commit it to
    this repository: LOLRMM's files are LOLRMM's.
    """
    from agent.catalogue.lolrmm.convert import import_lolrmm as run_import
    from agent.errors import LolrmmError

    try:
        report = run_import(src_dir, out_file)
    except LolrmmError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out_file}: {exc}") from None
    click.echo(report.summary())
    click.echo(f"wrote {out_file}")
