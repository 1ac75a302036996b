"""Pending state entries in the plan, its text, and the creation journal (no cloud)."""

from __future__ import annotations

import threading

from engine.iac.plan_render import render_plan
from providers.creation_journal import creation_journal, record_created
from tests.test_iac_plan import doc_of, kinds, plan_for, res, state

ADOPTED = "created by a failed run, will be adopted"


def test_a_pending_entry_of_a_declared_resource_is_created_again_to_adopt_it() -> None:
    doc = doc_of(res("net", config={"cidr": "10.0.0.0/16"}), res("app", depends_on=["net"]))
    pending = state("net", {"cidr": "10.0.0.0/16"}).model_copy(update={"pending": True})
    plan = plan_for(doc, [pending])
    assert kinds(plan) == [("create", "net"), ("create", "app")]
    assert plan.actions[0].current == pending
    assert plan.notes == {"net": ADOPTED}
    text = render_plan(plan)
    assert f'+ create infra.vpc "net" ({ADOPTED})' in text
    assert '+ create infra.vpc "app"\n' in text
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to destroy." in text


def test_a_pending_entry_no_longer_declared_is_deleted() -> None:
    pending = state("old").model_copy(update={"pending": True, "provider_id": ""})
    plan = plan_for(doc_of(res("net")), [pending])
    assert kinds(plan) == [("create", "net"), ("delete", "old")]
    assert plan.notes == {"old": "created by a failed run, will be deleted"}
    assert '- delete infra.vpc "old" (created by a failed run, will be deleted)' in render_plan(
        plan
    )


def test_a_done_entry_gets_no_note() -> None:
    doc = doc_of(res("net", config={"cidr": "10.0.0.0/16"}))
    assert plan_for(doc, [state("net", {"cidr": "10.0.0.0/16"})]).notes == {}


def test_the_journal_reaches_only_the_create_that_installed_it() -> None:
    seen: list[str] = []
    other: list[str] = []
    record_created("before")  # no journal: nothing happens

    def elsewhere() -> None:
        record_created("other-thread")
        other.append("ran")

    with creation_journal(seen.append):
        record_created("vpc-1")
        record_created("")  # nothing known yet: not recorded
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    record_created("after")
    assert seen == ["vpc-1"] and other == ["ran"]
