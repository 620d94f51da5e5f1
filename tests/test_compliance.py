"""Cancelling stays lawful wherever the caller lives: calls placed with
Twilio's FromState for California, Minnesota and no state at all; the proof
on each record, the compliance report, and the rules file's check."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pytest
from console_helpers import signed_in
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from ivr import db
from ivr.config import PROJECT_ROOT
from ivr.models import Call, CallEvent, Customer, Subscription
from ivr.simulator import simulate_call

ADA, GRACE = "+15550100001", "+15550100002"
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def kinds(t) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """The record's events that matter here, in order: (type, mark)."""
    out = []
    for e in t.record["events"]:
        mark = e["detail"].get("mark") if e["type"] == "prompt" else None
        if e["type"] != "prompt" or mark:
            out.append((e["type"], mark))
    return out


def premium_status(app: Flask) -> str:
    with app.app_context():
        return (
            db.session()
            .scalars(
                select(Subscription.status)
                .join(Customer)
                .where(Customer.account_number == "100001", Subscription.plan == "Premium")
            )
            .one()
        )


def report(runner: FlaskCliRunner, *args: str) -> str:
    result = runner.invoke(
        args=["ivr", "compliance", "report", "--from", TODAY, "--to", TODAY, *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_california_hears_the_disclosure_before_the_offer(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA, from_state="CA")
    assert t.outcome == "cancelled"
    heard = t.heard()
    disclosure = heard.index("Say cancel anytime to finish cancelling.")
    offer = heard.index("How about 50 percent off Premium for 3 months?")
    assert disclosure < offer
    events = kinds(t)
    assert events.index(("prompt", "disclosure")) < events.index(("prompt", "offer"))
    jurisdiction = next(e for e in t.record["events"] if e["type"] == "jurisdiction")
    assert jurisdiction["detail"]["state"] == "CA"
    assert jurisdiction["detail"]["source"] == "from_state"
    assert jurisdiction["detail"]["offer"] == "before"


@pytest.mark.parametrize("state", ["CA", "MN", None])
@pytest.mark.parametrize("answers", [["1234", "cancel"], ["1234", "1", "cancel"]])
def test_cancel_at_the_reason_or_the_offer_cancels_promptly_with_no_offer_after(
    app: Flask, state: str | None, answers: list[str]
) -> None:
    if state != "CA" and answers[1] == "1":
        answers = ["1234", "too expensive", "cancel"]  # no offer here before cancelling
    t = simulate_call(app, [*answers, "1", "1"], from_number=ADA, from_state=state)
    assert t.outcome == "cancelled" and premium_status(app) == "cancelled"
    events = kinds(t)
    said = events.index(("cancel_requested", None))
    assert events[said + 1 :].count(("prompt", "offer")) == 0
    assert ("cancelled", None) in events[: said + 2]


def test_minnesota_hears_an_offer_only_after_cancelling_and_only_on_yes(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "1", "2"], from_number=ADA, from_state="MN")
    assert t.outcome == "cancelled"
    assert ("prompt", "offer") not in kinds(t)
    assert "To cancel Premium now, press 1 or say cancel. To keep it, press 2." in t.heard()
    assert "May I tell you about an offer? Press 1 or say yes." in t.heard()

    t = simulate_call(app, ["2468", "1", "1", "1"], from_number="+15550100004", from_state="MN")
    events = kinds(t)
    assert events.index(("cancelled", None)) < events.index(("prompt", "offer"))
    assert events.index(("offer_permission", None)) < events.index(("prompt", "offer"))


def test_minnesota_taking_the_offer_after_cancelling_brings_the_subscription_back(
    app: Flask,
) -> None:
    t = simulate_call(app, ["1234", "1", "1", "1", "1"], from_number=ADA, from_state="MN")
    assert t.outcome == "saved" and t.record["offer_accepted"] is True
    events = [e["type"] for e in t.record["events"]]
    assert events.index("cancelled") < events.index("reinstated") < events.index("offer_applied")
    assert premium_status(app) == "active"
    with app.app_context():
        sub = (
            db.session()
            .scalars(select(Subscription).join(Customer).where(Customer.account_number == "100001"))
            .one()
        )
        assert sub.discount_percent == 50 and sub.cancel_at is None


def test_no_state_known_gets_the_strictest_rules(app: Flask) -> None:
    t = simulate_call(app, ["1234", "1", "1", "2"], from_number=ADA, from_state=None)
    jurisdiction = next(e for e in t.record["events"] if e["type"] == "jurisdiction")
    assert jurisdiction["detail"]["source"] == "unknown" and jurisdiction["detail"]["state"] is None
    assert ("prompt", "offer") not in kinds(t)


def test_the_state_on_file_decides_before_the_numbers(app: Flask) -> None:
    with app.app_context():
        s = db.session()
        s.scalars(select(Customer).where(Customer.account_number == "100001")).one().state = "MN"
        s.commit()
    t = simulate_call(app, ["1234", "1", "1"], from_number=ADA, from_state="CA")
    jurisdiction = next(e for e in t.record["events"] if e["type"] == "jurisdiction")
    assert (jurisdiction["detail"]["state"], jurisdiction["detail"]["source"]) == ("MN", "on_file")
    assert ("prompt", "offer") not in kinds(t)


def test_the_report_shows_each_call_and_zero_broken_rules(
    app: Flask, runner: FlaskCliRunner
) -> None:
    simulate_call(app, ["1234", "1", "2"], from_number=ADA, from_state="CA")
    simulate_call(app, ["5678", "1", "cancel"], from_number=GRACE, from_state="MN")
    simulate_call(app, ["2468", "1", "1", "1", "1"], from_number="+15550100004", from_state=None)
    out = report(runner)
    assert "Calls from" in out and ": 3" in out.splitlines()[0]
    assert "Calls that broke a rule: 0 (none)" in out
    assert "offer_before_disclosure: 0" in out and "cancel_not_processed: 0" in out
    rows = list(csv.DictReader(io.StringIO(report(runner, "--csv"))))
    assert len(rows) == 3
    ca, mn, unknown = rows
    assert (ca["state"], ca["state_from"], ca["offer_rule"]) == ("CA", "from_state", "before")
    assert ca["disclosure_text"] == "Say cancel anytime to finish cancelling."
    assert ca["disclosure_heard_at"] and ca["offers_heard"] == "1"
    assert ca["cancellation_processed_at"] and ca["violations"] == ""
    assert ca["recording_notice_required"] == "true" and ca["recording_notice_heard"]
    assert mn["cancel_said_at"] and mn["cancellation_processed_at"] >= mn["cancel_said_at"]
    assert mn["offers_heard"] == "0"
    assert (unknown["state_from"], unknown["offer_permission"]) == ("unknown", "yes")
    assert unknown["offers_heard"] == "1" and unknown["outcome"] == "saved"
    only_ca = list(csv.DictReader(io.StringIO(report(runner, "--state", "ca", "--csv"))))
    assert [r["call_sid"] for r in only_ca] == [ca["call_sid"]]


def test_the_report_counts_a_call_that_broke_a_rule(app: Flask, runner: FlaskCliRunner) -> None:
    """An offer heard before the disclosure (here written into a record by
    hand, as a line misconfigured elsewhere might) is counted and named."""
    t = simulate_call(app, ["1234", "cancel"], from_number=ADA, from_state="MN")
    with app.app_context():
        s = db.session()
        call = s.scalars(select(Call).where(Call.call_sid == t.call_sid)).one()
        # Heard right after the rules were settled, before anything else.
        settled = next(e for e in call.events if e.type == "jurisdiction")
        s.add(
            CallEvent(
                call_id=call.id,
                at=settled.at,
                type="prompt",
                step="reason",
                detail={"key": None, "text": "Half price?", "mark": "offer"},
            )
        )
        s.commit()
    out = report(runner)
    assert "Calls that broke a rule: 1" in out
    assert "offer_after_cancel_said: 0" in out
    assert f"{t.call_sid}: offer_before_disclosure, offer_before_cancellation" in out


def test_the_report_refuses_bad_dates_and_states(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["ivr", "compliance", "report", "--from", TODAY, "--to", "2000-01-01"]
    )
    assert result.exit_code != 0 and "--to is before --from" in result.output
    result = runner.invoke(
        args=["ivr", "compliance", "report", "--from", TODAY, "--to", TODAY, "--state", "Calif"]
    )
    assert result.exit_code != 0 and "not a two-letter state code" in result.output


def test_the_call_page_shows_the_proof(app: Flask, client: FlaskClient) -> None:
    t = simulate_call(app, ["1234", "1", "2"], from_number=ADA, from_state="CA")
    html = (
        signed_in(app, client, "support").get(f"/console/calls/{t.call_sid}").get_data(as_text=True)
    )
    assert "Compliance" in html and "from the caller's number (FromState)" in html
    assert "Say cancel anytime to finish cancelling." in html
    assert "Rules broken</dt><dd>none" in html


@pytest.mark.parametrize(
    "broken, problem",
    [
        ("states:\n  CA: {offer: sometimes}\n", "offer: 'sometimes'"),
        ("states:\n  California: {offer: before}\n", "not a two-letter state code"),
        ("unknown: {offer: after, recording_notice: maybe}\n", "recording_notice: 'maybe'"),
        ("default: [before]\n", "default: missing, or not a mapping"),
        ("states: {CA: {offer: before}\n", "cannot read"),
    ],
)
def test_a_broken_rules_file_is_refused_by_the_check(
    runner: FlaskCliRunner, tmp_path: Path, broken: str, problem: str
) -> None:
    folder = tmp_path / "prompts"
    shutil.copytree(PROJECT_ROOT / "voice_prompts", folder)
    rules = folder / "jurisdictions.yaml"
    base = "default: {offer: before}\nunknown: {offer: after}\n"
    if broken.startswith(("default", "unknown")):
        key = broken.split(":")[0]
        base = "\n".join(line for line in base.splitlines() if not line.startswith(key)) + "\n"
    rules.write_text(base + broken)
    result = runner.invoke(args=["ivr", "prompts", "check", "--dir", str(folder)])
    assert result.exit_code != 0
    assert "jurisdictions.yaml" in result.output and problem in result.output


def test_the_shipped_rules_pass_and_name_california_and_minnesota() -> None:
    from ivr import jurisdictions

    rules = jurisdictions.load(PROJECT_ROOT / "voice_prompts")
    assert jurisdictions.check(PROJECT_ROOT / "voice_prompts") == []
    assert rules.states["CA"].offer == "before" and rules.states["MN"].offer == "after"
    assert rules.unknown.offer == "after"
