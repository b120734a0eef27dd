"""Contention (issue 10, fault suite): 16 clients for 30 s send conflicting commands, with and without
If-Match and Idempotency-Key, at the same 20 cases through two API processes on PostgreSQL, with the
projection worker and the deadline watcher running. The run happens once for the module; each test
checks one thing the store must show afterwards. `pytest -s` prints the run's figures
(docs/reliability.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.compose import Runtime
from api.settings import Settings
from tests.fault.load import (
    WORKER,
    Clients,
    Ledger,
    claims_in_flight,
    raise_cases,
    stored_once,
    unlawful_histories,
    views_caught_up,
    views_unlike_a_rebuild,
)
from tests.fault.stack import on_postgres, postgres_schema, verify

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

CLIENTS, SECONDS = 16, 30


@dataclass
class Contended:
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


@pytest.fixture(scope="module")
def contended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contended]:
    logdir: Path = tmp_path_factory.mktemp("contention")
    with postgres_schema() as database_url:
        settings = Settings(database_url=database_url)
        with on_postgres(database_url, logdir) as stack:
            ledger = Ledger()
            cases = raise_cases(stack.bases[0], stack.tokens[WORKER], ledger)
            started = time.monotonic()
            Clients(stack.bases, stack.tokens, cases, ledger, seed=10).run(CLIENTS, SECONDS)
            seconds = time.monotonic() - started
            with Runtime.open(settings) as rt:
                views_caught_up(rt.app, rt.reader)
            stack.processes.alive()
        with Runtime.open(settings) as rt:
            broken = stored_once(rt.app, ledger, cases)
            unlawful = unlawful_histories(rt.app, cases)
            unlike = views_unlike_a_rebuild(rt.app, rt.writer)
            in_flight = claims_in_flight(rt.writer)
            events = rt.app.recorder.max_notification_id() or 0
        figures = {"clients": CLIENTS, "seconds": round(seconds, 1), "cases": len(cases),
                   "events": events} | ledger.figures()
        print("\ncontention figures:", json.dumps(figures, ensure_ascii=False))
        yield Contended(ledger, figures, broken, unlawful, unlike, in_flight, verify(stack.env))


def test_every_accepted_command_is_stored_once_and_every_refused_one_not_at_all(contended: Contended) -> None:
    assert contended.figures["accepted"] > 0 and contended.figures["refused"] > 0, contended.report
    assert contended.broken == [], contended.report


def test_each_case_history_is_a_lawful_sequence_of_its_template(contended: Contended) -> None:
    assert contended.unlawful == [], contended.report


def test_every_command_is_answered_and_none_with_a_5xx(contended: Contended) -> None:
    figures = contended.figures
    assert (figures["unknown"], figures["stuck"], figures["http_5xx"], figures["connections_refused"],
            figures["connections_lost"]) == (0, 0, 0, 0, 0), contended.report


def test_a_request_sent_again_with_its_key_gets_the_first_answer_back(contended: Contended) -> None:
    assert contended.figures["replays_checked"] > 0, contended.report
    assert contended.ledger.replays_unlike_the_first == [], contended.report


def test_no_idempotency_key_is_left_claimed(contended: Contended) -> None:
    assert contended.claims_in_flight == 0, contended.report


def test_the_views_equal_a_fresh_rebuild(contended: Contended) -> None:
    assert contended.views_unlike_a_rebuild == [], contended.report


def test_every_hash_chain_is_intact(contended: Contended) -> None:
    code, output = contended.verify
    assert code == 0, output
