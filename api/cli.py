"""The `minqing` command line: database set-up, demo data, history and audit."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import click

from api.runtime import create_api_tables
from api.settings import NotInitialised, Settings
from domain.account import ROLES
from domain.application import SYSTEM
from projections import all_views
from projections.core import View
from projections.db import make_engine
from projections.processor import Processor, rebuild
from projections.processor import create_tables as create_view_tables
from workers import deadlines as deadline_worker
from workers import projections as projection_worker
from workers.logs import configure as configure_logs


def _open(create_tables: bool = False, settings: Settings | None = None):  # noqa: ANN202
    try:
        return (settings or Settings()).open_application(create_tables=create_tables)
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
    _initialise(settings)
    click.echo(f"initialised {settings.database_url}")


def _initialise(settings: Settings) -> None:
    """Create the event store's, the views' and the API's tables (idempotent)."""
    _open(create_tables=True, settings=settings).close()
    engine = make_engine(settings.database_url)
    for name in create_view_tables(engine):
        click.echo(f"view {name}: its table changed in this version; emptied, to be built again from the log")
    create_api_tables(engine)
    engine.dispose()


@main.command()
@click.option("--force", is_flag=True, help="Load another batch beside a demo already loaded.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Same seed, same content and counts.")
def demo(force: bool, seed: int) -> None:
    """Load the demo: 清水镇's three villages and community, six months of demands and visits."""
    from api.demo import DEMO_UNITS, WrongDeployment, already_loaded, load_demo

    settings = Settings()
    if settings.is_sqlite:                  # the embedded database needs no separate `db init`
        _initialise(settings)
    app = _open()
    try:
        if already_loaded(app) and not force:
            raise click.ClickException(
                f"the demo is already loaded in {settings.database_url}; "
                "run `minqing demo --force` to load another batch beside it")
        started = time.monotonic()
        with click.progressbar(length=DEMO_UNITS, label="loading the demo") as bar:
            summary = load_demo(app, seed=seed, progress=bar.update)
    except WrongDeployment as error:
        raise click.ClickException(str(error)) from None
    finally:
        app.close()
    click.echo(f"loaded the demo (seed {seed}) into {settings.database_url} "
               f"in {time.monotonic() - started:.1f} s")
    for line in summary.lines():
        click.echo(line)


@main.command()
@click.argument("aggregate_id", type=click.UUID)
@click.option("--personal-data", is_flag=True, help="Show residents' names and phone numbers unmasked.")
def history(aggregate_id: UUID, personal_data: bool) -> None:
    """Print the full history of a case (or household, visit, account); personal data masked."""
    from api.deps import PERSONAL_FIELDS, mask
    from domain.errors import DomainError

    app = _open()
    try:
        entries = app.history(aggregate_id)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    finally:
        app.close()
    for e in entries:
        data = e.data if personal_data else {k: mask(v) if k in PERSONAL_FIELDS else v for k, v in e.data.items()}
        details = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
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



# uvicorn's C parser and event loop: one process answered 10-18 % more commands a second with them than
# with h11 and asyncio (docs/performance.md, "HTTP API"). The request log is ours (api.app.RequestLog).
SERVER: dict[str, Any] = {"http": "httptools", "loop": "uvloop", "log_config": None, "access_log": False}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Embedded mode: API, pages and workers in one process (tables created on the embedded SQLite)."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    if settings.is_sqlite:
        _initialise(settings)
    configure_logs()
    uvicorn.run(create_app(settings, embedded_workers=True), host=host, port=port, **SERVER)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="API processes.")
def api(host: str, port: int, workers: int) -> None:
    """The API only (run `worker projections` and `worker deadlines` beside it), in several processes."""
    import uvicorn

    _open().close()  # refuse early, with the message, when the database was never initialised
    configure_logs()
    if workers == 1:
        uvicorn.run("api.cli:api_process", factory=True, host=host, port=port, **SERVER)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("api.cli:api_process", factory=True, host=host, port=port, workers=workers,
                            **SERVER)
    sock = config.bind_socket()
    # uvicorn binds the shared socket with protocol 0, so asyncio does not set TCP_NODELAY on the
    # connections it accepts; a response written in two parts then waited for the client's delayed
    # ACK, about 40 ms per request (docs/performance.md, "HTTP API"). Accepted sockets inherit it.
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


def api_process():  # noqa: ANN201
    """The app of one API process. Worker processes are spawned afresh, so each sets up the JSON logs
    itself (without this, every process but a lone one logged in structlog's console format)."""
    from api.app import create_app

    configure_logs()
    return create_app()


@main.group()
def accounts() -> None:
    """Staff accounts, roles and tokens (acting as the operator at the console)."""


def _account_command(action: Callable[[Any], Any]) -> None:
    from domain.errors import DomainError

    app = _open()
    try:
        action(app)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    finally:
        app.close()


@accounts.command("create")
@click.argument("username")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--role", type=click.Choice(ROLES), help="Grant this role at once (with --cell).")
@click.option("--cell", "cell_id", help="The grid cell the role covers (and everything below it).")
def accounts_create(username: str, display_name: str, role: str | None, cell_id: str | None) -> None:
    """Open a staff account, optionally with a first role."""
    def action(app: Any) -> None:
        app.open_account(actor=SYSTEM, username=username, display_name=display_name)
        if role:
            app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell_id or app._root_of_any())
        click.echo(f"opened {username}" + (f" as {role} over {cell_id or app._root_of_any()}" if role else ""))
    _account_command(action)


@accounts.command("grant")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.argument("cell_id")
def accounts_grant(username: str, role: str, cell_id: str) -> None:
    """Grant a role over a grid cell."""
    _account_command(lambda app: (app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell_id),
                                  click.echo(f"{username} is {role} over {cell_id}")))


@accounts.command("revoke")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.argument("cell_id")
def accounts_revoke(username: str, role: str, cell_id: str) -> None:
    """Revoke a role over a grid cell."""
    _account_command(lambda app: (app.revoke_role(actor=SYSTEM, username=username, role=role, cell_id=cell_id),
                                  click.echo(f"{username} is no longer {role} over {cell_id}")))


@accounts.command("issue-token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
def accounts_issue_token(username: str, label: str) -> None:
    """Issue a bearer token; it is printed once and stored only as a hash."""
    _account_command(lambda app: click.echo(app.issue_token(actor=SYSTEM, username=username, label=label)[1]))


@accounts.command("revoke-token")
@click.argument("username")
@click.argument("token_id")
def accounts_revoke_token(username: str, token_id: str) -> None:
    """Revoke a bearer token (its id is the part between the user name and the secret, the last two dots)."""
    _account_command(lambda app: (app.revoke_token(actor=SYSTEM, username=username, token_id=token_id),
                                  click.echo(f"revoked {username}'s token {token_id}")))


if __name__ == "__main__":
    main()
