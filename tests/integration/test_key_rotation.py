"""Rotating the signing key: `minqing keys rotate-signing` retires the current key (its public key kept, its
private key destroyed) and signs with a new one; `minqing verify` accepts the heads of both, and still finds
a head forged with an unknown key or signed with the retired key after its retirement. A rotation that dies
midway leaves a usable key. Key set in the environment: `minqing keys retire-public`."""

from __future__ import annotations

import base64
import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Column, MetaData, Table, insert, select

from api import keys as key_files
from api.cli import main
from api.compose import Runtime
from api.keys import RETIRED_SIGNING_DIR, SIGNING_KEY_FILE, parse_signing_key
from domain.seal import Signer, key_id, public_key_bytes
from projections.db import make_engine
from projections.sealed_log import HEADS_FILE, HeadsFile, heads_keyed_by_key, signed_heads
from tests.integration.test_sealing_cli import record_something, run


def broken(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 1, result.output
    return result.output


def signing_key(folder: Path) -> Ed25519PrivateKey:
    return parse_signing_key((folder / SIGNING_KEY_FILE).read_bytes())


@pytest.fixture
def rotated(keys: Path) -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
    """A log sealed under a first key, rotated to a second, and sealed again: (old key, new key)."""
    run("db", "init")
    record_something("li.worker")
    old = signing_key(keys)
    record_something("he.worker")           # sealed by the rotation itself, under the old key
    said = run("keys", "rotate-signing")
    new = signing_key(keys)
    assert f"retired key {key_id(old.public_key())}; signing key now {key_id(new.public_key())}" in said
    record_something("zhao.worker")
    run("seal")
    return old, new


def test_a_rotation_keeps_the_old_public_key_and_verify_accepts_the_heads_of_both_keys(
        keys: Path, rotated: tuple[Ed25519PrivateKey, Ed25519PrivateKey]) -> None:
    old, new = rotated
    kept = keys / RETIRED_SIGNING_DIR / f"{key_id(old.public_key())}.pub"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / SIGNING_KEY_FILE).stat().st_mode) == 0o600
    retired = json.loads(kept.read_text())
    assert retired["public_key"] == public_key_bytes(old.public_key()).hex() and retired["retired_at"]
    old_pem = old.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    assert not any(old_pem in path.read_bytes() for path in keys.rglob("*") if path.is_file())
    heads = [json.loads(line) for line in run("heads", "export").splitlines()]
    # the old key's last head, the new key's head of the same tree at once, then a larger one
    assert [(h["tree_size"], h["key_id"]) for h in heads] == [
        (2, key_id(old.public_key())), (2, key_id(new.public_key())), (3, key_id(new.public_key()))]
    verified = run("verify")
    retired_at = retired["retired_at"]
    assert f"1 heads signed by key {key_id(old.public_key())} (retired at {retired_at})" in verified
    assert f"2 heads signed by key {key_id(new.public_key())} (current)" in verified
    assert "the log only grew since it was sealed" in verified


def test_a_head_forged_with_a_key_this_log_does_not_know_is_a_break(
        keys: Path, database_url: str, rotated: tuple[Ed25519PrivateKey, Ed25519PrivateKey]) -> None:
    with Runtime.open() as rt:
        held = rt.sealed.heads()[-1]    # type: ignore[union-attr]
        forged = Signer(Ed25519PrivateKey.generate()).sign(held.tree_size, held.root_hash, rt.app.clock())
    HeadsFile(keys / HEADS_FILE, database_url).append(forged)
    assert "does not know" in broken("verify")


def test_a_head_signed_with_the_retired_key_after_its_retirement_is_a_break(
        keys: Path, database_url: str, rotated: tuple[Ed25519PrivateKey, Ed25519PrivateKey]) -> None:
    old, _new = rotated
    with Runtime.open() as rt:
        held = rt.sealed.heads()[-1]    # type: ignore[union-attr]
        later = rt.app.clock() + timedelta(minutes=5)
    HeadsFile(keys / HEADS_FILE, database_url).append(Signer(old).sign(held.tree_size, held.root_hash, later))
    output = broken("verify")
    assert "after its retirement: someone holds the retired private key" in output


def test_a_rotation_that_dies_after_keeping_the_old_public_key_leaves_the_old_key_usable(
        keys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("db", "init")
    record_something("li.worker")
    run("seal")
    old = signing_key(keys)

    def dies(_kept: Path) -> None:
        raise OSError("the disk is full")

    with Runtime.open() as rt, pytest.raises(OSError, match="disk is full"):
        key_files.rotate_signing_key(keys, old, rt.app.clock(), retired=dies)
    assert (keys / RETIRED_SIGNING_DIR / f"{key_id(old.public_key())}.pub").exists()
    assert key_id(signing_key(keys).public_key()) == key_id(old.public_key())
    record_something("he.worker")
    run("seal")                     # the old key still signs, and its heads are not after any retirement
    assert "the log only grew since it was sealed" in run("verify")
    run("keys", "rotate-signing")   # and the rotation, run again, completes
    assert key_id(signing_key(keys).public_key()) != key_id(old.public_key())
    assert "the log only grew since it was sealed" in run("verify")


def test_a_key_in_the_environment_is_rotated_by_the_operator_and_its_public_key_retired(
        keys: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    def raw(key: Ed25519PrivateKey) -> str:
        return base64.b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                  serialization.NoEncryption())).decode()

    monkeypatch.setenv("MINQING_SIGNING_KEY", raw(old))
    run("db", "init")
    record_something("li.worker")
    run("seal")
    refused = CliRunner().invoke(main, ["keys", "rotate-signing"])
    assert refused.exit_code == 1 and "MINQING_SIGNING_KEY" in refused.output
    assert "retire-public" in refused.output
    monkeypatch.setenv("MINQING_SIGNING_KEY", raw(new))
    assert "does not know" in broken("verify")      # the old key's heads, until it is kept as retired
    public = tmp_path / "old.pub"
    public.write_text(public_key_bytes(old.public_key()).hex())
    assert "stay verifiable" in run("keys", "retire-public", str(public))
    verified = run("verify")
    assert f"heads signed by key {key_id(old.public_key())} (retired at" in verified
    assert f"1 heads signed by key {key_id(new.public_key())} (current)" in verified


def test_a_database_sealed_before_keys_could_be_rotated_is_refused_until_db_init_keys_its_heads_by_key(
        keys: Path, database_url: str) -> None:
    run("db", "init")
    record_something("li.worker")
    run("seal")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:        # the table as a database sealed before rotation has it
            rows = conn.execute(select(signed_heads)).mappings().all()
            signed_heads.drop(conn)
            by_size = Table(signed_heads.name, MetaData(),
                            *(Column(c.name, c.type, primary_key=c.name == "tree_size", nullable=False)
                              for c in signed_heads.columns))
            by_size.create(conn)
            conn.execute(insert(by_size), [dict(row) for row in rows])
        assert not heads_keyed_by_key(engine)
        old = signing_key(keys)
        refused = CliRunner().invoke(main, ["keys", "rotate-signing"])
        assert refused.exit_code == 1 and "run `minqing db init` first" in refused.output
        assert key_id(signing_key(keys).public_key()) == key_id(old.public_key())   # nothing was touched
        assert not (keys / RETIRED_SIGNING_DIR).exists()
        run("db", "init")
        assert heads_keyed_by_key(engine)
        with engine.connect() as conn:
            assert conn.execute(select(signed_heads)).mappings().all() == rows
    finally:
        engine.dispose()
    run("keys", "rotate-signing")
    assert "the log only grew since it was sealed" in run("verify")
