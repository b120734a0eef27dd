"""The `minqing` command line: database set-up, demo data, servers, workers, accounts, history and audit."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import click
import uvicorn
from uvicorn.supervisors import Multiprocess

from api import auth, i18n, keys
from api import backup as backups
from api.cli.verify_notice import verify_heads_command, verify_notice
from api.compose import Runtime, analyze_store, initialise
from api.demo.history import write_history
from api.demo.load import DEMO_UNITS, WrongDeployment, already_loaded, load_demo
from api.keys import CIPHER_KEY_FILE, SIGNING_KEY_FILE
from api.settings import Settings
from api.web.app import create_app
from domain.account import ROLES
from domain.application import SYSTEM
from domain.errors import DomainError
from domain.masking import masked
from domain.notice_proof import public_key_of, raw_key
from domain.seal import LOG, Signer, key_id
from projections import views_of
from projections.db import make_engine
from projections.processor import Processor, rebuild
from projections.sealed_log import SealedLog, Sealer, heads_keyed_by_key
from workers import deadlines as deadline_worker
from workers import projections as projection_worker
from workers import seal as seal_worker
from workers.logs import configure as configure_logs


@click.group()
def main() -> None:
    """The server's commands (api/cli/__init__.py lists them under `minqing`)."""


@main.group()
def db() -> None:
    """Database set-up."""


@db.command("init")
def db_init() -> None:
    """Create the tables (run once per database, before any server or worker starts)."""
    settings = Settings()
    _initialise(settings)
    click.echo(f"initialised {settings.database_shown}")
    if settings.signing_key is None:
        click.echo(f"the log's tree heads are signed with {settings.key_dir / SIGNING_KEY_FILE} "
                   "(back it up; never inside the database)")
    if settings.encrypt and settings.cipher_key is None:
        click.echo(f"events are encrypted with the key in {settings.key_dir / CIPHER_KEY_FILE}: back it up "
                   "apart from the database (docs/keys.md)")


def _initialise(settings: Settings) -> None:
    for name in initialise(settings):
        click.echo(f"view {name}: its table changed in this version; emptied, to be built again from the log")


@main.command()
@click.option("--force", is_flag=True, help="Load another batch beside a demo already loaded.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Same seed, same content and counts.")
@click.option("--scale", type=click.IntRange(min=1), default=None,
              help="Instead: a random lawful history of this many demands over four years, in the deployment "
                   "configured (MINQING_DEPLOYMENT=district: a district of about 1,000 grid cells), for "
                   "measuring at size.")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="With --scale: processes playing the history.")
def demo(force: bool, seed: int, scale: int | None, processes: int) -> None:
    """Load the demo: 清水镇's three villages and community, six months of demands and visits."""
    settings = Settings()
    if settings.is_sqlite:                  # the embedded database needs no separate `db init`
        _initialise(settings)
    if scale is not None:
        _demo_at_scale(settings, scale, seed=seed, processes=processes, force=force)
        return
    with Runtime.open(settings) as rt:
        if already_loaded(rt.app) and not force:
            raise click.ClickException(
                f"the demo is already loaded in {settings.database_shown}; "
                "run `minqing demo --force` to load another batch beside it")
        started = time.monotonic()
        try:
            with click.progressbar(length=DEMO_UNITS, label="loading the demo") as bar:
                summary = load_demo(rt.app, seed=seed, progress=bar.update)
        except WrongDeployment as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"loaded the demo (seed {seed}) into {settings.database_shown} "
               f"in {time.monotonic() - started:.1f} s")
    for line in summary.lines():
        click.echo(line)


def _demo_at_scale(settings: Settings, demands: int, *, seed: int, processes: int, force: bool) -> None:
    """Write a history of `demands` demands into the store, a chunk at a time (memory stays bounded
    whatever the size), then bring the views up to date and gather the planner's statistics."""
    app = settings.open_application()
    engine = make_engine(settings.database_url)
    try:
        if app.recorder.max_notification_id() and not force:
            raise click.ClickException(f"{settings.database_shown} already holds events; run `minqing demo "
                                       "--scale N --force` to write a history beside them")
        started = time.monotonic()
        with click.progressbar(length=demands, label=f"writing {demands:,} demands") as bar:
            events = write_history(app, settings.deployment, demands=demands, seed=seed, processes=processes,
                                   progress=bar.update)
        written = time.monotonic() - started
        click.echo(f"wrote {events:,} events in {written:,.0f} s")
        views = list(views_of(app.deployment).values())
        with click.progressbar(length=events * len(views), label="bringing the views up to date") as bar:
            Processor(app, engine).catch_up(progress=bar.update)
        analyze_store(app, engine)
        click.echo(f"{demands:,} demands in {settings.database_shown} in {time.monotonic() - started:,.0f} s "
                   f"(views {time.monotonic() - started - written:,.0f} s)")
    finally:
        app.close()
        engine.dispose()


