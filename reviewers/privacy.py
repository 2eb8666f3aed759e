"""Privacy: retention and erasure of a data subject's items.

- Retention: everything stored about a settled item (content, decisions, audit trail)
  expires ``retention_s`` after it settles (decide.lua sets the expiry; tick.lua then drops
  it from the indexes). Unsettled items are kept until settled: dropping one unreviewed
  would leave its request in no known state.
- Erasure: ``erase_subject`` removes every item whose metadata names the subject (the
  policy's ``subject_key``, e.g. ``user_id``) and publishes a tombstone ``erased`` event per
  item. Items are found through a per-subject index keyed by a hash of the id. Copies on
  Kafka topics follow those topics' retention (see README).
"""

from __future__ import annotations

from vigil.reviewers.base import QueueBase
from vigil.reviewers.keys import subject_hash, text


class PrivacyMixin(QueueBase):
    def erase_subject(self, subject: str, *, actor: str = "system:erasure") -> list[str]:
        """Erase every item of this data subject; returns their request ids."""
        reply = self._run("erase", [subject_hash(subject), actor])
        return sorted(text(r) for r in reply)

    def subject_items(self, subject: str) -> list[str]:
        return sorted(
            text(r) for r in self.client.smembers(self.keys.subject(subject_hash(subject)))
        )
