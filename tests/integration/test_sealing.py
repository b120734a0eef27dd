"""The sealed log (RFC 9162 Merkle tree, signed heads inside and outside the database) on SQLite and
PostgreSQL: what sealing records, and each way of rewriting the record directly in SQL that `verify` finds."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from domain import merkle
from domain.application import Minqing
from domain.seal import LOG, Signer, leaf_content
from projections.db import make_engine
from projections.sealed_log import (
    HEADS_FILE,
    HeadsFile,
    SealedLog,
    Sealer,
    create_tables,
    log_leaves,
    signed_heads,
)
from tests.conftest import Clock, add_staff
from tests.integration.test_tamper import StoredRows

CELL = "qingshui.dongcun.g1"


@dataclass
class Log:
    app: Minqing
    engine: Engine
    sealer: Sealer
    record: SealedLog
    rows: StoredRows
    database_url: str

    def verify(self) -> list[tuple[UUID | str, int, str]]:
        return [(b.aggregate_id, b.version, b.problem) for b in self.app.verify(sealed=self.record).breaks]

    def sql(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        """Direct SQL on the sealed log's tables ({leaves}, {heads}, {nodes}) and the events' ({t}, whose
        position in the log is {position})."""
        sqlite = self.database_url.startswith("sqlite")
        prefix = "" if sqlite else urlsplit(self.database_url).query.removeprefix("schema=") + "."
        return self.rows.execute(statement.replace("{leaves}", f"{prefix}log_leaves")
                                 .replace("{heads}", f"{prefix}signed_heads")
                                 .replace("{nodes}", f"{prefix}log_nodes")
                                 .replace("{position}", "rowid" if sqlite else "notification_id"), *params)


@pytest.fixture
def log(database_url: str, open_app: Callable[[], Minqing], tmp_path: Path) -> Iterator[Log]:
    app = open_app()
    add_staff(app)
    engine = make_engine(database_url)
    create_tables(engine)
    signer = Signer(Ed25519PrivateKey.generate())
    heads = HeadsFile(tmp_path / "keys" / HEADS_FILE, database_url)
    yield Log(app, engine, Sealer(app, engine, signer, heads), SealedLog(engine, heads, signer.public_key),
              StoredRows(database_url), database_url)
    engine.dispose()


def case(app: Minqing, clock: Clock, *, notes: int = 3) -> UUID:
    """A manhole-cover case: raised, triaged, assigned, `notes` working notes, flagged."""
    demand_id = app.raise_demand(actor="wang.worker", channel="reception_day", title="A broken manhole cover",
                                 cell_id=CELL, resident_name="张大爷", resident_phone="13800000000").id
    app.triage(demand_id, actor="wang.worker", category="repairs")
    app.assign(demand_id, actor="wang.worker", assignee="wang.worker")
    for n in range(notes):
        clock.advance(hours=1)
        app.add_note(demand_id, actor="wang.worker", text=f"note {n}")
    clock.advance(days=30)                         # long past its deadline
    app.flag(demand_id, actor="chen.supervisor", responsible="东村村委会", finding="首次响应超时")
    return demand_id


def last_version(app: Minqing, aggregate_id: UUID) -> int:
    return app.history(aggregate_id)[-1].version


def test_sealing_makes_every_event_a_leaf_in_log_order_under_a_signed_head(log: Log, clock: Clock) -> None:
    case(log.app, clock)
    [head] = log.sealer.seal()
    events = log.app.recorder.max_notification_id()
    leaves = list(log.record.leaves(below=log.record.size()))
    assert head.tree_size == len(leaves) == events
    assert [leaf.index for leaf in leaves] == list(range(events))
    assert [leaf.notification_id for leaf in leaves] == sorted(leaf.notification_id for leaf in leaves)
    assert head.root_hash == merkle.root([leaf.hash for leaf in leaves])
    assert head.signed_by(log.record.public_key)
    assert log.record.saved_heads() == [head] == log.record.heads()
    assert log.sealer.seal() == []                  # nothing new: no new head
    result = log.app.verify(sealed=log.record)
    assert result.intact and (result.sealed, result.unsealed, result.tree_size) == (events, 0, events)


def test_a_leaf_shows_the_public_part_of_a_case_and_only_a_commitment_to_the_rest(log: Log,
                                                                                   clock: Clock) -> None:
    demand_id = case(log.app, clock)
    log.sealer.seal()
    events = {e.originator_version: e for e in log.app.events.get(demand_id)}
    leaves = {leaf.originator_version: leaf for leaf in log.record.leaves_of(str(demand_id))}
    raised = json.loads(leaf_content(events[1], leaves[1].salt))  # type: ignore[arg-type]
    assert raised["aggregate"] == str(demand_id) and raised["version"] == 1
    assert raised["public"]["what"] == "Raised"
    assert raised["public"]["details"] == {"channel": "reception_day"}
    note = json.loads(leaf_content(events[4], leaves[4].salt))  # type: ignore[arg-type]
    assert note["public"] is None                   # a working note is not for the public
    content = leaf_content(events[1], leaves[1].salt).decode()  # type: ignore[arg-type]
    assert "13800000000" not in content and "张大爷" not in content


def test_events_recorded_after_the_last_head_are_not_yet_sealed_which_is_no_break(log: Log,
                                                                                   clock: Clock) -> None:
    demand_id = case(log.app, clock)
    log.sealer.seal()
    log.app.add_note(demand_id, actor="wang.worker", text="later")
    result = log.app.verify(sealed=log.record)
    assert result.intact and result.unsealed == 1


def test_events_sealed_while_verify_runs_are_not_yet_sealed_to_it_and_no_break(log: Log,
                                                                              clock: Clock) -> None:
    demand_id = case(log.app, clock)
    log.sealer.seal()

    class SealedMeanwhile(SealedLog):
        def size(self) -> int:
            before = super().size()
            log.app.add_note(demand_id, actor="wang.worker", text="recorded and sealed as verify starts")
            log.sealer.seal()
            return before

    meanwhile = SealedMeanwhile(log.engine, log.record.heads_file, log.record.public_key)
    result = log.app.verify(sealed=meanwhile)
    assert result.intact and result.unsealed == 1
    assert log.app.verify(sealed=log.record).intact


def test_two_sealers_at_once_never_append_the_same_leaf(log: Log, clock: Clock) -> None:
    for _ in range(3):
        case(log.app, clock)
    other = Sealer(log.app, log.engine, log.sealer.signer, log.sealer.heads_file, batch=7)
    log.sealer.batch = 5
    threads = [threading.Thread(target=s.seal) for s in (log.sealer, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with log.engine.connect() as conn:
        leaves = conn.execute(select(func.count(), func.count(log_leaves.c.notification_id.distinct()),
                                     func.max(log_leaves.c.leaf_index))).one()
        heads = conn.execute(select(func.count()).select_from(signed_heads)).scalar()
    events = log.app.recorder.max_notification_id()
    assert tuple(leaves) == (events, events, events - 1)
    assert heads == len(log.record.saved_heads()) >= 1
    assert log.app.verify(sealed=log.record).intact


def test_a_sealer_overtaken_between_its_read_and_its_lock_appends_only_what_is_left(
        log: Log, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        case(log.app, clock)
    other = Sealer(log.app, log.engine, log.sealer.signer, log.sealer.heads_file, batch=4)
    log.sealer.batch = 5
    read = log.app.recorder.select_notifications
    overtaken: list[int] = []

    def read_then_overtaken(start: int, limit: int, *args: Any, **kwargs: Any) -> Any:
        page = read(start, limit, *args, **kwargs)
        if not overtaken:
            overtaken.append(start)
            other.seal()          # seals the whole log, this page too, before this sealer takes the lock
        return page

    monkeypatch.setattr(log.app.recorder, "select_notifications", read_then_overtaken)
    assert log.sealer.seal() == []    # nothing left to seal, and the tree's head already signed
    events = log.app.recorder.max_notification_id()
    assert log.record.size() == events and overtaken == [1]
    assert [leaf.notification_id for leaf in log.record.leaves(below=events)] == list(range(1, events + 1))
    assert log.app.verify(sealed=log.record).intact


def test_a_sealer_reads_the_log_holding_no_connection_of_the_database_it_locks(
        log: Log, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite the sealer's lock is the database's write lock; a request saving events waits for it while
    holding the event store's writer, so a read of the log under the lock could wait for that request."""
    case(log.app, clock)
    read = log.app.recorder.select_notifications
    held: list[int] = []

    def read_noting_connections(*args: Any, **kwargs: Any) -> Any:
        held.append(log.engine.pool.checkedout())
        return read(*args, **kwargs)

    monkeypatch.setattr(log.app.recorder, "select_notifications", read_noting_connections)
    log.sealer.batch = 4
    log.sealer.seal()
    assert held and set(held) == {0}
    assert log.record.size() == log.app.recorder.max_notification_id()


