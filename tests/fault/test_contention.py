"""Contention (issue 10, fault suite): 16 clients for 30 s send conflicting commands, with and without
If-Match and Idempotency-Key, at the same 20 cases through two API processes on PostgreSQL, with the
projection worker and the deadline watcher running. The run happens once for the module; each test
checks one thing the store must show afterwards. `pytest -s` prints the run's figures
(docs/reliability.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.compose import Runtime
from api.settings import Settings
from tests.fault.load import WORKER, Clients, Ledger, raise_cases, views_caught_up
from tests.fault.stack import Judged, judged, on_postgres, postgres_schema

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

CLIENTS, SECONDS = 16, 30


@pytest.fixture(scope="module")
def contended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
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
        result = judged(settings, stack.env, ledger, cases,
                        {"clients": CLIENTS, "seconds": round(seconds, 1), "cases": len(cases)})
        print("\ncontention figures:", result.report)
        yield result


def test_every_accepted_command_is_stored_once_and_every_refused_one_not_at_all(contended: Judged) -> None:
    assert contended.figures["accepted"] > 0 and contended.figures["refused"] > 0, contended.report
    assert contended.broken == [], contended.report


def test_each_case_history_is_a_lawful_sequence_of_its_template(contended: Judged) -> None:
    assert contended.unlawful == [], contended.report


def test_every_command_is_answered_and_none_with_a_5xx(contended: Judged) -> None:
    figures = contended.figures
    assert (figures["unknown"], figures["stuck"], figures["http_5xx"], figures["connections_refused"],
            figures["connections_lost"]) == (0, 0, 0, 0, 0), contended.report


def test_a_request_sent_again_with_its_key_gets_the_first_answer_back(contended: Judged) -> None:
    assert contended.figures["replays_checked"] > 0, contended.report
    assert contended.ledger.replays_unlike_the_first == [], contended.report


def test_no_idempotency_key_is_left_claimed(contended: Judged) -> None:
    assert contended.claims_in_flight == 0, contended.report


def test_the_views_equal_a_fresh_rebuild(contended: Judged) -> None:
    assert contended.views_unlike_a_rebuild == [], contended.report


def test_every_hash_chain_is_intact(contended: Judged) -> None:
    code, output = contended.verify
    assert code == 0, output
