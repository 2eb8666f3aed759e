"""``vigil export``: settled reviews as JSONL training data, with provenance.

- ``sft.jsonl``: one record per correction with edited steps: ``prompt`` -> ``completion``
  (the corrected solution, one step a line, then ``A: <answer>``), with the original output
  and the diff. A correction of the answer alone is not a full solution and is skipped.
- ``step_labels.jsonl``: process-reward data, one record per settled item whose steps a
  reviewer judged: each step ``correct`` before the first wrong step, ``first_wrong`` at it,
  ``after`` it; an approved item has all steps ``correct``. A correction or rejection that
  does not mark the first wrong step is skipped.

Every record carries the request id, model name and version, product, tenant, route,
flagged checks, request metadata (less the data-subject key), reviewer and decision id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson
from tqdm import tqdm

from vigil.reviewers.correction import solution_text
from vigil.reviewers.keys import text
from vigil.reviewers.policy import flagged_checks
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewDecision, ReviewItem

SFT_FILE = "sft.jsonl"
STEP_LABELS_FILE = "step_labels.jsonl"
_PAGE = 500


@dataclass
class ExportStats:
    settled: int = 0
    sft: int = 0
    step_labels: int = 0
    skipped_answer_only: int = 0
    skipped_no_first_wrong: int = 0
    gone: int = 0


def step_labels(n_steps: int, first_wrong: int | None) -> list[str]:
    if first_wrong is None:
        return ["correct"] * n_steps
    return [
        "correct" if i < first_wrong else "first_wrong" if i == first_wrong else "after"
        for i in range(n_steps)
    ]


def _provenance(item: ReviewItem, decision: ReviewDecision, subject_key: str) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "model_name": item.model_name,
        "model_version": item.model_version,
        "product": item.product,
        "tenant": item.tenant,
        "route": item.route,
        "checks": flagged_checks(item),
        "metadata": {k: v for k, v in item.metadata.items() if k != subject_key},
        "decision_id": decision.decision_id,
        "reviewer": decision.reviewer,
        "tier": decision.tier,
        "decided_at": decision.decided_at.isoformat(),
    }


def sft_record(item: ReviewItem, d: ReviewDecision, subject_key: str) -> dict[str, Any] | None:
    if d.decision != "correct" or not d.corrected_steps:
        return None
    answer = d.corrected_answer if d.corrected_answer is not None else item.final_answer
    return {
        "prompt": item.prompt,
        "completion": solution_text(d.corrected_steps, answer),
        "original": item.output,
        "diff": d.diff,
        "first_wrong_step": d.first_wrong_step,
        **_provenance(item, d, subject_key),
    }


def step_label_record(
    item: ReviewItem, d: ReviewDecision, subject_key: str
) -> dict[str, Any] | None:
    if d.decision not in ("approve", "correct", "reject"):
        return None
    if d.decision != "approve" and d.first_wrong_step is None:
        return None
    first_wrong = None if d.decision == "approve" else d.first_wrong_step
    return {
        "prompt": item.prompt,
        "steps": item.steps,
        "labels": step_labels(len(item.steps), first_wrong),
        "first_wrong_step": first_wrong,
        "final_answer": item.final_answer,
        "verdict": d.decision,
        "corrected_answer": d.corrected_answer,
        **_provenance(item, d, subject_key),
    }


def _settled(queue: ReviewQueue) -> Iterator[tuple[ReviewItem, ReviewDecision] | None]:
    """Settled items, oldest decision first; None for one whose data is gone meanwhile."""
    start = 0
    while True:
        rids = cast(
            "list[bytes]", queue.client.zrange(queue.keys.decided, start, start + _PAGE - 1)
        )
        if not rids:
            return
        pipe = queue.client.pipeline(transaction=False)
        for rid in rids:
            pipe.hmget(queue.keys.item(text(rid)), ["item", "decision"])
        for raw_item, raw_decision in pipe.execute():
            if raw_item is None or raw_decision is None:
                yield None  # expired (retention) or erased since it was listed
            else:
                yield ReviewItem.from_json(raw_item), ReviewDecision.from_json(raw_decision)
        start += _PAGE


def _write(out: IO[bytes], record: dict[str, Any]) -> None:
    out.write(orjson.dumps(record) + b"\n")


def export_datasets(queue: ReviewQueue, out_dir: Path, *, progress: bool = True) -> ExportStats:
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = ExportStats()
    subject_key = queue.policy.subject_key
    total = int(queue.client.zcard(queue.keys.decided))
    with (
        (out_dir / SFT_FILE).open("wb") as sft,
        (out_dir / STEP_LABELS_FILE).open("wb") as labels,
        tqdm(total=total, unit="item", desc="export", disable=not progress) as bar,
    ):
        for row in _settled(queue):
            bar.update(1)
            if row is None:
                stats.gone += 1
                continue
            item, decision = row
            stats.settled += 1
            if (rec := sft_record(item, decision, subject_key)) is not None:
                _write(sft, rec)
                stats.sft += 1
            elif decision.decision == "correct":
                stats.skipped_answer_only += 1
            if (rec := step_label_record(item, decision, subject_key)) is not None:
                _write(labels, rec)
                stats.step_labels += 1
            elif decision.decision in ("correct", "reject"):
                stats.skipped_no_first_wrong += 1
    return stats
