"""``vigil export``'s datasets from settled reviews on real Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from tests.reviewers.helpers import decision
from vigil.reviewers.export import SFT_FILE, STEP_LABELS_FILE, export_datasets
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]
FIXED = ["April: 48", "May: 48 / 2 = 24", "Total: 48 + 24 = 72"]


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_export_writes_sft_pairs_and_step_labels(
    review_queue: ReviewQueue, make_item: MakeItem, tmp_path: Path
) -> None:
    meta = {"locale": "en-GB", "user_id": "u-1"}
    for rid in ("fixed", "answer-only", "approved", "rejected", "rejected-unmarked", "open"):
        review_queue.enqueue(make_item(rid, metadata=meta, route="math"))
    review_queue.decide(
        decision(
            "fixed", "correct", corrected_steps=FIXED, corrected_answer="72", first_wrong_step=2
        )
    )
    review_queue.decide(decision("answer-only", "correct", first_wrong_step=None))
    review_queue.decide(decision("approved", "approve", reviewer="bob"))
    review_queue.decide(decision("rejected", "reject", first_wrong_step=1))
    review_queue.decide(decision("rejected-unmarked", "reject"))

    stats = export_datasets(review_queue, tmp_path, progress=False)
    assert (stats.settled, stats.sft, stats.step_labels) == (5, 1, 3)
    assert (stats.skipped_answer_only, stats.skipped_no_first_wrong) == (1, 2)

    [sft] = _lines(tmp_path / SFT_FILE)
    assert sft["prompt"] == make_item().prompt
    assert sft["completion"] == "\n".join(FIXED) + "\nA: 72"
    assert sft["original"] == make_item().output and "+A: 72" in str(sft["diff"])
    assert sft["model_version"] == "175b_verification" and sft["route"] == "math"
    assert sft["metadata"] == {"locale": "en-GB"}  # the data-subject key is left out
    assert sft["checks"] == ["arithmetic"] and sft["request_id"] == "fixed"

    labelled = {r["request_id"]: r for r in _lines(tmp_path / STEP_LABELS_FILE)}
    assert set(labelled) == {"fixed", "approved", "rejected"}
    assert labelled["fixed"]["labels"] == ["correct", "correct", "first_wrong", "after"]
    assert labelled["approved"]["labels"] == ["correct"] * 4
    assert labelled["approved"]["reviewer"] == "bob"
    assert labelled["rejected"]["labels"] == ["correct", "first_wrong", "after", "after"]
