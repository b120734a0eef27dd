"""Minqing as it is deployed, in real processes on loopback: two API processes and the three workers on a
PostgreSQL schema of its own, or the embedded `minqing serve` on a SQLite file of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.auth import issue_token
from api.compose import Runtime, initialise
from api.settings import Settings
from domain.application import SYSTEM
from tests.conftest import POSTGRES_URL, fresh_schema
from tests.e2e.support import ROOT, Processes, answers, free_port
from tests.fault.load import (
    STAFF,
    Ledger,
    claims_in_flight,
    stored_once,
    unlawful_histories,
    views_unlike_a_rebuild,
)

# A claim whose request died is taken over after this lease (MINQING_IDEMPOTENCY_LEASE_SECONDS), short
# here so that keys retried after a kill finish within the run.
LEASE_SECONDS = "5"


@dataclass
class Stack:
    env: dict[str, str]
    bases: list[str]                 # one base URL per API process
    tokens: dict[str, str]           # username → bearer token
    processes: Processes
    apis: list[str]                  # the names of the API processes in `processes`
    workers: list[str]               # the names of the worker processes (none in embedded mode)

    def wait_until_answering(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        for base in self.bases:
            while not answers(f"{base}/healthz"):
                self.processes.alive()
                assert time.monotonic() < deadline, f"{base} did not answer within {seconds} s"
                time.sleep(0.1)

    def restart(self, name: str) -> None:
        """Start a killed process again; an API process is waited for until it answers."""
        self.processes.restart(name)
        if name in self.apis:
            self.wait_until_answering()


def prepared(env: dict[str, str]) -> dict[str, str]:
    """Tables and staff, made through the Application as the operator's CLI makes them (`db init`,
    `accounts create`, `accounts issue-token`), without a process for each: a token per member of staff."""
    settings = Settings(database_url=env["MINQING_DATABASE_URL"])
    initialise(settings)
    tokens = {}
    with Runtime.open(settings) as rt:
        for username, (role, cell) in STAFF.items():
            rt.app.open_account(actor=SYSTEM, username=username)
            rt.app.grant_role(actor=SYSTEM, username=username, role=role, cell_id=cell)
            tokens[username] = issue_token(rt.app, actor=SYSTEM, username=username, label="fault suite")[1]
    return tokens


def environment(database_url: str) -> dict[str, str]:
    env = {**os.environ, "MINQING_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
           "MINQING_IDEMPOTENCY_LEASE_SECONDS": LEASE_SECONDS}
    env.pop("MINQING_CIPHER_KEY", None)
    return env


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL on a schema of its own, dropped afterwards (for a whole module's run)."""
    with fresh_schema() as schema:
        yield f"{POSTGRES_URL}?schema={schema}"


@contextmanager
def on_postgres(database_url: str, logdir: Path) -> Iterator[Stack]:
    """`minqing api` twice (two processes, each on its own port), the projection worker, the deadline
    watcher and the sealer; all stopped with SIGTERM afterwards."""
    env = environment(database_url)
    tokens = prepared(env)
    ports = [free_port(), free_port()]
    stack = Stack(env, [f"http://127.0.0.1:{port}" for port in ports], tokens, Processes(),
                  ["api-1", "api-2"], ["projections", "deadlines", "seal"])
    try:
        for name, port in zip(stack.apis, ports, strict=True):
            stack.processes.start(name, env, logdir, "api.cli", "api", "--port", str(port))
        stack.processes.start("projections", env, logdir, "workers.projections")
        stack.processes.start("deadlines", env, logdir, "workers.deadlines", "--every", "1")
        stack.processes.start("seal", env, logdir, "workers.seal", "--every", "1")
        stack.wait_until_answering()
        yield stack
    finally:
        stack.processes.stop()


@contextmanager
def embedded(database_url: str, logdir: Path) -> Iterator[Stack]:
    """`minqing serve`: the API with the workers as its threads, in one process."""
    env = environment(database_url)
    tokens = prepared(env)
    port = free_port()
    stack = Stack(env, [f"http://127.0.0.1:{port}"], tokens, Processes(), ["serve"], [])
    try:
        stack.processes.start("serve", env, logdir, "api.cli", "serve", "--port", str(port))
        stack.wait_until_answering()
        yield stack
    finally:
        stack.processes.stop()


def verify(env: dict[str, str]) -> tuple[int, str]:
    """`minqing verify`: its exit code and what it printed."""
    done = subprocess.run([sys.executable, "-m", "api.cli", "verify"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


@dataclass
class Judged:
    """What a run of the load left in the store, judged after it: the commands stored other than their
    answers said (`broken`), histories unlawful for their template, views unlike a fresh rebuild, claims
    of Idempotency-Keys left in flight, and what `minqing verify` said."""

    ledger: Ledger
    figures: dict[str, Any]
    broken: list[str]
    unlawful: list[str]
    views_unlike_a_rebuild: list[str]
    claims_in_flight: int
    verify: tuple[int, str]

    @property
    def report(self) -> str:
        """The run's figures, for assertion messages."""
        return json.dumps(self.figures, ensure_ascii=False)


def judged(settings: Settings, env: dict[str, str], ledger: Ledger, cases: dict[str, str],
           figures: dict[str, Any]) -> Judged:
    """Judge the store a run left (its processes stopped), adding the log's length, the claims in flight
    and the ledger's counts to the run's `figures`."""
    with Runtime.open(settings) as rt:
        broken = stored_once(rt.app, ledger, cases)
        unlawful = unlawful_histories(rt.app, cases)
        unlike = views_unlike_a_rebuild(rt.app, rt.writer)
        in_flight = claims_in_flight(rt.writer)
        events = rt.app.recorder.max_notification_id() or 0
    figures = figures | {"events": events, "claims_in_flight": in_flight} | ledger.figures()
    return Judged(ledger, figures, broken, unlawful, unlike, in_flight, verify(env))
