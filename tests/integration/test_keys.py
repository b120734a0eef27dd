"""Personal data encrypted at rest by default, on SQLite and PostgreSQL: `db init` creates the cipher key
file beside the signing key, outside the database; a store whose key is missing or wrong, or that was
written unencrypted, is refused with a message (never a traceback, never an unencrypted write); and a
backup restored into a new store under a new key is the key's rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eventsourcing.cryptography import AESCipher
from sqlalchemy import text

from api.cli import main
from api.keys import CIPHER_KEY_FILE
from api.settings import Settings
from projections.db import make_engine
from tests.e2e import support as s

PHONE = "13912345678"


def minqing(database_url: str, keys: Path, *args: str, **env: str) -> Result:
    """The command line on `database_url` with its key files in `keys` (and no key in the environment)."""
    settings: dict[str, str | None] = {"MINQING_DATABASE_URL": database_url, "MINQING_KEY_DIR": str(keys),
                                       "MINQING_CIPHER_KEY": None}
    result = CliRunner().invoke(main, list(args), env={**settings, **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    return result


def stored_state(database_url: str) -> bytes:
    """Every stored event's state, as the database holds it."""
    engine = make_engine(database_url)
    table = "stored_events" if engine.dialect.name == "sqlite" else "minqing_events"  # the library's names
    try:
        with engine.connect() as conn:
            return b"".join(bytes(row[0]) for row in conn.execute(text(f"SELECT state FROM {table}")))
    finally:
        engine.dispose()


def events(database_url: str, keys: Path, **env: str) -> int:
    done = minqing(database_url, keys, "verify", **env)
    assert done.exit_code == 0, done.output
    return int(done.output.split()[1])


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def initialised(database_url: str, keys: Path) -> Result:
    """`db init` on a new database, then a staff account and a case with a resident's phone number."""
    done = minqing(database_url, keys, "db", "init")
    assert done.exit_code == 0, done.output
    assert minqing(database_url, keys, "accounts", "create", s.WORKER, "--role", "worker", "--cell",
                   "qingshui.dongcun").exit_code == 0
    app = Settings(database_url=database_url, key_dir=keys).open_application()
    try:
        app.raise_demand(actor=s.WORKER, channel="phone", title="漏水 Leaking roof", cell_id=s.CELL,
                         resident_phone=PHONE)
    finally:
        app.close()
    return done



def test_db_init_creates_a_cipher_key_file_readable_by_its_owner_only_and_the_events_are_encrypted(
        initialised: Result, database_url: str, keys: Path) -> None:
    key_file = keys / CIPHER_KEY_FILE
    assert str(key_file) in initialised.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(keys.stat().st_mode) == 0o700
    stored = stored_state(database_url)
    assert PHONE.encode() not in stored and "漏水".encode() not in stored
    assert events(database_url, keys) == 3  # the account, its role, the case: readable, every chain intact


def test_a_second_db_init_keeps_the_key(initialised: Result, database_url: str, keys: Path) -> None:
    key = (keys / CIPHER_KEY_FILE).read_bytes()
    assert minqing(database_url, keys, "db", "init").exit_code == 0
    assert (keys / CIPHER_KEY_FILE).read_bytes() == key
    assert events(database_url, keys) == 3


def test_without_its_key_file_a_store_is_refused_naming_the_key_folder_and_nothing_is_written(
        initialised: Result, database_url: str, keys: Path, tmp_path: Path) -> None:
    (keys / CIPHER_KEY_FILE).rename(tmp_path / "kept.key")
    for command in (["verify"], ["accounts", "create", "li.worker"]):
        refused = minqing(database_url, keys, *command)
        assert refused.exit_code == 1
        assert "no cipher key" in refused.output and str(keys) in refused.output
    (tmp_path / "kept.key").rename(keys / CIPHER_KEY_FILE)
    assert events(database_url, keys) == 3  # the account was not opened


