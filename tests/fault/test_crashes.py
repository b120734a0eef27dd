"""Crashes (issue 10, fault suite): under the contention load (16 clients sending conflicting commands at
20 cases), processes are SIGKILLed at random moments and restarted — on PostgreSQL the two API processes,
the projection worker and the deadline watcher in turn; in embedded mode the one `minqing serve` on
SQLite. Clients retry a command sent with an Idempotency-Key until it is answered, as the retry contract
asks. The run happens once per store; each test checks one thing the store must show afterwards.
`pytest -s` prints the run's figures (docs/reliability.md)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.compose import Runtime
from api.settings import Settings
from tests.fault.load import WORKER, Clients, Ledger, raise_cases, views_caught_up
from tests.fault.stack import Judged, Stack, embedded, judged, on_postgres, postgres_schema

pytestmark = pytest.mark.timeout(300)

CLIENTS, SECONDS, KILLS = 16, 45, 6


@dataclass
class Crashed:
    """A run with kills, judged."""

    store: str
    kills: list[str]
    judged: Judged


def killer(stack: Stack, rng: random.Random, kills: list[str]) -> Callable[[threading.Event], None]:
    """Kills one process at a random moment in each of KILLS equal slots of the run, and restarts it;
    the processes take turns, so on PostgreSQL each API process and each worker dies at least once."""
    names = stack.apis + stack.workers
    order = [names[n % len(names)] for n in range(KILLS)]
    rng.shuffle(order)

    def kill_in_turn(done: threading.Event) -> None:
        slot = SECONDS / KILLS
        start = time.monotonic()
        for n, victim in enumerate(order):
            moment = start + n * slot + rng.uniform(0, slot * 0.6)
            if done.wait(max(0.0, moment - time.monotonic())):
                return
            stack.processes.kill(victim)
            kills.append(victim)
            stack.restart(victim)

    return kill_in_turn


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"])
def crashed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crashed]:
    store: str = request.param
    logdir: Path = tmp_path_factory.mktemp(f"crashes-{store}")
    database = postgres_schema() if store == "postgres" else nullcontext(f"sqlite:///{logdir / 'minqing.db'}")
    with database as database_url:
        settings = Settings(database_url=database_url)
        run = on_postgres if store == "postgres" else embedded
        with run(database_url, logdir) as stack:
            ledger, kills = Ledger(), []
            cases = raise_cases(stack.bases[0], stack.tokens[WORKER], ledger)
            started = time.monotonic()
            rng = random.Random(20)
            Clients(stack.bases, stack.tokens, cases, ledger, seed=20).run(
                CLIENTS, SECONDS, beside=killer(stack, rng, kills))
            seconds = time.monotonic() - started
            stack.processes.alive()
            with Runtime.open(settings) as rt:
                views_caught_up(rt.app, rt.reader)
        result = judged(settings, stack.env, ledger, cases,
                        {"store": store, "clients": CLIENTS, "seconds": round(seconds, 1),
                         "cases": len(cases), "kills": len(kills), "killed": dict(Counter(kills))})
        print(f"\ncrash figures ({store}):", result.report)
        yield Crashed(store, kills, result)


def test_processes_are_killed_at_least_five_times_and_restarted(crashed: Crashed) -> None:
    assert len(crashed.kills) >= 5, crashed.judged.report
    if crashed.store == "postgres":  # each API process and each worker
        processes = {"api-1", "api-2", "projections", "deadlines", "seal"}
        assert set(crashed.kills) == processes, crashed.judged.report


def test_no_acknowledged_write_is_lost_and_nothing_is_stored_twice(crashed: Crashed) -> None:
    assert crashed.judged.figures["accepted"] > 0, crashed.judged.report
    assert crashed.judged.broken == [], crashed.judged.report


def test_each_case_history_stays_a_lawful_sequence_of_its_template(crashed: Crashed) -> None:
    assert crashed.judged.unlawful == [], crashed.judged.report


def test_every_key_retried_after_a_kill_gets_a_final_answer_and_none_stays_claimed(crashed: Crashed) -> None:
    assert crashed.judged.figures["keys_retried"] > 0, crashed.judged.report
    assert (crashed.judged.figures["stuck"], crashed.judged.claims_in_flight) == (0, 0), crashed.judged.report


def test_a_request_sent_again_with_its_key_gets_the_first_answer_back(crashed: Crashed) -> None:
    assert crashed.judged.figures["replays_checked"] > 0, crashed.judged.report
    assert crashed.judged.ledger.replays_unlike_the_first == [], crashed.judged.report


def test_every_hash_chain_is_intact(crashed: Crashed) -> None:
    code, output = crashed.judged.verify
    assert code == 0, output


def test_the_log_was_sealed_through_the_crashes_and_only_grew(crashed: Crashed) -> None:
    code, output = crashed.judged.verify
    sealed = re.search(r"(\d+) events sealed under signed heads", output)
    assert code == 0 and sealed is not None and int(sealed[1]) > 0, output
    assert "the log only grew since it was sealed" in output


def test_the_views_equal_a_fresh_rebuild(crashed: Crashed) -> None:
    assert crashed.judged.views_unlike_a_rebuild == [], crashed.judged.report
