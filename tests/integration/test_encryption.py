"""With a cipher key, personal data is not readable in the stored rows — the events' nor the views' — and
audit still works."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from uuid import UUID

import pytest
from eventsourcing.cryptography import AESCipher
from sqlalchemy import Engine, select

from api.compose import initialise
from api.settings import Settings
from domain.application import Minqing
from domain.deployment import Deployment
from projections import all_views
from projections.cases import cases
from projections.db import make_engine
from projections.processor import Processor, rebuild
from tests.conftest import add_staff
from tests.e2e import support as s


def test_a_resident_phone_number_is_not_stored_in_clear_when_a_cipher_key_is_set(
        tmp_path, deployment: Deployment) -> None:
    path = tmp_path / "encrypted.db"
    settings = Settings(database_url=f"sqlite:///{path}", cipher_key=AESCipher.create_key(32))
    Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
    app = settings.open_application()
    add_staff(app)
    demand_id = app.raise_demand(actor="wang.worker", channel="phone", title="漏水 Leaking roof",
                                 cell_id="qingshui.dongcun.g1", resident_phone="13912345678").id
    app.close()
    with sqlite3.connect(path) as conn:
        stored = b"".join(row[0] for row in conn.execute("SELECT state FROM stored_events"))
    assert b"13912345678" not in stored
    reopened = settings.open_application()
    assert reopened.demand(demand_id).resident_phone == "13912345678"
    assert reopened.verify().intact
    reopened.close()


# ---------------------------------------------------------------- the views, with and without a key
MOBILE, ID_NUMBER = "13912345678", "11010519491231002X"
TYPED = f"请回电 {MOBILE}，身份证 {ID_NUMBER}"  # what a worker types into free text


@pytest.fixture(params=[True, False], ids=["with a key", "without encryption"])
def keyed(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def viewed(database_url: str, deployment: Deployment, keyed: bool) -> Iterator[tuple[Minqing, Engine]]:
    """A case with the numbers typed into its title, description, flag, notice, objection and notes, and
    a household with them in its address, every view caught up: the app and the views' engine."""
    settings = Settings(database_url=database_url, cipher_key=AESCipher.create_key(32) if keyed else None,
                        encrypt=keyed)  # without: MINQING_ENCRYPT=false, as a store of an older version
    initialise(settings)
    app = settings.open_application()
    add_staff(app)
    case = s.awaiting_resolution_notice(app)
    app.publicize(case, actor=s.WORKER, kind="resolution", text=TYPED)
    app.lodge_objection(case, actor=s.WORKER, notice_id="resolution-1-1", text=TYPED)
    app.lodge_objection(case, actor="resident", notice_id="resolution-1-1", text=TYPED, phone=MOBILE)
    app.flag(s.overdue(app), actor=s.SUPERVISOR, responsible=TYPED, finding=TYPED)
    app.add_note(case, actor=s.WORKER, text=TYPED)
    s.raised(app, title=TYPED, description=TYPED, location=TYPED)
    app.register_household(actor=s.WORKER, cell_id=s.CELL, address=TYPED, categories=["elderly_alone"],
                           head_name="李秀英", phone=MOBILE)
    engine = make_engine(database_url)
    Processor(app, engine).catch_up()
    yield app, engine
    engine.dispose()
    app.close()


def every_view_row(engine: Engine) -> str:
    """Every row of every view table, as the database returns them."""
    with engine.connect() as conn:
        return "\n".join(str(row) for view in all_views().values()
                         for row in conn.execute(select(view.table)).all())


def test_no_view_table_holds_a_phone_or_id_number_in_clear_when_a_cipher_key_is_set(
        viewed: tuple[Minqing, Engine], keyed: bool) -> None:
    _, engine = viewed
    stored = every_view_row(engine)
    assert TYPED in stored or keyed  # the rows hold the text (not something else) …
    assert (MOBILE in stored, ID_NUMBER in stored) == (not keyed, not keyed)  # … masked with a key
    assert (s.RESIDENT_PHONE in stored) == (not keyed)  # the resident's phone, kept for searching
    if keyed:
        assert "请回电 *******5678，身份证 **************002X" in stored


@pytest.mark.parametrize("keyed", [True], ids=["with a key"])
def test_with_a_cipher_key_the_case_itself_still_holds_the_numbers_for_staff_who_may_see_them(
        viewed: tuple[Minqing, Engine]) -> None:
    app, engine = viewed
    with engine.connect() as conn:
        titles = [row.id for row in conn.execute(select(cases.c.id).where(cases.c.title.contains("身份证")))]
    assert app.demand(UUID(titles[0])).title == TYPED  # the case page reads the decrypted event


@pytest.mark.parametrize("keyed", [True], ids=["with a key"])
def test_views_rebuilt_with_a_cipher_key_hold_no_phone_or_id_number_in_clear_either(
        viewed: tuple[Minqing, Engine]) -> None:
    app, engine = viewed
    for view in all_views().values():
        rebuild(app, engine, view)
    stored = every_view_row(engine)
    assert "请回电 *******5678，身份证 **************002X" in stored
    assert MOBILE not in stored and ID_NUMBER not in stored