def test_catching_up_with_a_long_log_signs_one_head_not_one_a_batch(log: Log, clock: Clock) -> None:
    for _ in range(3):
        case(log.app, clock)
    log.sealer.batch = 4
    [head] = log.sealer.seal()
    assert head.tree_size == log.app.recorder.max_notification_id() == log.record.size()
    assert log.app.verify(sealed=log.record).intact


def test_deleting_a_cases_last_events_is_detected_though_its_chain_stays_intact(log: Log,
                                                                                 clock: Clock) -> None:
    demand_id = case(log.app, clock)
    log.sealer.seal()
    last = last_version(log.app, demand_id)
    for version in (last, last - 1):               # the accountability flag and the last note
        log.rows.delete(demand_id, version)
    assert log.app.verify().intact                  # the chain alone cannot tell
    found = log.verify()
    assert [(a, v) for a, v, _ in found] == [(str(demand_id), last - 1), (str(demand_id), last)]
    assert all("no event is stored there any more: deleted" in problem for _, _, problem in found)


def test_deleting_the_tail_with_its_leaves_and_heads_is_detected_by_the_heads_kept_outside(
        log: Log, clock: Clock) -> None:
    demand_id = case(log.app, clock)
    [head] = log.sealer.seal()
    last = last_version(log.app, demand_id)
    log.rows.delete(demand_id, last)
    log.sql("DELETE FROM {leaves} WHERE leaf_index = ?", head.tree_size - 1)
    log.sql("DELETE FROM {heads}")
    [(where, size, problem)] = log.verify()
    assert (where, size) == (LOG, head.tree_size)
    assert "saved outside the database" in problem and "rolled back" in problem