def test_with_another_key_a_store_is_refused_and_nothing_is_written(
        initialised: Result, database_url: str, keys: Path) -> None:
    other = AESCipher.create_key(32)
    refused = minqing(database_url, keys, "accounts", "create", "li.worker", MINQING_CIPHER_KEY=other)
    assert refused.exit_code == 1 and "cannot be read" in refused.output
    assert "not the one they were encrypted with" in refused.output
    assert events(database_url, keys) == 3


def test_a_damaged_key_file_is_refused(initialised: Result, database_url: str, keys: Path) -> None:
    (keys / CIPHER_KEY_FILE).write_text("not a key\n")
    refused = minqing(database_url, keys, "verify")
    assert refused.exit_code == 1 and "is not a base64 AES key" in refused.output


def test_a_key_in_the_environment_is_used_instead_of_a_file(database_url: str, keys: Path) -> None:
    key = AESCipher.create_key(32)
    assert minqing(database_url, keys, "db", "init", MINQING_CIPHER_KEY=key).exit_code == 0
    assert not (keys / CIPHER_KEY_FILE).exists()
    opened = minqing(database_url, keys, "accounts", "create", "li.worker", MINQING_CIPHER_KEY=key)
    assert opened.exit_code == 0
    assert events(database_url, keys, MINQING_CIPHER_KEY=key) == 1
    assert b"li.worker" not in stored_state(database_url)


def test_a_store_written_unencrypted_is_refused_until_said_so_and_moves_into_an_encrypted_one(
        database_url: str, other_database_url: str, keys: Path, tmp_path: Path) -> None:
    plain = {"MINQING_ENCRYPT": "false"}
    assert minqing(database_url, keys, "db", "init", **plain).exit_code == 0
    assert minqing(database_url, keys, "accounts", "create", "li.worker", **plain).exit_code == 0
    assert b"li.worker" in stored_state(database_url)  # as an older version stored it
    refused = minqing(database_url, keys, "verify")  # the default now: encrypted, and it has no key
    assert refused.exit_code == 1 and "no cipher key" in refused.output
    assert "MINQING_ENCRYPT=false" in refused.output
    assert minqing(database_url, keys, "db", "init").exit_code == 0  # a key that cannot read it
    refused = minqing(database_url, keys, "accounts", "create", "zhou.worker")
    assert refused.exit_code == 1 and "written unencrypted" in refused.output
    assert "MINQING_ENCRYPT=false" in refused.output
    assert events(database_url, keys, **plain) == 1
    backup = tmp_path / "plain.jsonl"
    assert minqing(database_url, keys, "backup", str(backup), **plain).exit_code == 0
    moved = minqing(other_database_url, keys, "restore", str(backup))
    assert moved.exit_code == 0, moved.output
    assert b"li.worker" not in stored_state(other_database_url)
    assert events(other_database_url, keys) == 1


def test_rotating_the_key_is_a_restore_into_a_new_store_under_a_new_key(
        initialised: Result, database_url: str, other_database_url: str, keys: Path,
        tmp_path: Path) -> None:
    backup, new_keys = tmp_path / "minqing.jsonl", tmp_path / "new-keys"
    assert minqing(database_url, keys, "backup", str(backup)).exit_code == 0
    refused = minqing(other_database_url, new_keys, "restore", str(backup))
    assert refused.exit_code == 1 and "--backup-key" in refused.output
    rotated = minqing(other_database_url, new_keys, "restore", str(backup),
                      "--backup-key", str(keys / CIPHER_KEY_FILE))
    assert rotated.exit_code == 0, rotated.output
    assert events(other_database_url, new_keys) == 3
    old_key = (keys / CIPHER_KEY_FILE).read_text().strip()
    assert minqing(other_database_url, new_keys, "verify", MINQING_CIPHER_KEY=old_key).exit_code == 1
    assert PHONE.encode() not in stored_state(other_database_url)
