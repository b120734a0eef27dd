"""Driving the HTTP API in tests: who calls, with which token, and cases put into a state first.

States are reached through the Application as the worker of 东村 (Dongcun) would reach them, so
each HTTP test starts from the state its command needs and checks only what the HTTP layer adds.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx2
from fastapi.testclient import TestClient

from domain.application import Minqing

WORKER = "wang.worker"               # worker over 东村 qingshui.dongcun
OUTSIDER = "zhao.worker"             # worker over 西村 qingshui.xicun
SUPERVISOR = "chen.supervisor"       # supervisor over the township
REVIEWER = "sun.reviewer"            # reviewer over the township
ADMIN = "admin"
NO_TOKEN = "no token"
BAD_TOKEN = "bad token"

CELL = "qingshui.dongcun.g1"
RESIDENT_NAME = "李秀英"
RESIDENT_PHONE = "13812345678"
DELIBERATION_STEPS = ("branch_proposal", "two_committees", "members_assembly")
ADOPTING_VOTE = {"body": "representatives", "members": 30, "present": 24, "in_favour": 20, "against": 2,
                 "abstained": 2}
PROBLEM = "application/problem+json"


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


class Api:
    """The TestClient, the runtime's Application, and a token per member of staff."""

    def __init__(self, client: TestClient, app: Minqing, tokens: dict[str, str]) -> None:
        self.client, self.app, self.tokens = client, app, tokens

    @property
    def runtime(self) -> Any:
        return self.client.app.state.runtime  # type: ignore[attr-defined]

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        headers = dict(extra)
        if who == BAD_TOKEN:
            headers["Authorization"] = f"Bearer {WORKER}.0badc0de.not-the-secret"
        elif who != NO_TOKEN:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return headers

    def get(self, path: str, who: str = WORKER, headers: dict[str, str] | None = None,
            **params: Any) -> httpx2.Response:
        return self.client.get(path, params=params, headers=self.headers(who, **(headers or {})))

    def post(self, path: str, body: Any, who: str = WORKER, headers: dict[str, str] | None = None
             ) -> httpx2.Response:
        return self.client.post(path, json=body, headers=self.headers(who, **(headers or {})))

    def command(self, case: UUID, name: str, body: Any, who: str = WORKER,
                headers: dict[str, str] | None = None) -> httpx2.Response:
        return self.post(f"/api/v1/demands/{case}/{name}", body, who, headers)

    def head(self) -> int:
        """The position of the last event recorded: pass as ?after= to read everything so far."""
        return self.app.recorder.max_notification_id() or 0

    def event_types(self, aggregate: UUID) -> list[str]:
        return [e.type for e in self.app.history(aggregate)]


# ---------------------------------------------------------------- cases in a state, reached as a worker
def raised(app: Minqing, occurred_at: datetime | None = None, actor: str = WORKER, **fields: Any) -> UUID:
    body = {"channel": "reception_day", "title": "东村一组路灯不亮 Street lights out", "cell_id": CELL,
            "resident_name": RESIDENT_NAME, "resident_phone": RESIDENT_PHONE} | fields
    return app.raise_demand(actor=actor, occurred_at=occurred_at, **body).id


def triaged(app: Minqing, category: str = "repairs") -> UUID:
    case = raised(app)
    app.triage(case, actor=WORKER, category=category)
    return case


def deliberating(app: Minqing) -> UUID:
    return triaged(app, "public_works")


def awaiting_vote(app: Minqing) -> UUID:
    case = deliberating(app)
    for step in DELIBERATION_STEPS:
        app.discuss(case, actor=WORKER, step=step)
    return case


def awaiting_resolution_notice(app: Minqing) -> UUID:
    case = awaiting_vote(app)
    app.vote(case, actor=WORKER, **ADOPTING_VOTE)
    return case


def notice_up(app: Minqing) -> UUID:
    """A resolution notice posted now, so still up: its id is resolution-1-1."""
    case = awaiting_resolution_notice(app)
    app.publicize(case, actor=WORKER, kind="resolution", text="决议 安装路灯12盏 Twelve street lights")
    return case


def objection_lodged(app: Minqing) -> UUID:
    """An unanswered objection (objection-1) to the resolution notice."""
    case = notice_up(app)
    app.lodge_objection(case, actor=WORKER, notice_id="resolution-1-1", text="路灯位置不合理")
    return case


def resolved(app: Minqing) -> UUID:
    case = triaged(app)
    app.resolve(case, actor=WORKER, summary="灯已修好 Lights repaired")
    return case


def overdue(app: Minqing) -> UUID:
    """Raised three days ago and never triaged: its first response deadline has passed."""
    return raised(app, occurred_at=ago(days=3))


def household(app: Minqing) -> UUID:
    home = {"cell_id": CELL, "address": "东村一组7号", "categories": ["elderly_alone"],
            "head_name": RESIDENT_NAME, "phone": RESIDENT_PHONE}
    return app.register_household(actor=WORKER, **home).id


def scheduled_visit(app: Minqing) -> UUID:
    return app.schedule_visit(household(app), actor=WORKER, visitor=WORKER, purpose="welfare_call",
                              due_at=ago(days=-3)).id


def problem_type(response: httpx2.Response) -> str:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return str(response.json()["type"])


# ---------------------------------------------------------------- real servers, as processes
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def minqing(env: dict[str, str], *args: str) -> str:
    """Run the `minqing` command; its standard output."""
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.strip()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def serving(env: dict[str, str], logdir: Path, command: str = "serve",
            module: str = "api.cli") -> Iterator[str]:
    """`minqing serve` (or `minqing api`) as a process on a free port, with this environment: its base
    URL while it runs, stopped by SIGTERM afterwards. `module` runs the CLI (tests.browser.clocked: with
    a clock the test moves)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logfile = logdir / f"server-{port}.log"
    with open(logfile, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", module, command, "--port", str(port)], env=env,
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not answers(f"{base}/healthz"):  # the server starting, not a view catching up
            assert process.poll() is None, logfile.read_text()
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()



@dataclass
class Processes:
    """Servers and workers as processes, each by name: started, killed, restarted, stopped."""

    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    commands: dict[str, tuple[dict[str, str], tuple[str, ...]]] = field(default_factory=dict)

    def start(self, name: str, env: dict[str, str], logdir: Path, module: str, *args: str) -> None:
        """Run `python -m module args…` (the CLI, or a worker's own entry point)."""
        self.logs[name] = logdir / f"{name}.log"
        self.commands[name] = (env, (module, *args))
        self.logs[name].write_bytes(b"")
        self._spawn(name)

    def _spawn(self, name: str) -> None:
        env, command = self.commands[name]
        with self.logs[name].open("ab") as out:  # a restarted process goes on in the same log
            self.running[name] = subprocess.Popen([sys.executable, "-m", *command], cwd=ROOT, env=env,
                                                  stdout=out, stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash would end it: no shutdown, nothing flushed or released by the process."""
        self.running[name].send_signal(signal.SIGKILL)
        self.running[name].wait()

    def restart(self, name: str) -> None:
        """Start it again as it was started first."""
        assert self.running[name].poll() is not None, f"{name} is still running"
        self._spawn(name)

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> None:
        for name, process in self.running.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.tail(name)}"

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to each, then wait; anything still running after 20 s is killed (and reported)."""
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + 20
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes[name] = None
        return codes