def test_deleting_an_event_in_the_middle_is_detected(log: Log, clock: Clock) -> None:
    first = case(log.app, clock)
    case(log.app, clock)
    log.sealer.seal()
    log.rows.delete(first, 3)
    found = log.verify()
    assert (first, 4) in [(a, v) for a, v, _ in found]          # the chain's break
    assert any(a == str(first) and v == 3 and "deleted" in p for a, v, p in found)


def test_an_event_inserted_between_sealed_events_is_detected(log: Log, clock: Clock) -> None:
    case(log.app, clock)
    second = case(log.app, clock)
    # A gap in the log's numbering before the second case (PostgreSQL leaves one where a transaction rolled
    # back).
    for shift in ("+ 1000", "- 990"):
        log.sql(f"UPDATE {{t}} SET {{position}} = {{position}} {shift} WHERE originator_id = ?",
                log.rows.key(second))
    gap = log.sql("SELECT MIN({position}) FROM {t} WHERE originator_id = ?", log.rows.key(second))[0][0]
    log.sealer.seal()
    # A new case with an intact chain, recorded after sealing, then moved back into the gap.
    forged = log.app.raise_demand(actor="wang.worker", channel="phone", title="forged", cell_id=CELL).id
    log.sql("UPDATE {t} SET {position} = ? WHERE originator_id = ?", int(str(gap)) - 5, log.rows.key(forged))
    assert log.app.verify().intact
    [(aggregate, version, problem)] = log.verify()
    assert (aggregate, version) == (forged, 1) and "never sealed: inserted" in problem


