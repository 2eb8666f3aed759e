"""The audit trail: every state change of an item, oldest first, as published on
``review.events`` (appended here and to the outbox by the same script). The ``queued`` entry
leaves out the item and its queue fields, which the item hash holds already."""

from __future__ import annotations

from vigil.reviewers.base import QueueBase
from vigil_client.contracts import ReviewEvent


class AuditMixin(QueueBase):
    def audit(self, request_id: str) -> list[ReviewEvent]:
        raw = self.client.lrange(self.keys.audit(request_id), 0, -1)
        return [ReviewEvent.from_json(r) for r in raw]
