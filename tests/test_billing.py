"""The billing boundary with the embedded backend (the default): changes on
the record, several in one decision, the commands and /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import page, signed_in
from flask import Flask
from sqlalchemy import select
from werkzeug.security import check_password_hash

from ivr import calls, create_app, db
from ivr.flow.types import Cancel, Say
from ivr.models import BillingChange, Call, Customer, Subscription
from ivr.simulator import simulate_call


def test_a_cancellation_is_one_applied_change_with_the_calls_code(app: Flask, client) -> None:  # type: ignore[no-untyped-def]
    t = simulate_call(app, ["1234", "1", "2"], from_number="+15550100001")
    with app.app_context():
        [change] = db.session().scalars(select(BillingChange)).all()
        assert change.kind == "cancel" and change.state == "applied"
        assert change.confirmation == t.record["confirmation"]
        assert change.payload == {"account": "100001", "reason": "too_expensive", "comment": None}
        assert change.backend == "embedded" and change.applied_at is not None
    support = signed_in(app, client, "support")
    html = page(support.get(f"/console/calls/{t.record['call_sid']}"))
    assert "Billing changes" in html and change.confirmation in html and "applied" in html
    assert ">Retry</button>" not in html  # nothing to retry: it was applied


def test_several_cancellations_in_one_decision_each_have_their_own_code(app: Flask) -> None:
    t = simulate_call(app, ["5678"], from_number="+15550100002")
    with app.app_context():
        s = db.session()
        subs = s.scalars(
            select(Subscription).join(Customer).where(Customer.account_number == "100002")
        ).all()
        call, _ = calls.lock_call(s.connection(), t.record["call_sid"])
        effects = tuple(Cancel(sub.id, "unused", "both of them") for sub in subs)
        results = calls.apply_effects(s, call, effects, app.config)
        calls.save(s.connection(), call)
        s.commit()
        changes = s.scalars(select(BillingChange).order_by(BillingChange.id)).all()
        assert [c.subscription_id for c in changes] == [sub.id for sub in subs]
        codes = [c.confirmation for c in changes]
        assert len(set(codes)) == 2
        assert s.scalar(select(Call.confirmation).where(Call.id == call.id)) == codes[0]
        for sub, code in zip(subs, codes, strict=True):
            said = calls._with_results(Say("cancelled", results_of=sub.id), results)
            assert said.params["code"].value == code == results[sub.id]["code"].value
            assert said.params["plan"] == sub.plan


def test_billing_status_and_metrics_count_changes_by_state(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    simulate_call(app, ["1234", "1", "2"], from_number="+15550100001")
    out = runner.invoke(args=["ivr", "billing", "status"]).output
    assert "applied: 1" in out and "pending: 0" in out and "oldest unapplied: none" in out
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'ivr_billing_changes{state="applied"} 1.0' in metrics
    assert "ivr_billing_oldest_unapplied_seconds 0.0" in metrics


def test_set_pin_and_import_pins(app: Flask, runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["ivr", "set-pin", "--account", "100001", "--pin", "9999"])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(args=["ivr", "set-pin", "--account", "999999", "--pin", "1111"])
    assert refused.exit_code != 0 and "no customer" in refused.output
    pins = tmp_path / "pins.csv"
    pins.write_text("account,pin\n100002,1111\n100003,2222\n")
    assert runner.invoke(args=["ivr", "import-pins", str(pins)]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("100002,3333\n100003,12\n")
    assert runner.invoke(args=["ivr", "import-pins", str(bad)]).exit_code != 0
    with app.app_context():
        rows = db.session().execute(select(Customer.account_number, Customer.pin_hash)).all()
        hashes = {account: pin_hash for account, pin_hash in rows}
    assert check_password_hash(hashes["100001"], "9999")
    assert check_password_hash(hashes["100002"], "1111")  # the bad file changed nothing
    assert check_password_hash(hashes["100003"], "2222")
    assert check_password_hash(hashes["100004"], "2468")  # the demo PIN stays


def test_the_http_backend_refuses_to_start_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="needs PostgreSQL"):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
                "BILLING_BACKEND": "http",
                "BILLING_HTTP_URL": "https://billing.example",
                "BILLING_HTTP_SECRET": "s",
                "TWILIO_AUTH_TOKEN": "t",
                "SECRET_KEY": "k",
            }
        )