def test_a_database_rolled_back_to_an_older_copy_is_detected(log: Log, clock: Clock, tmp_path: Path) -> None:
    demand_id = case(log.app, clock)
    [older] = log.sealer.seal()
    copy = tmp_path / "older.db"
    if log.database_url.startswith("sqlite"):
        with sqlite3.connect(urlsplit(log.database_url).path) as live, sqlite3.connect(copy) as saved:
            live.backup(saved)
    log.app.add_note(demand_id, actor="wang.worker", text="recorded after the copy")
    log.app.close_case(demand_id, actor="wang.worker", outcome="withdrawn", explanation="resident withdrew")
    [newer] = log.sealer.seal()
    if log.database_url.startswith("sqlite"):
        with sqlite3.connect(copy) as saved, sqlite3.connect(urlsplit(log.database_url).path) as live:
            saved.backup(live)
    else:   # the same done row by row: whatever was recorded after the older copy is gone
        log.sql("DELETE FROM {t} WHERE {position} > ?", older.tree_size)
        log.sql("DELETE FROM {leaves} WHERE leaf_index >= ?", older.tree_size)
        log.sql("DELETE FROM {heads} WHERE tree_size > ?", older.tree_size)
    assert log.app.verify().intact                  # an older copy is a consistent database
    [(where, size, problem)] = log.verify()
    assert (where, size) == (LOG, newer.tree_size)
    assert "rolled back to an older copy" in problem


def test_a_rolled_back_database_that_went_on_and_was_sealed_again_is_detected(log: Log, clock: Clock) -> None:
    demand_id = case(log.app, clock)
    [older] = log.sealer.seal()
    log.app.add_note(demand_id, actor="wang.worker", text="lost in the rollback")
    [newer] = log.sealer.seal()
    log.sql("DELETE FROM {t} WHERE {position} > ?", older.tree_size)
    log.sql("DELETE FROM {leaves} WHERE leaf_index >= ?", older.tree_size)
    log.sql("DELETE FROM {heads} WHERE tree_size > ?", older.tree_size)
    log.sealer.frontier = merkle.Frontier()         # a sealer started afresh on the restored database
    log.app.add_note(demand_id, actor="wang.worker", text="written in its place")
    log.sealer.seal()
    found = log.verify()
    assert [(w, s) for w, s, _ in found] == [(LOG, newer.tree_size)]
    assert "did not only grow" in found[0][2]


def test_a_replaced_snapshot_is_detected(log: Log, clock: Clock) -> None:
    demand_id = case(log.app, clock, notes=100)     # a snapshot is taken every 100 events
    log.sealer.seal()
    [snapshot] = log.app.snapshots.get(demand_id)  # type: ignore[union-attr]
    assert log.verify() == [] and log.app.verify(sealed=log.record).snapshots == 1
    table = "stored_snapshots" if log.database_url.startswith("sqlite") else \
        urlsplit(log.database_url).query.removeprefix("schema=") + ".minqing_snapshots"
    [(stored,)] = log.rows.execute(f"SELECT state FROM {table}")
    cipher = log.rows.cipher  # an insider with the key, as in test_tamper
    state = cipher.decrypt(bytes(stored)) if cipher else bytes(stored)
    assert b"wang.worker" in state
    replaced = state.replace(b"wang.worker", b"zhao.worker")
    log.rows.execute(f"UPDATE {table} SET state = ?", cipher.encrypt(replaced) if cipher else replaced)
    assert log.app.repository.get(demand_id).assignee == "zhao.worker"    # what every reader now sees
    found = log.verify()
    assert [(a, v) for a, v, _ in found] == [(demand_id, snapshot.originator_version)]
    assert "differs from its events replayed: replaced" in found[0][2]


