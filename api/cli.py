"""The `minqing` command line: database set-up, demo data, history and audit."""

from __future__ import annotations

import sys
from uuid import UUID

import click

from api.settings import NotInitialised, Settings
from projections.db import make_engine
from projections.processor import create_tables as create_view_tables


def _open(create_tables: bool = False):  # noqa: ANN202
    try:
        return Settings().open_application(create_tables=create_tables)
    except NotInitialised as error:
        raise click.ClickException(str(error)) from None


@click.group()
def main() -> None:
    """民情 Minqing: residents' demands and household visits, event-sourced."""


@main.group()
def db() -> None:
    """Database set-up."""


@db.command("init")
def db_init() -> None:
    """Create the tables (run once per database, before any server or worker starts)."""
    settings = Settings()
    _open(create_tables=True).close()
    create_view_tables(make_engine(settings.database_url))
    click.echo(f"initialised {settings.database_url}")


@main.command()
@click.argument("aggregate_id", type=click.UUID)
def history(aggregate_id: UUID) -> None:
    """Print the full history of a case (or household, visit, account)."""
    from domain.errors import DomainError

    app = _open()
    try:
        entries = app.history(aggregate_id)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    finally:
        app.close()
    for e in entries:
        details = ", ".join(f"{k}={v}" for k, v in e.data.items() if v not in (None, "", [], {}))
        click.echo(f"v{e.version:<4} {e.occurred_at:%Y-%m-%d %H:%M}  {e.type:<24} by {e.actor:<16} "
                   f"(recorded {e.recorded_at:%Y-%m-%d %H:%M:%S})  {details}")
        click.echo(f"      chain {e.chain}")


@main.command()
def verify() -> None:
    """Check every aggregate's hash chain; exit non-zero if any is broken."""
    app = _open()
    try:
        result = app.verify()
    finally:
        app.close()
    click.echo(f"checked {result.events} events of {result.aggregates} aggregates")
    for b in result.breaks:
        click.echo(f"BROKEN {b.aggregate_id} at version {b.version}: {b.problem}", err=True)
    if not result.intact:
        sys.exit(1)
    click.echo("every chain is intact")
