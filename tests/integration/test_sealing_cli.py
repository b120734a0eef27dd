"""`minqing db init` makes the signing key, `minqing seal` seals, `minqing heads export` prints the heads and
`minqing verify` reports a database restored from an older copy; the sealing worker seals on its own."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.cli import main
from api.compose import Runtime
from api.keys import SIGNING_KEY_FILE, parse_signing_key
from api.settings import Settings
from domain.application import SYSTEM
from domain.seal import SignedHead
from tests.conftest import Clock
from workers import seal as seal_worker


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def record_something(username: str) -> None:
    with Runtime.open() as rt:
        rt.app.open_account(actor=SYSTEM, username=username)


def test_db_init_makes_a_signing_key_readable_by_its_owner_only_and_keeps_it(keys: Path) -> None:
    assert "signing.key" in run("db", "init")
    key = keys / SIGNING_KEY_FILE
    first = key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert isinstance(serialization.load_pem_private_key(first, password=None), Ed25519PrivateKey)
    run("db", "init")
    assert key.read_bytes() == first


def test_seal_signs_a_head_that_heads_export_prints_and_verify_accepts(keys: Path) -> None:
    run("db", "init")
    record_something("li.worker")
    assert "signed a tree head of 1 events" in run("seal")
    assert run("seal") == "nothing new to seal\n"
    record_something("he.worker")
    run("seal")
    exported = [SignedHead.from_json(json.loads(line)) for line in run("heads", "export").splitlines()]
    assert [h.tree_size for h in exported] == [1, 2]
    verified = run("verify")
    assert "2 events sealed under signed heads up to 2 events; 0 recorded since" in verified
    assert "the log only grew since it was sealed" in verified


# Copying the database file back is SQLite's; PostgreSQL's rollback is in test_sealing.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_reports_a_database_restored_from_an_older_copy(keys: Path, database_url: str,
                                                               tmp_path: Path) -> None:
    run("db", "init")
    record_something("li.worker")
    run("seal")
    live, copy = Path(urlsplit(database_url).path), tmp_path / "copy.db"
    with sqlite3.connect(live) as source, sqlite3.connect(copy) as saved:
        source.backup(saved)
    record_something("he.worker")
    run("seal")
    with sqlite3.connect(copy) as saved, sqlite3.connect(live) as restored:
        saved.backup(restored)
    broken = CliRunner().invoke(main, ["verify"])
    assert broken.exit_code == 1
    assert "BROKEN sealed log at size 2" in broken.output and "rolled back to an older copy" in broken.output


def test_a_signing_key_in_the_environment_takes_precedence_and_a_bad_one_is_refused(
        keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("db", "init")
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    monkeypatch.setenv("MINQING_SIGNING_KEY", base64.b64encode(raw).decode())
    assert Settings().signing_key is not None
    with Runtime.open() as rt:
        assert rt.signer is not None and rt.signer.public_key == key.public_key()
    monkeypatch.setenv("MINQING_SIGNING_KEY", "not a key")
    refused = CliRunner().invoke(main, ["seal"])
    assert refused.exit_code == 1 and "MINQING_SIGNING_KEY" in refused.output and "base64" in refused.output


def test_the_sealing_worker_seals_what_is_recorded_until_stopped(keys: Path, clock: Clock) -> None:
    run("db", "init")
    record_something("li.worker")
    stop = threading.Event()
    with Runtime.open() as rt:
        sealer = rt.sealer()
        assert sealer is not None and rt.sealed is not None
        worker = threading.Thread(target=seal_worker.run, args=(sealer, stop), kwargs={"every": 0.05})
        worker.start()
        try:
            for _ in range(200):
                if rt.sealed.heads():
                    break
                stop.wait(0.05)
        finally:
            stop.set()
            worker.join(timeout=10)
        assert not worker.is_alive()
        assert [h.tree_size for h in rt.sealed.heads()] == [1]


def test_verify_on_a_database_without_the_sealed_log_tables_says_to_run_db_init(
        keys: Path) -> None:
    run("db", "init")
    with Runtime.open() as rt, rt.writer.begin() as conn:
        conn.exec_driver_sql("DROP TABLE log_leaves")
    refused = CliRunner().invoke(main, ["verify"])
    assert refused.exit_code == 1 and "run `minqing db init`" in refused.output


def test_a_base64_signing_key_must_hold_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes, not 16"):
        parse_signing_key(base64.b64encode(b"0" * 16))