def test_the_snapshots_of_a_household_and_an_account_replay_to_what_they_hold(log: Log) -> None:
    household = log.app.register_household(actor="wang.worker", cell_id=CELL, address="东村一组1号",
                                           categories=["hardship"]).id
    for n in range(100):
        log.app.recategorise_household(household, actor="wang.worker",
                                       categories=["hardship", "elderly_alone"] if n % 2 else ["hardship"])
    for _ in range(50):
        log.app.grant_role(actor="admin", username="zhao.worker", role="reviewer", cell_id=CELL)
        log.app.revoke_role(actor="admin", username="zhao.worker", role="reviewer", cell_id=CELL)
    log.sealer.seal()
    result = log.app.verify(sealed=log.record)
    assert result.intact and result.snapshots == 2


def test_a_case_s_leaves_are_proved_included_under_the_latest_head(log: Log, clock: Clock) -> None:
    demand_id = case(log.app, clock)
    case(log.app, clock)
    [head] = log.sealer.seal()
    log.app.add_note(demand_id, actor="wang.worker", text="not yet sealed")
    chain, sealed = log.app.verify_sealed(demand_id, log.record)
    assert chain.intact and not sealed.breaks and sealed.head == head and sealed.unsealed == 1
    assert [i.version for i in sealed.inclusions] == list(range(1, last_version(log.app, demand_id)))
    for inclusion in sealed.inclusions:
        assert inclusion.included
        assert merkle.verify_inclusion(inclusion.leaf_index, head.tree_size, inclusion.leaf_hash,
                                       inclusion.proof, head.root_hash)


def test_a_case_whose_sealed_events_were_deleted_fails_its_own_verify(log: Log, clock: Clock) -> None:
    demand_id = case(log.app, clock)
    log.sealer.seal()
    last = last_version(log.app, demand_id)
    log.rows.delete(demand_id, last)
    chain, sealed = log.app.verify_sealed(demand_id, log.record)
    assert chain.intact
    assert [(b.version, "deleted" in b.problem) for b in sealed.breaks] == [(last, True)]


def test_a_changed_stored_subtree_fails_the_proofs_built_from_it_and_verify_names_it(log: Log,
                                                                                   clock: Clock) -> None:
    first = case(log.app, clock)
    case(log.app, clock)
    [head] = log.sealer.seal()
    [leaf] = [leaf for leaf in log.record.leaves_of(str(first)) if leaf.originator_version == 1]
    level, index = 2, (leaf.index >> 2) ^ 1         # the four leaves beside leaf's own four: on its path
    assert head.tree_size >= (index + 1) * 4
    log.sql("UPDATE {nodes} SET node_hash = ? WHERE level = ? AND node_index = ?", bytes(32), level, index)
    _, sealed = log.app.verify_sealed(first, log.record)
    assert (first, 1) in [(b.aggregate_id, b.version) for b in sealed.breaks]
    [(where, at, problem)] = log.verify()
    assert (where, at) == (LOG, index * 4)
    assert f"the stored root of the sealed leaves {index * 4} to {index * 4 + 3} is not the one" in problem
    log.sql("DELETE FROM {nodes} WHERE level = ? AND node_index = ?", level, index)
    [(where, at, problem)] = log.verify()
    assert (where, at) == (LOG, index * 4) and "is missing" in problem


def test_a_log_sealed_before_its_subtrees_were_kept_gets_them_from_its_leaves(log: Log, clock: Clock) -> None:
    demand_id = case(log.app, clock)
    log.sealer.seal()
    log.sql("DROP TABLE {nodes}")
    create_tables(log.engine)                       # `minqing db init`
    assert log.verify() == []
    log.sql("DROP TABLE {nodes}")
    later = Sealer(log.app, log.engine, log.sealer.signer, log.sealer.heads_file)  # the upgraded worker
    log.app.add_note(demand_id, actor="wang.worker", text="sealed by the upgraded worker")
    [head] = later.seal()
    assert log.verify() == []
    _, sealed = log.app.verify_sealed(demand_id, log.record)
    assert not sealed.breaks and sealed.head == head
    assert len(sealed.inclusions) == last_version(log.app, demand_id)
