"""One settings object (environment variables prefixed MINQING_) and the builders that use it."""

from __future__ import annotations

import binascii
from base64 import b64decode
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit, urlunsplit

import click
from eventsourcing.cryptography import AESCipher
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.keys import CIPHER_KEY_FILE, create_key_file, read_key_file
from domain.application import Minqing
from domain.deployment import Deployment, load


def _sqlite_file(url: SplitResult) -> str:
    """The file a sqlite:/// URL names."""
    return unquote(url.path[1:] if url.path.startswith("/") else url.path)


class NotInitialised(click.ClickException):
    """The database has no Minqing tables yet: run `minqing db init`. A command-line error, so that every
    command and worker that opens the database stops with this message and exit code 1."""


PROBED_EVENTS = 5  # read when a store is opened, to refuse a wrong key at once (`Settings.open_application`)


class CipherKeyProblem(click.ClickException):
    """The events cannot be encrypted or read: no cipher key, a damaged one, or the wrong one for the store
    (docs/keys.md). Refused before anything is written, so no event is ever stored unencrypted by mistake."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINQING_")

    database_url: str = "sqlite:///minqing.db"
    deployment: str = "village_township"   # a shipped sample's name or a path to a TOML file
    cipher_key: SecretStr | None = None     # AES key (base64) to encrypt event payloads at rest
    key_dir: Path = Path("minqing-keys")    # the key files, outside the database (api/keys.py)
    # Ed25519 key that signs the log's tree heads (PEM, or base64 of its 32 raw bytes); else signing.key there
    signing_key: SecretStr | None = None
    # Events are encrypted at rest: with `cipher_key`, else with the key folder's cipher.key (`db init`
    # creates it). False only to keep using a store written unencrypted before (docs/keys.md).
    encrypt: bool = True
    lock_timeout_seconds: int = 5
    # How long a request waits for PostgreSQL before it is told 503 with Retry-After: for a connection
    # (whole seconds: the event store library takes no less) and for one statement to finish.
    connect_timeout_seconds: int = 1
    statement_timeout_seconds: float = 15.0
    public_requests_per_minute: int = 30    # per client, on the public routes, all API processes together
    objections_per_phone_per_day: int = 5   # residents' objections to notices, per contact phone
    objections_per_address_per_hour: int = 20  # and per client address (a village office may share one)
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses, as uvicorn takes them);
    # none by default, so a client cannot pick the address its rate limit counts under.
    trusted_proxies: str = ""
    token_days: int = 30                    # a bearer token expires this many days after it was issued
    session_hours: float = 12.0             # a page session ends after this long without a request
    session_days: float = 7.0               # and this long after sign-in, however much it is used
    ready_lag_seconds: float = 60.0         # /readyz: ready while every view is at most this far behind
    # An Idempotency-Key claimed by a request that died is taken over by a retry after this long: longer
    # than a request can run (three conflicting attempts, each waiting at most the lock timeout).
    idempotency_lease_seconds: float = 30.0
    max_body_bytes: int = 1_048_576         # a request body larger than this is refused (413) unread
    command_threads: int = 0                # threads running case commands per API process; 0: see below

    @property
    def threads_for_commands(self) -> int:
        """SQLite takes one writer at a time, so more than two threads only contend for its lock and
        the GIL; PostgreSQL overlaps the waits of more (docs/performance.md, "HTTP API")."""
        return self.command_threads or (2 if self.is_sqlite else 4)

    @property
    def server_options(self) -> dict[str, Any]:
        """How uvicorn serves Minqing. Its C parser and event loop: one process answered 10-18 % more
        commands a second with them than with h11 and asyncio (docs/performance.md, "HTTP API"); the
        request log is ours (api.web.app.RequestLog); forwarded headers only from trusted proxies."""
        return {"http": "httptools", "loop": "uvloop", "log_config": None, "access_log": False,
                "proxy_headers": bool(self.trusted_proxies),
                "forwarded_allow_ips": self.trusted_proxies or None}

    @property
    def token_lifetime(self) -> timedelta:
        return timedelta(days=self.token_days)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(hours=self.session_hours)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(days=self.session_days)

    @property
    def idempotency_lease(self) -> timedelta:
        return timedelta(seconds=self.idempotency_lease_seconds)

    @property
    def database_name(self) -> str:
        """The database as the heads file names it: its URL without a password, a SQLite file by its full
        path. Restored in place, a database keeps its name, and so the heads signed for it."""
        url = urlsplit(self.database_url)
        if url.scheme == "sqlite":
            return f"sqlite:///{Path(_sqlite_file(url)).resolve()}"
        host = f"{url.hostname or ''}:{url.port}" if url.port else url.hostname or ""
        netloc = f"{url.username}@{host}" if url.username else host
        return urlunsplit((url.scheme, netloc, url.path, url.query, ""))

    @property
    def database_shown(self) -> str:
        """The database URL as messages print it: never with its password."""
        url = urlsplit(self.database_url)
        if url.password is None:
            return self.database_url
        return url._replace(netloc=url.netloc.replace(f":{url.password}@", ":***@", 1)).geturl()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def event_store_env(self, *, create_tables: bool = False) -> dict[str, str]:
        """The eventsourcing library's environment for this database URL."""
        env = {"CREATE_TABLE": "y" if create_tables else "n"}
        url = urlsplit(self.database_url)
        if url.scheme == "sqlite":
            path = _sqlite_file(url)
            if not path:
                raise ValueError("MINQING_DATABASE_URL sqlite:///path/to/file.db needs a file path")
            env |= {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                    "SQLITE_LOCK_TIMEOUT": str(self.lock_timeout_seconds)}
        elif url.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            query = parse_qs(url.query)
            env |= {
                "PERSISTENCE_MODULE": "api.eventstore:Factory",  # fails fast when the database is down
                "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": url.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
                "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout_seconds),  # the wait for a pooled one
                "POSTGRES_STATEMENT_TIMEOUT": str(self.statement_timeout_seconds),
                "POSTGRES_PRE_PING": "y",  # connections broken by a restart are replaced, not lent
                "POSTGRES_SCHEMA": query.get("schema", [""])[0],
            }
        elif url.scheme == "memory":
            env |= {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        else:
            raise ValueError(f"MINQING_DATABASE_URL: unsupported scheme {url.scheme!r} "
                             "(use sqlite:///file.db or postgresql://user@host:port/db)")
        # An in-memory store keeps nothing at rest: encrypted only when a key is given.
        key = (self.cipher_key_text(create=create_tables) if url.scheme != "memory" or self.cipher_key
               else None)
        if key is not None:
            env |= {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": key}
        return env

    def cipher_key_text(self, *, create: bool = False) -> str | None:
        """The AES key (base64) the events are encrypted with: MINQING_CIPHER_KEY, else the key folder's
        cipher.key, created first when `create` (tables are created: a new store gets its key then);
        None when `encrypt` is off. Refuses with `CipherKeyProblem` when there is none or it is damaged."""
        if not self.encrypt:
            return None
        if self.cipher_key is not None:
            key, origin = self.cipher_key.get_secret_value(), "MINQING_CIPHER_KEY"
        else:
            if create:  # an existing file is kept; whichever process wrote it first, every one reads it
                create_key_file(self.key_dir, CIPHER_KEY_FILE, AESCipher.create_key(32).encode())
            stored, origin = read_key_file(self.key_dir, CIPHER_KEY_FILE), str(self.key_dir / CIPHER_KEY_FILE)
            if stored is None:
                raise CipherKeyProblem(
                    f"no cipher key: MINQING_CIPHER_KEY is not set and the key folder {self.key_dir} has no "
                    f"{CIPHER_KEY_FILE}. `minqing db init` creates one for a new database; a store that "
                    "holds encrypted events needs the key it was written with, from your key backup; one "
                    "written unencrypted by an older version is opened with MINQING_ENCRYPT=false "
                    "(docs/keys.md)")
            key = stored.decode(errors="replace").strip()
        try:
            size = len(b64decode(key, validate=True))
        except binascii.Error:
            size = 0
        if size not in AESCipher.KEY_SIZES:
            raise CipherKeyProblem(f"the cipher key in {origin} is not a base64 AES key of 16, 24 or 32 "
                                   "bytes")
        return key

    def load_deployment(self) -> Deployment:
        return load(self.deployment)

    def open_application(self, *, create_tables: bool = False) -> Minqing:
        """Build the Application; refuse with a clear message if the tables were never created."""
        app = Minqing(self.load_deployment(), env=self.event_store_env(create_tables=create_tables))
        try:
            app.recorder.max_notification_id()
        except Exception as error:
            app.close()
            raise NotInitialised(
                f"the database at {self.database_shown} has no Minqing tables: run `minqing db init`"
            ) from error
        self._check_readable(app)
        return app

    def _check_readable(self, app: Minqing) -> None:
        """Refuse a store whose first events this key cannot read: the wrong key, a key for a store written
        unencrypted, or no key for an encrypted one — each makes every event unreadable. One unreadable event
        among readable ones is tampering, for `verify` to report: the store opens."""
        first, failure = app.recorder.select_notifications(start=1, limit=PROBED_EVENTS), None
        for notification in first:
            try:
                app.mapper.to_domain_event(notification)
                return
            except ValueError as error:  # AES-GCM's failed tag, or JSON that is not JSON
                failure = error
        if failure is not None:
            app.close()
            origin = ("MINQING_CIPHER_KEY" if self.cipher_key is not None
                      else str(self.key_dir / CIPHER_KEY_FILE))
            why = (f"the cipher key in {origin} is not the one they were encrypted with (restore the right "
                   "one from your key backup), or they were written unencrypted (set MINQING_ENCRYPT=false "
                   "to keep using the store as it is, or move it into an encrypted one with `minqing "
                   "backup` and `minqing restore`)") if self.encrypt else (
                   "they are encrypted and MINQING_ENCRYPT=false turns the cipher off")
            raise CipherKeyProblem(f"the events in {self.database_shown} cannot be read: {why}; docs/keys.md"
                                   ) from failure
