"""A public notice's proof over HTTP: each notice names the signed head it was published under, anyone reads
its proof, the proof holds with nothing but the public key, reveals nothing personal, and fails when
tampered with; `minqing verify-notice` and `minqing verify-heads` check it against a real server."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.compose import Runtime
from api.settings import Settings
from domain import notice_proof
from domain.seal import SignedHead, public_key_bytes
from tests.conftest import add_staff
from tests.e2e import support as s
from tests.e2e.support import ROOT, Api, minqing, serving
from tests.integration.test_tamper import StoredRows
from workers import seal as seal_worker

NOTICE = "resolution-1-1"
NOTE_WITH_PHONE = "已电话联系 13987654321 李秀英，说明进度"
OBJECTION = "路灯位置不合理，挡住我家门口"


@pytest.fixture
def api(start_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch) -> Api:
    """The API with its projection workers, but no sealing worker: each test seals when it means to."""
    monkeypatch.setattr(seal_worker, "run", lambda sealer, stop, **_: stop.wait())
    return start_api()


def noticed_case(app: Any) -> UUID:
    """A resolution notice up, with private facts around it: the resident's name and phone, a working note
    with another phone in it, an objection."""
    case = s.notice_up(app)
    app.add_note(case, actor=s.WORKER, text=NOTE_WITH_PHONE)
    app.lodge_objection(case, actor=s.WORKER, notice_id=NOTICE, text=OBJECTION)
    return case


def board_entry(api: Api, case: UUID) -> dict[str, Any]:
    api.runtime.wait_for_views(api.head(), ["notice_board"])
    items = api.get("/api/v1/notices", s.NO_TOKEN, limit=200).json()["items"]
    return next(item for item in items if item["case_id"] == str(case) and item["notice_id"] == NOTICE)


def public_key(api: Api) -> bytes:
    return bytes.fromhex(api.get("/api/v1/log/public-key", s.NO_TOKEN).json()["public_key"])


def proof_of(api: Api, case: UUID) -> Any:
    api.runtime.wait_for_views(api.head(), ["notice_board"])  # the proof is of a notice on the board
    response = api.get(f"/api/v1/public/notices/{case}/{NOTICE}/proof", s.NO_TOKEN)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_notice_is_not_yet_sealed_until_the_next_seal_and_then_names_the_first_head_that_holds_it(
        api: Api) -> None:
    case = noticed_case(api.app)
    assert board_entry(api, case)["sealed_under"] is None
    waiting = api.get(f"/api/v1/public/notices/{case}/{NOTICE}/proof", s.NO_TOKEN,
                      headers={"Accept-Language": "zh-CN"})
    assert (waiting.status_code, s.problem_type(waiting)) == (404, "/problems/not-found")
    assert "尚未封存" in waiting.json()["detail"]
    for page in ("/notices", f"/notices/{case}/{NOTICE}/verify"):
        assert "尚未封存：几分钟内即可校验" in api.get(page, s.NO_TOKEN).text
    first = api.runtime.sealer().seal()[-1]
    api.app.add_note(case, actor=s.WORKER, text="封存之后的记录")
    later = api.runtime.sealer().seal()[-1]
    assert later.tree_size > first.tree_size
    assert board_entry(api, case)["sealed_under"] == first.as_json()
    board = api.get("/notices", s.NO_TOKEN, headers={"Accept-Language": "en"}).text
    assert f"under the signed tree head of {first.tree_size} events" in board
    assert f'href="/notices/{case}/{NOTICE}/verify"' in board
    proof = proof_of(api, case)
    assert proof["head"] == first.as_json()
    assert [leaf["version"] for leaf in proof["leaves"]] == list(range(1, len(proof["leaves"]) + 1))
    assert all(leaf["leaf_index"] < first.tree_size for leaf in proof["leaves"])


def test_the_proof_of_a_notice_holds_with_only_the_public_key_and_shows_the_cases_public_timeline(
        api: Api) -> None:
    case = noticed_case(api.app)
    api.runtime.sealer().seal()
    proof = proof_of(api, case)
    report = notice_proof.verify(proof, public_key(api))
    assert [(c.name, c.ok) for c in report.checks] == [(name, True) for name in notice_proof.CHECKS]
    whats = [step["what"] for step in report.timeline]
    assert whats[:2] == ["Raised", "Triaged"] and "Publicized" in whats
    posted = next(step for step in report.timeline if step["what"] == "Publicized")
    assert posted["details"]["text"] == "决议 安装路灯12盏 Twelve street lights"
    assert SignedHead.from_json(proof["head"]).signed_by(api.runtime.signer.public_key)


def test_the_proof_reveals_no_name_phone_or_private_text_only_commitments_to_them(api: Api) -> None:
    case = noticed_case(api.app)
    api.runtime.sealer().seal()
    text = json.dumps(proof_of(api, case), ensure_ascii=False)
    for private in (s.RESIDENT_NAME, s.RESIDENT_PHONE, "13987654321", NOTE_WITH_PHONE, OBJECTION,
                    "东村一组路灯不亮", s.WORKER, "salt"):
        assert private not in text
    leaves = [json.loads(leaf["content"]) for leaf in proof_of(api, case)["leaves"]]
    kept = [leaf for leaf in leaves if leaf["public"] is None]
    assert kept and all(set(leaf) == {"aggregate", "version", "public", "commitment"} for leaf in kept)


def tampered(proof: Any) -> dict[str, Any]:
    """Each way a proof can be tampered with, by name: the notice's text, the text inside its leaf (and the
    notice's to match), another leaf's content, a leaf left out, the head's signature."""
    variants: dict[str, Any] = {}
    changed_text = proof["notice"]["text"] + "（已改 changed）"
    changed = copy.deepcopy(proof)
    changed["notice"]["text"] = changed_text
    variants["notice text"] = changed
    changed = copy.deepcopy(proof)
    posted = next(leaf for leaf in changed["leaves"] if '"Publicized"' in leaf["content"])
    content = json.loads(posted["content"])
    content["public"]["details"]["text"] = changed_text
    posted["content"] = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    changed["notice"]["text"] = changed_text
    variants["leaf text"] = changed
    changed = copy.deepcopy(proof)
    first = changed["leaves"][0]
    first["content"] = first["content"].replace('"commitment":"', '"commitment":"0')
    variants["leaf"] = changed
    changed = copy.deepcopy(proof)
    del changed["leaves"][1]
    variants["leaf left out"] = changed
    changed = copy.deepcopy(proof)
    signature = changed["head"]["signature"]
    changed["head"]["signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    variants["signature"] = changed
    return variants


def test_a_tampered_proof_fails_the_check_that_names_what_was_changed(api: Api) -> None:
    case = noticed_case(api.app)
    api.runtime.sealer().seal()
    key = public_key(api)
    failing = {name: {c.name for c in notice_proof.verify(variant, key).checks if not c.ok}
               for name, variant in tampered(proof_of(api, case)).items()}
    assert failing == {"notice text": {"notice"}, "leaf text": {"leaves", "complete", "notice"},
                       "leaf": {"leaves", "complete"}, "leaf left out": {"complete"},
                       "signature": {"signature", "leaves", "complete", "notice"}}
    other = notice_proof.verify(proof_of(api, case), _another_key())
    assert {c.name for c in other.checks if not c.ok} >= {"key", "signature"}


def _another_key() -> bytes:
    return public_key_bytes(Ed25519PrivateKey.generate().public_key())


# ---------------------------------------------------------------- the CLI against a real server
def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=os.environ.copy())