@main.command()
@click.argument("aggregate_id", type=click.UUID)
@click.option("--personal-data", is_flag=True, help="Show residents' names and phone numbers unmasked.")
@click.option("--as-of", metavar="TIME", help="Occurred time: only the facts that had happened by then, as "
              "the record stands now. ISO 8601; without a zone, the deployment's; a date alone: its end.")
@click.option("--known-at", metavar="TIME", help="Recorded time: only what had been recorded by then (same "
              "forms). With --as-of: what had happened by the one and been recorded by the other.")
def history(aggregate_id: UUID, personal_data: bool, as_of: str | None, known_at: str | None) -> None:
    """Print the history of a case (or household, visit, account); personal data masked. Times in the
    deployment's time zone, as --as-of and --known-at are read."""
    with Runtime.open() as rt, _domain_errors():
        zone = ZoneInfo(rt.app.deployment.timezone)
        at, known = _moment("--as-of", as_of, zone), _moment("--known-at", known_at, zone)
        entries = rt.app.history(aggregate_id, as_of=at, known_at=known)
        left_out = [] if at is None else rt.app.as_of(aggregate_id, at, known_at=known).left_out
    click.echo(f"times in {zone.key}")
    if at is not None:
        click.echo(f"as of {at.isoformat()} (occurred time)")
    if known is not None:
        click.echo(f"as known at {known.isoformat()} (recorded time)")
    for e in entries:
        data = e.data if personal_data else masked(e.data)
        details = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
        occurred, recorded = e.occurred_at.astimezone(zone), e.recorded_at.astimezone(zone)
        click.echo(f"v{e.version:<4} {occurred:%Y-%m-%d %H:%M}  {e.type:<24} by {e.actor:<16} "
                   f"(recorded {recorded:%Y-%m-%d %H:%M:%S})  {details}")
        click.echo(f"      chain {e.chain}")
    for e in left_out:
        click.echo(f"note: v{e.version} {e.type} had happened by then but was recorded after a later fact: "
                   "it is listed, but not part of the state as of then")


def _moment(option: str, value: str | None, zone: ZoneInfo) -> datetime | None:
    """An --as-of or --known-at value: ISO 8601, in `zone` if it names none; a date alone is its end."""
    if value is None:
        return None
    try:
        if len(value) == len("2026-09-01"):
            day = date.fromisoformat(value)
            end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
            return end - timedelta(microseconds=1)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or date and time, e.g. 2026-09-01 or "
                                 "2026-09-01T18:00+08:00", param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@main.command()
def verify() -> None:
    """Check every hash chain and snapshot, and the sealed log: every event against its leaf, every signed
    head (in the database and in heads.jsonl beside the key) against the leaves; exit non-zero if anything
    is broken."""
    with Runtime.open() as rt:
        sealed = rt.sealed and _present(rt.sealed)
        result = rt.app.verify(sealed=sealed)
    click.echo(f"checked {result.events} events of {result.aggregates} aggregates "
               f"and {result.snapshots} snapshots")
    if sealed is None:
        click.echo("the log is not sealed: no signing key (MINQING_SIGNING_KEY, or run `minqing db init`)")
    else:
        click.echo(f"{result.sealed} events sealed under signed heads up to {result.tree_size or 0} events; "
                   f"{result.unsealed} recorded since, not yet sealed")
        retired = {key.key_id: key.retired_at for key in sealed.retired_keys}
        for signer_id, count in result.head_keys.items():
            which = f"retired at {retired[signer_id]}" if signer_id in retired else (
                "current" if signer_id == key_id(sealed.public_key) else "unknown")
            click.echo(f"{count} heads signed by key {signer_id} ({which})")
    for b in result.breaks:
        where = "sealed log at size" if b.aggregate_id == LOG else f"{b.aggregate_id} at version"
        click.echo(f"BROKEN {where} {b.version}: {b.problem}", err=True)
    if not result.intact:
        sys.exit(1)
    grew = "" if sealed is None else ", and the log only grew since it was sealed"
    click.echo(f"every chain is intact{grew}")


