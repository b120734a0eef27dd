"""With a cipher key, personal data is not readable in the stored rows, and audit still works."""

from __future__ import annotations

import sqlite3

from eventsourcing.cryptography import AESCipher

from api.settings import Settings
from domain.application import Minqing
from domain.deployment import Deployment
from tests.conftest import add_staff


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