def fetched(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def proof_served(url: str) -> Any:
    """The proof once the server's board shows the notice (its views catch up on their own)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return fetched(url)
        except urllib.error.HTTPError as error:
            assert error.code == 404 and time.monotonic() < deadline, error.read()
            time.sleep(0.2)


@pytest.mark.timeout(180)
def test_a_resident_checks_a_notice_and_two_saved_heads_with_the_cli_against_a_real_server(
        database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "MINQING_DATABASE_URL": database_url}
    minqing(env, "db", "init")
    with Runtime.open(Settings(database_url=database_url)) as rt:
        add_staff(rt.app)
        case = noticed_case(rt.app)
        older = rt.sealer().seal()[-1]
        rt.app.add_note(case, actor=s.WORKER, text="又一条记录")
        newer = rt.sealer().seal()[-1]
        key_id = rt.signer.key_id
    with serving(env, tmp_path) as base:
        url = f"{base}/api/v1/public/notices/{case}/{NOTICE}/proof"
        proof = proof_served(url)

        done = run_cli("verify-notice", url)
        assert done.returncode == 0, done.stderr
        assert f"公钥标识：{key_id}" in done.stdout and "✗" not in done.stdout + done.stderr
        assert "决议 安装路灯12盏 Twelve street lights" in done.stdout
        english = run_cli("verify-notice", url, "--lang", "en")
        assert "The notice's text is in a proved event of its case" in english.stdout

        saved = tmp_path / "proof.json"
        saved.write_text(json.dumps(proof, ensure_ascii=False), encoding="utf-8")
        pem = tmp_path / "minqing.pem"
        pem.write_text(fetched(f"{base}/api/v1/log/public-key")["pem"], encoding="utf-8")
        keys = (f"{base}/api/v1/log/public-key", str(pem), pem.read_text(), proof["public_key"]["public_key"])
        for key in keys:  # a URL, a PEM file, PEM text, hex
            pinned = run_cli("verify-notice", str(saved), "--public-key", key)
            assert pinned.returncode == 0, pinned.stderr
            assert "未指定公钥" not in pinned.stdout
        unpinned = run_cli("verify-notice", str(saved))
        assert unpinned.returncode == 0 and "未指定公钥" in unpinned.stdout
        for name, variant in tampered(proof).items():
            bad = tmp_path / f"{name}.json"
            bad.write_text(json.dumps(variant, ensure_ascii=False), encoding="utf-8")
            failed = run_cli("verify-notice", str(bad), "--public-key", proof["public_key"]["public_key"])
            assert failed.returncode == 1, (name, failed.stdout)
            assert "校验未通过" in failed.stderr
        wrong_key = run_cli("verify-notice", str(saved), "--public-key", _another_key().hex())
        assert wrong_key.returncode == 1 and "证明所附公钥与所给公钥不同" in wrong_key.stderr
        unreadable = run_cli("verify-notice", str(tmp_path / "missing.json"))
        assert unreadable.returncode == 1 and "无法读取" in unreadable.stderr

        heads = []
        for head in (older, newer):
            heads.append(tmp_path / f"head-{head.tree_size}.json")
            heads[-1].write_text(json.dumps(head.as_json()), encoding="utf-8")
        grew = run_cli("verify-heads", str(heads[0]), str(heads[1]), "--server", base, "--lang", "en")
        assert grew.returncode == 0, grew.stderr
        assert f"From {older.tree_size} to {newer.tree_size} events, the log only grew" in grew.stdout
        forged = {**newer.as_json(), "root_hash": older.root_hash.hex()}
        heads[1].write_text(json.dumps(forged), encoding="utf-8")
        refused = run_cli("verify-heads", str(heads[0]), str(heads[1]), "--server", base)
        assert refused.returncode == 1 and "✗" in refused.stderr


def test_a_notice_whose_case_lost_a_sealed_event_in_the_database_no_longer_proves_complete(
        api: Api, database_url: str) -> None:
    case = noticed_case(api.app)
    api.runtime.sealer().seal()
    api.runtime.wait_for_views(api.head(), ["notice_board"])  # the board holds the notice first
    StoredRows(database_url).delete(case, 2)  # the triage, deleted in SQL after it was sealed
    report = notice_proof.verify(proof_of(api, case), public_key(api))
    assert {c.name for c in report.checks if not c.ok} == {"complete"}
    assert [step["what"] for step in report.timeline][:2] == ["Raised", "Discussed"]
