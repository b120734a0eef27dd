"""The `minqing` command line: database set-up, demo data, history and audit."""

from __future__ import annotations

import signal
import sys
import threading
import time
from uuid import UUID

import click

from api.settings import NotInitialised, Settings
from projections import all_views
from projections.core import View
from projections.db import make_engine
from projections.processor import Processor, rebuild
from projections.processor import create_tables as create_view_tables
from workers import deadlines as deadline_worker
from workers import projections as projection_worker
from workers.logs import configure as configure_logs


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


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so workers finish their transaction and stop cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _views(names: tuple[str, ...]) -> list[View]:
    views = all_views()
    unknown = set(names) - set(views)
    if unknown:
        raise click.BadParameter(f"unknown views {sorted(unknown)}; views are {sorted(views)}")
    return [views[n] for n in names] if names else list(views.values())


@main.group()
def worker() -> None:
    """Long-running workers (stop with SIGTERM)."""


@worker.command("projections")
@click.option("--only", "only", multiple=True, help="Keep only this view current (repeatable).")
@click.option("--batch-size", default=500, show_default=True, help="Events per transaction.")
def worker_projections(only: tuple[str, ...], batch_size: int) -> None:
    """Keep the views current from the event log."""
    configure_logs()
    views, stop = _views(only), _stop_on_signals()
    app = _open()
    engine = make_engine(Settings().database_url)
    try:
        projection_worker.run(app, engine, views, stop, batch_size=batch_size)
    finally:
        engine.dispose()
        app.close()


@worker.command("deadlines")
@click.option("--every", default=30.0, show_default=True, help="Seconds between sweeps.")
def worker_deadlines(every: float) -> None:
    """Record missed deadlines (escalating automatically), feedback expiry and notice ends."""
    configure_logs()
    stop = _stop_on_signals()
    app = _open()
    engine = make_engine(Settings().database_url, writer=False)
    try:
        deadline_worker.run(app, engine, stop, every=every)
    finally:
        engine.dispose()
        app.close()


@main.group("projections")
def projections_group() -> None:
    """Inspect and rebuild the views."""


@projections_group.command("status")
def projections_status() -> None:
    """Each view's position and how far it lags behind the log (events and seconds)."""
    app = _open()
    engine = make_engine(Settings().database_url, writer=False)
    try:
        lags = Processor(app, engine).lag()
    finally:
        engine.dispose()
        app.close()
    click.echo(f"{'view':<16}{'position':>10}{'head':>10}{'lag events':>12}{'lag seconds':>13}")
    for lag in lags:
        click.echo(f"{lag.view:<16}{lag.position:>10}{lag.head:>10}{lag.events:>12}{lag.seconds:>13.1f}")


@projections_group.command("rebuild")
@click.argument("names", nargs=-1)
def projections_rebuild(names: tuple[str, ...]) -> None:
    """Rebuild views from the whole log beside the live ones, then swap them in."""
    app = _open()
    engine = make_engine(Settings().database_url)
    try:
        total = app.recorder.max_notification_id() or 0
        for view in _views(names):
            started = time.perf_counter()
            with click.progressbar(length=total, label=f"rebuilding {view.name}") as bar:
                events = rebuild(app, engine, view, progress=bar.update)
            seconds = time.perf_counter() - started
            click.echo(f"{view.name}: {events} events in {seconds:.1f} s ({events / max(seconds, 1e-9):,.0f} events/s)")
    finally:
        engine.dispose()
        app.close()


if __name__ == "__main__":
    main()