@main.command()
def seal() -> None:
    """Seal the log once: add every event recorded since to its Merkle tree and sign a tree head."""
    with Runtime.open() as rt:
        sealer = rt.sealer()
        if sealer is None or rt.sealed is None:
            raise click.ClickException("no signing key: set MINQING_SIGNING_KEY or run `minqing db init`")
        _present(rt.sealed)
        heads = sealer.seal()
    if not heads:
        click.echo("nothing new to seal")
        return
    head = heads[-1]
    click.echo(f"signed a tree head of {head.tree_size} events: root {head.root_hash.hex()} "
               f"at {head.signed_at}")


def _present(sealed: SealedLog) -> SealedLog:
    """The sealed log, or the operator told to create its tables (dropped ones are created empty: then the
    heads kept beside the key tell what was lost)."""
    if not sealed.present():
        raise click.ClickException("the database has no tables for the sealed log: run `minqing db init`")
    return sealed


@main.group()
def heads() -> None:
    """The log's signed tree heads."""


@heads.command("export")
def heads_export() -> None:
    """Print every signed tree head kept in the database, one JSON object a line, smallest first."""
    with Runtime.open() as rt:
        sealed = rt.sealed
        if sealed is None:
            raise click.ClickException("no signing key: set MINQING_SIGNING_KEY or run `minqing db init`")
        for head in _present(sealed).heads():
            click.echo(json.dumps(head.as_json(), sort_keys=True))


@main.group("keys")
def keys_group() -> None:
    """The keys kept outside the database (docs/keys.md)."""


@keys_group.command("rotate-signing")
def rotate_signing() -> None:
    """Replace the signing key: seal what is recorded so far under the current key, keep its public key as
    retired (retired-signing/ in the key folder), put a new signing.key in its place, destroy the old private
    key, and sign a head of the whole log with the new key. Stop the servers and sealers first: one still
    signing with the old key after its retirement makes `verify` report a break."""
    settings = Settings()
    if settings.signing_key is not None:
        raise click.ClickException(
            "the signing key is set in MINQING_SIGNING_KEY: rotate that secret yourself, then keep the old "
            "public key with `minqing keys retire-public OLDKEY` (docs/keys.md, Rotating the signing key)")
    with Runtime.open(settings) as rt:
        sealer = rt.sealer()
        if sealer is None or rt.signer is None or rt.sealed is None:
            raise click.ClickException("no signing key: run `minqing db init`")
        _rotatable(rt.sealed)
        sealer.seal()
        old = rt.signer
        new = Signer(keys.rotate_signing_key(settings.key_dir, old.key, rt.app.clock()))
        head = Sealer(rt.app, rt.writer, new, rt.heads_file).seal(vouch=True)
    click.echo(f"retired key {old.key_id}; signing key now {new.key_id}")
    if head:
        click.echo(f"the new key signed a tree head of {head[-1].tree_size} events")
    click.echo("publish the new public key (/api/v1/log/public-key) and back the key folder up")


def _rotatable(sealed: SealedLog) -> None:
    """Refuse before any key is touched when the database cannot keep the new key's head beside the old
    key's head of the same size (a database sealed before keys could be rotated, not yet upgraded)."""
    if not heads_keyed_by_key(_present(sealed).engine):
        raise click.ClickException("the database's signed heads are keyed by size alone: run "
                                   "`minqing db init` first (it keeps every head), then rotate")


