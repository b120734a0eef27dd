"""The sealed log over HTTP: a case's verify for whoever may read it, the public key, signed heads and
consistency proofs for anyone, and the admin's verify of the whole store with the seal."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.settings import Settings
from domain import merkle
from domain.seal import SignedHead
from tests.e2e import support as s
from tests.e2e.support import Api
from tests.e2e.test_audit import flagged_case
from tests.integration.test_tamper import StoredRows


def sealed(api: Api) -> SignedHead:
    """Seal what is recorded (the embedded sealer may have done so a moment before): the latest head."""
    api.runtime.sealer().seal()
    head: SignedHead = api.runtime.sealed.heads()[-1]
    assert head.tree_size == api.head()
    return head


def test_anyone_who_may_read_a_case_gets_its_chain_and_each_leaf_proved_under_the_latest_head(
        api: Api) -> None:
    case = flagged_case(api)
    sealed(api)
    api.app.add_note(case, actor=s.WORKER, text="recorded after the head")
    for who in (s.WORKER, s.REVIEWER, s.SUPERVISOR):
        result = api.get(f"/api/v1/demands/{case}/verify", who).json()
        assert result["intact"] is True and result["breaks"] == []
        assert result["sealed"]["not_yet_sealed"] == 1
    head = SignedHead.from_json(result["sealed"]["head"])
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(api.get("/api/v1/log/public-key", s.NO_TOKEN)
                                                           .json()["public_key"]))
    assert head.signed_by(key)
    leaves = result["sealed"]["leaves"]
    assert [leaf["version"] for leaf in leaves] == list(range(1, len(api.app.history(case))))
    for leaf in leaves:
        assert leaf["included"] is True
        assert merkle.verify_inclusion(leaf["leaf_index"], head.tree_size, bytes.fromhex(leaf["leaf_hash"]),
                                       [bytes.fromhex(p) for p in leaf["proof"]], head.root_hash)


def test_a_case_outside_ones_cells_cannot_be_verified_by_one(api: Api) -> None:
    case = s.raised(api.app)
    response = api.get(f"/api/v1/demands/{case}/verify", s.OUTSIDER)
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")
    assert api.get(f"/api/v1/demands/{case}/verify", s.NO_TOKEN).status_code == 401


def test_a_case_whose_last_events_were_deleted_fails_its_verify_though_its_chain_is_intact(
        api: Api, database_url: str) -> None:
    case = flagged_case(api)
    sealed(api)
    last = len(api.app.history(case))
    StoredRows(database_url).delete(case, last)
    result = api.get(f"/api/v1/demands/{case}/verify", s.SUPERVISOR).json()
    assert result["intact"] is False
    assert [(b["version"], "deleted" in b["problem"]) for b in result["breaks"]] == [(last, True)]


def test_the_public_reads_the_signed_heads_page_by_page_and_proves_the_log_only_grew(api: Api) -> None:
    for _ in range(3):
        s.raised(api.app)
        sealed(api)
    pages, after = [], -1
    while after is not None:
        page = api.get("/api/v1/log/heads", s.NO_TOKEN, after=after, limit=2).json()
        pages.append(page["heads"])
        after = page["next_after"]
    heads = [SignedHead.from_json(h) for page in pages for h in page]
    assert heads == api.runtime.sealed.heads() and len(heads) >= 3 and all(len(p) <= 2 for p in pages)
    first, last = heads[0], heads[-1]
    proof = api.get("/api/v1/log/consistency", s.NO_TOKEN, first=first.tree_size,
                    second=last.tree_size).json()
    assert SignedHead.from_json(proof["first"]) == first and SignedHead.from_json(proof["second"]) == last
    assert merkle.verify_consistency(first.tree_size, last.tree_size, first.root_hash, last.root_hash,
                                     [bytes.fromhex(p) for p in proof["proof"]])


def test_a_consistency_proof_needs_two_signed_heads_in_order(api: Api) -> None:
    s.raised(api.app)
    head = sealed(api)
    wrong = api.get("/api/v1/log/consistency", s.NO_TOKEN, first=head.tree_size, second=head.tree_size - 1)
    assert (wrong.status_code, s.problem_type(wrong)) == (422, "/problems/invalid-input")
    unsigned = min(set(range(1, head.tree_size)) - {h.tree_size for h in api.runtime.sealed.heads()})
    missing = api.get("/api/v1/log/consistency", s.NO_TOKEN, first=unsigned, second=head.tree_size)
    assert (missing.status_code, s.problem_type(missing)) == (404, "/problems/not-found")
    zh = api.get("/api/v1/log/consistency", s.NO_TOKEN, headers={"Accept-Language": "zh-CN"}, first=unsigned,
                 second=head.tree_size)
    assert "已签名树头" in zh.json()["detail"]


def test_a_consistency_proof_for_a_head_whose_events_were_deleted_is_refused(api: Api,
                                                                             database_url: str) -> None:
    case = s.raised(api.app)
    head = sealed(api)
    StoredRows(database_url).delete(case, 1)
    with api.runtime.writer.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM log_leaves WHERE leaf_index = {head.tree_size - 1}")
    response = api.get("/api/v1/log/consistency", s.NO_TOKEN, first=0, second=head.tree_size)
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")


def test_the_embedded_sealer_seals_what_is_recorded_on_its_own(api: Api) -> None:
    s.raised(api.app)
    recorded = api.head()
    deadline = time.monotonic() + 20       # it seals every 5 s
    while not any(h.tree_size >= recorded for h in api.runtime.sealed.heads()):
        assert time.monotonic() < deadline, "the embedded sealer sealed nothing"
        time.sleep(0.1)


def test_without_a_signing_key_the_log_is_not_sealed_and_says_so(start_api: Callable[..., Api],
                                                                  tmp_path: Path) -> None:
    # a key folder without signing.key; the store's events are read with the run's cipher key
    api = start_api(key_dir=tmp_path / "no-keys", cipher_key=Settings().cipher_key_text())
    response = api.get("/api/v1/log/public-key", s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")
    case = s.raised(api.app)
    result = api.get(f"/api/v1/demands/{case}/verify").json()
    assert (result["intact"], result["sealed"]) == (True, None)


def test_the_admins_verify_of_the_whole_store_includes_the_sealed_log(api: Api) -> None:
    flagged_case(api)
    head = sealed(api)
    result = api.get("/api/v1/audit/verify", s.ADMIN).json()
    assert result["intact"] is True
    assert result["log"] == {"sealed": head.tree_size, "not_yet_sealed": api.head() - head.tree_size,
                             "tree_size": head.tree_size, "snapshots": 0}
