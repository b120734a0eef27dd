"""After the signing key is rotated, a notice sealed before still proves: the public key endpoint lists the
retired key, the proof carries the key that signed its head (with when it was retired), and the resident's
verifier accepts it with the server's keys, saying which key it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.cli import main
from api.compose import initialise
from api.settings import Settings
from api.web.app import create_app
from domain import notice_proof
from domain.seal import SignedHead
from tests.conftest import add_staff
from tests.e2e import support as s
from tests.e2e.support import Api
from tests.e2e.test_notice_proofs import noticed_case, proof_of
from workers import deadlines as deadline_worker
from workers import seal as seal_worker


def own_keys(folder: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key folder of the test's own, and no sealing worker nor deadline watcher: the test seals."""
    monkeypatch.setenv("MINQING_KEY_DIR", str(folder))
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    monkeypatch.delenv("MINQING_SIGNING_KEY", raising=False)
    monkeypatch.setattr(seal_worker, "run", lambda sealer, stop, **_: stop.wait())
    monkeypatch.setattr(deadline_worker, "run", lambda app, engine, stop, **_: stop.wait())
    return folder


@pytest.fixture
def key_dir(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    return own_keys(tmp_path / "keys", database_url, monkeypatch)


@contextmanager
def started(database_url: str) -> Iterator[Api]:
    """The API (its projection workers, no sealer) on the database, reading the keys as they are now."""
    with TestClient(create_app(Settings(database_url=database_url), embedded_workers=True)) as client:
        app = client.app.state.runtime.app  # type: ignore[attr-defined]
        yield Api(client, app, {})


def rotated_notice(database_url: str) -> tuple[Any, Any, Any, Any]:
    """A notice sealed under a first key; the key rotated (`minqing keys rotate-signing`, servers stopped);
    the case written to and sealed again under the new key: the notice's proof before and after, the
    public keys the server lists then, and its consistency proof from the notice's head to the newest."""
    initialise(Settings(database_url=database_url))
    with started(database_url) as api:
        add_staff(api.app)
        case = noticed_case(api.app)
        api.runtime.sealer().seal()
        before = proof_of(api, case)
    rotation = CliRunner().invoke(main, ["keys", "rotate-signing"])
    assert rotation.exit_code == 0, rotation.output
    with started(database_url) as api:      # the servers started again, with the new key
        api.app.add_note(case, actor=s.WORKER, text="换钥之后的记录")
        newest = api.runtime.sealer().seal()[-1]
        grew = api.get("/api/v1/log/consistency", s.NO_TOKEN, first=before["head"]["tree_size"],
                       second=newest.tree_size).json()
        return (before, proof_of(api, case), api.get("/api/v1/log/public-key", s.NO_TOKEN).json(), grew)


def test_a_notice_sealed_before_a_rotation_proves_with_the_retired_key_the_server_lists(
        key_dir: Path, database_url: str, tmp_path: Path) -> None:
    sealed_before, proof, keys, grew = rotated_notice(database_url)
    old_id = sealed_before["head"]["key_id"]
    assert keys["key_id"] != old_id
    assert [(k["key_id"], bool(k["retired_at"])) for k in keys["retired"]] == [(old_id, True)]
    assert proof["head"] == sealed_before["head"]   # a proof never changes once its notice is sealed
    assert proof["public_key"] == keys["retired"][0]

    report = notice_proof.verify(proof, notice_proof.raw_keys(json.dumps(keys)))
    assert report.ok, report.checks
    assert (report.key_id, report.retired_at) == (old_id, keys["retired"][0]["retired_at"])
    current_only = notice_proof.verify(proof, bytes.fromhex(keys["public_key"]))
    assert next(c.problem for c in current_only.checks if not c.ok) == "other-key"

    saved, server_keys = tmp_path / "proof.json", tmp_path / "public-key.json"
    saved.write_text(json.dumps(proof, ensure_ascii=False), encoding="utf-8")
    server_keys.write_text(json.dumps(keys), encoding="utf-8")
    done = CliRunner().invoke(main, ["verify-notice", str(saved), "--public-key", str(server_keys),
                                     "--lang", "en"])
    assert done.exit_code == 0, done.output
    assert f"Public key id: {old_id}" in done.output
    assert f"This key was retired at {keys['retired'][0]['retired_at']}" in done.output
    chinese = CliRunner().invoke(main, ["verify-notice", str(saved), "--public-key", str(server_keys)])
    assert chinese.exit_code == 0 and "此密钥已于" in chinese.output

    # a head saved before the rotation and one signed after: each by its key, and the log only grew
    older, newer = SignedHead.from_json(sealed_before["head"]), SignedHead.from_json(grew["second"])
    assert (older.key_id, newer.key_id) == (old_id, keys["key_id"])
    nodes = [bytes.fromhex(node) for node in grew["proof"]]
    served = [notice_proof.public_key_of(raw) for raw in notice_proof.raw_keys(json.dumps(keys))]
    assert all(c.ok for c in notice_proof.verify_heads(older, newer, nodes, served))
    assert not notice_proof.verify_heads(older, newer, nodes, served[:1])[0].ok