@keys_group.command("retire-public")
@click.argument("keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def retire_public(keyfile: Path) -> None:
    """Keep an earlier signing key's public key as retired now, after MINQING_SIGNING_KEY was replaced by a
    new key, and sign a head of the whole log with the new one. KEYFILE holds the old public key (64 hex
    digits, PEM, or the public-key endpoint's JSON) or the old private key (only its public key is kept)."""
    content = keyfile.read_bytes()
    try:
        public = keys.parse_signing_key(content).public_key()
    except ValueError:
        try:
            public = public_key_of(raw_key(content.decode("utf-8", "replace")))
        except (ValueError, KeyError) as error:
            raise click.ClickException(f"{keyfile} holds no Ed25519 key: {error}") from None
    with Runtime.open() as rt:
        sealer = rt.sealer()
        if sealer is None or rt.signer is None or rt.sealed is None:
            raise click.ClickException("no signing key: set MINQING_SIGNING_KEY or run `minqing db init`")
        if key_id(public) == rt.signer.key_id:
            raise click.ClickException("that is the signing key in use: set the new one first")
        _rotatable(rt.sealed)
        path = keys.retire_public_key(rt.settings.key_dir, public, rt.app.clock())
        sealer.seal(vouch=True)
    click.echo(f"kept {path}; heads signed by key {key_id(public)} until now stay verifiable")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(file: Path) -> None:
    """Write every stored event and snapshot to FILE (JSON lines) from one consistent snapshot of the
    database, while servers and workers keep running. Events stay encrypted as stored: keep the cipher key's
    backup apart from this file (docs/keys.md)."""
    settings = Settings()
    draft = file.with_name(f".{file.name}.partial")  # FILE appears only whole, readable by its owner only
    try:
        with Runtime.open(settings) as rt, open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                                                "w", encoding="utf-8") as out:
            # Its own engine: the API's readers stop a statement after MINQING_STATEMENT_TIMEOUT_SECONDS.
            reader = make_engine(settings.database_url, writer=False)
            try:
                counts = backups.backup(rt.app, reader, settings.cipher_key_text(), out)
            finally:
                reader.dispose()
            out.flush()
            os.fsync(out.fileno())
        draft.replace(file)
    finally:
        draft.unlink(missing_ok=True)
    click.echo(f"backed up {counts.events} events and {counts.snapshots} snapshots to {file}")


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--backup-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The cipher key file the backup's events were encrypted with, when this store has another "
                   "key: they are re-encrypted with this store's (key rotation, docs/keys.md).")
def restore_command(file: Path, backup_key: Path | None) -> None:
    """Restore a backup into an empty database (created if need be); then run `minqing projections
    rebuild` and `minqing verify`."""
    settings = Settings()
    _initialise(settings)
    old_key = backup_key.read_text(encoding="utf-8").strip() if backup_key else None
    with Runtime.open(settings) as rt:
        counts = backups.restore(rt.app, rt.writer, settings.cipher_key_text(), file, old_key)
    click.echo(f"restored {counts.events} events and {counts.snapshots} snapshots into "
               f"{settings.database_shown}; now run `minqing projections rebuild` and `minqing verify`")


@contextmanager
def _domain_errors() -> Iterator[None]:
    """A rule the domain refuses is the operator's mistake: its message, and exit code 1."""
    try:
        yield
    except DomainError as error:
        raise click.ClickException(error.message) from None


@main.group()
def worker() -> None:
    """Long-running workers (stop with SIGTERM); also `python -m workers.projections`,
    `python -m workers.deadlines` and `python -m workers.seal`."""


worker.add_command(projection_worker.main)
worker.add_command(deadline_worker.main)
worker.add_command(seal_worker.main)
main.add_command(verify_notice)
main.add_command(verify_heads_command)


@main.group("projections")
def projections_group() -> None:
    """Inspect and rebuild the views."""


@projections_group.command("status")
def projections_status() -> None:
    """Each view's position and how far it lags behind the log (events and seconds)."""
    with Runtime.open() as rt:
        lags = Processor(rt.app, rt.reader).lag()
    click.echo(f"{'view':<16}{'position':>10}{'head':>10}{'lag events':>12}{'lag seconds':>13}")
    for lag in lags:
        click.echo(f"{lag.view:<16}{lag.position:>10}{lag.head:>10}{lag.events:>12}{lag.seconds:>13.1f}")


@projections_group.command("rebuild")
@click.argument("names", nargs=-1)
def projections_rebuild(names: tuple[str, ...]) -> None:
    """Rebuild views from the whole log beside the live ones, then swap them in."""
    with Runtime.open() as rt:
        views = projection_worker.chosen(names, rt.app.deployment)
        total = rt.app.recorder.max_notification_id() or 0
        for view in views:
            started = time.perf_counter()
            with click.progressbar(length=total, label=f"rebuilding {view.name}") as bar:
                events = rebuild(rt.app, rt.writer, view, progress=bar.update)
            seconds = time.perf_counter() - started
            click.echo(f"{view.name}: {events} events in {seconds:.1f} s "
                       f"({events / max(seconds, 1e-9):,.0f} events/s)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Embedded mode: API, pages and workers in one process (tables created on the embedded SQLite)."""
    settings = Settings()
    if settings.is_sqlite:
        _initialise(settings)
    configure_logs()
    uvicorn.run(create_app(settings, embedded_workers=True), host=host, port=port, **settings.server_options)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="API processes.")
