"""localstripe 1.15.10 as the Stripe backend's tests run it, with a small,
named patch: `keep_subscription_metadata_and_cancellation_details`.

localstripe accepts `metadata` on a subscription update but throws it away,
and answers 500 to `cancellation_details`. Stripe's API reference, "Update a
subscription" (https://docs.stripe.com/api/subscriptions/update), documents
both: metadata given on an update is merged into the object's (a key posted
with an empty value is removed), and `cancellation_details` {comment,
feedback} is kept on the subscription. The patch does exactly that and
nothing more; everything else is localstripe as released. docs/billing-stripe.md
says which tests depend on it.

Run: python tests/localstripe_patched.py --port PORT --from-scratch
"""

from __future__ import annotations

from typing import Any

import localstripe.resources as resources
from localstripe.server import start

_released_update = resources.Subscription._update


def keep_subscription_metadata_and_cancellation_details(
    self: Any, metadata: Any = None, cancellation_details: Any = None, **data: Any
) -> None:
    _released_update(self, **data)
    if metadata:
        merged = {**(self.metadata or {}), **metadata}
        self.metadata = {k: v for k, v in merged.items() if v != ""}
    if cancellation_details is not None:
        given = cancellation_details if isinstance(cancellation_details, dict) else {}
        self.cancellation_details = {
            "comment": given.get("comment") or None,
            "feedback": given.get("feedback") or None,
            "reason": "cancellation_requested",
        }


resources.Subscription._update = keep_subscription_metadata_and_cancellation_details
# Not part of the patch above: localstripe writes its whole state to one fixed
# file (/tmp/localstripe.pickle) after every request, shared by every run on
# the machine. These runs start --from-scratch and never read it, so they do
# not write it either.
resources.Store.dump_to_disk = lambda self: None

if __name__ == "__main__":
    start()
