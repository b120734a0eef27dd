"""A resident objects to a notice without an account: a contact phone kept as personal data, a receipt code
to read the answer by; and objections recorded before either existed still read and verify."""

from __future__ import annotations

import dataclasses
import json
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain import errors
from domain.application import RESIDENT, Minqing
from domain.chain import ENVELOPE, chain_of, digest
from domain.demand import Demand
from domain.masking import masked
from tests.unit import cases

PHONE = "13900001111"


def lodge(app: Minqing, case: UUID, **fields: str) -> Demand.ObjectionLodged:
    notice_id = cases.notice_of(app, case, "resolution")
    recorded = app.lodge_objection(case, **{"actor": RESIDENT, "notice_id": notice_id,
                                            "text": "路灯离我家太近", **fields})
    return app.objection_lodged(recorded)


def test_a_resident_objecting_without_a_contact_phone_is_refused(
        app: Minqing, resolution_notice_up: UUID) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        lodge(app, resolution_notice_up, phone="  ")
    assert refused.value.fields == ("phone",)
    assert app.demand(resolution_notice_up).objections == {}


def test_a_residents_objection_keeps_the_contact_phone_and_gets_a_receipt(
        app: Minqing, resolution_notice_up: UUID) -> None:
    lodged = lodge(app, resolution_notice_up, phone=PHONE)
    assert lodged.phone == PHONE
    assert lodged.receipt is not None and len(lodged.receipt) == 10
    assert app.history(resolution_notice_up)[-1].data["phone"] == PHONE


def test_the_contact_phone_is_masked_for_those_who_may_not_see_it(
        app: Minqing, resolution_notice_up: UUID) -> None:
    lodge(app, resolution_notice_up, phone=PHONE)
    assert masked(app.history(resolution_notice_up)[-1].data)["phone"] == "*******1111"


def test_each_objection_has_a_receipt_of_its_own(app: Minqing, resolution_notice_up: UUID) -> None:
    first = lodge(app, resolution_notice_up, phone=PHONE)
    second = lodge(app, resolution_notice_up, phone=PHONE)
    staff = lodge(app, resolution_notice_up, actor="wang.worker")
    assert len({first.receipt, second.receipt, staff.receipt}) == 3
    assert staff.phone is None


def test_the_receipt_of_a_version_that_is_not_an_objection_is_not_found(
        app: Minqing, resolution_notice_up: UUID) -> None:
    demand = app.demand(resolution_notice_up)
    with pytest.raises(errors.NotFound):
        app.objection_lodged(dataclasses.replace(app.lodge_objection(
            resolution_notice_up, actor="wang.worker", notice_id=next(iter(demand.notices)), text="异议"),
            version=demand.version))


def test_an_objection_recorded_before_phones_and_receipts_reads_without_them_and_its_chain_holds(
        app: Minqing, resolution_notice_up: UUID) -> None:
    lodge(app, resolution_notice_up, actor="wang.worker")
    latest, previous = app.recorder.select_events(resolution_notice_up, desc=True, limit=2)
    before = app.mapper.to_domain_event(previous)
    assert isinstance(before, Demand.Publicized)
    # the same objection as version 1 stored it: without either field or a class version...
    state = json.loads(latest.state)
    for name in ("class_version", "phone", "receipt"):
        state.pop(name)
    upcast = app.mapper.to_domain_event(dataclasses.replace(latest, state=json.dumps(state).encode()))
    assert isinstance(upcast, Demand.ObjectionLodged)
    assert (upcast.phone, upcast.receipt) == (None, None)
    # ...and hashed over what it held then
    held = {k: v for k, v in vars(upcast).items() if k not in ENVELOPE | {"phone", "receipt"}}
    state["chain"] = digest(before.chain, get_topic(Demand.ObjectionLodged), resolution_notice_up,
                            latest.originator_version, upcast.timestamp, held)
    old = app.mapper.to_domain_event(dataclasses.replace(latest, state=json.dumps(state).encode()))
    assert old.chain == chain_of(before.chain, old)