def api(host: str, port: int, workers: int) -> None:
    """The API only (run `worker projections` and `worker deadlines` beside it), in several processes."""
    settings = Settings()
    Runtime.open(settings).close()  # refuse early, with the message, when the database was never initialised
    configure_logs()
    if workers == 1:
        uvicorn.run("api.web.app:api_process", factory=True, host=host, port=port, **settings.server_options)
        return
    config = uvicorn.Config("api.web.app:api_process", factory=True, host=host, port=port, workers=workers,
                            **settings.server_options)
    sock = config.bind_socket()
    # uvicorn binds the shared socket with protocol 0, so asyncio does not set TCP_NODELAY on the
    # connections it accepts; a response written in two parts then waited for the client's delayed
    # ACK, about 40 ms per request (docs/performance.md, "HTTP API"). Accepted sockets inherit it.
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


@main.group()
def accounts() -> None:
    """Staff accounts, roles and tokens (acting as the operator at the console)."""


@accounts.command("create")
@click.argument("username")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--role", type=click.Choice(ROLES), help="Grant this role at once (with --cell).")
@click.option("--cell", "cell_id", help="The grid cell the role covers (and everything below it).")
def accounts_create(username: str, display_name: str, role: str | None, cell_id: str | None) -> None:
    """Open a staff account, optionally with a first role."""
    with Runtime.open() as rt, _domain_errors():
        rt.app.open_account(actor=SYSTEM, username=username, display_name=display_name)
        if role:
            cell_id = cell_id or rt.app.deployment.root.id
            rt.app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell_id)
    click.echo(f"opened {username}" + (f" as {role} over {cell_id}" if role else ""))


def _role_arguments(command: Callable[..., None]) -> Callable[..., None]:
    for argument in (click.argument("cell_id"), click.argument("role", type=click.Choice(ROLES)),
                     click.argument("username")):
        command = argument(command)
    return command


@accounts.command("grant")
@_role_arguments
def accounts_grant(username: str, role: str, cell_id: str) -> None:
    """Grant a role over a grid cell."""
    _change_role(username, role, cell_id, grant=True)
    click.echo(f"{username} is {role} over {cell_id}")


@accounts.command("revoke")
@_role_arguments
def accounts_revoke(username: str, role: str, cell_id: str) -> None:
    """Revoke a role over a grid cell."""
    _change_role(username, role, cell_id, grant=False)
    click.echo(f"{username} is no longer {role} over {cell_id}")


def _change_role(username: str, role: str, cell_id: str, *, grant: bool) -> None:
    with Runtime.open() as rt, _domain_errors():
        change = rt.app.grant_role if grant else rt.app.revoke_role
        change(actor=SYSTEM, username=username, role=role, cell_id=cell_id)


@accounts.command("issue-token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
def accounts_issue_token(username: str, label: str) -> None:
    """Issue a bearer token; it is printed once and stored only as a hash."""
    with Runtime.open() as rt, _domain_errors():
        token = auth.issue_token(rt.app, actor=SYSTEM, username=username, label=label)[1]
    click.echo(token)


@accounts.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (its first line), for scripts.")
def accounts_set_password(username: str, password_stdin: bool) -> None:
    """Set a member of staff's sign-in password (asked twice; kept only as an Argon2 hash). Their sessions
    signed in with the old one end on their next request."""
    if password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("new password", hide_input=True, confirmation_prompt="the new password again")
    refusal = _in_both_languages(partial(auth.password_refusal, password))
    if refusal:
        raise click.ClickException(refusal)
    with Runtime.open() as rt, _domain_errors():
        auth.set_password(rt.app, actor=SYSTEM, username=username, password=password)
    click.echo(f"set {username}'s password")


def _in_both_languages(message: Callable[[], str | None]) -> str | None:
    """An operator's message in English and Chinese (the console has no language switch)."""
    with i18n.speaking("en"):
        english = message()
    with i18n.speaking("zh_CN"):
        chinese = message()
    return english and f"{english} {chinese}"


@accounts.command("revoke-token")
@click.argument("username")
@click.argument("token_id")
def accounts_revoke_token(username: str, token_id: str) -> None:
    """Revoke a bearer token (its id is the part between the user name and the secret, the last two dots)."""
    with Runtime.open() as rt, _domain_errors():
        rt.app.revoke_token(actor=SYSTEM, username=username, token_id=token_id)
    click.echo(f"revoked {username}'s token {token_id}")
