"""A product using Vigil: submit requests, then act on the reviewers' decisions.

It needs only the SDK (``pip install ./sdk``), not the server. Run the stack first
(``scripts/up`` or ``.venv/bin/vigil up``), then:

    python examples/product_example.py --count 3 --wait-s 120

It submits GSM8K questions as product "tutor": one plain, one with three self-consistency
samples, one held for human review whatever the checks say, and one served by the
TensorRT-LLM-shaped model. It prints their request ids, then waits for review decisions on
them: open the console (http://127.0.0.1:8501, reviewer / vigil-demo), decide on the queued
items, and the decisions arrive here, corrections with the reviewer's answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from itertools import islice
from pathlib import Path

from vigil_client import VigilClient

# The recorded GSM8K solutions the local stack replays, beside the repository (one JSON
# object with a "question" per line): its questions are the ones the replay model answers.
DEFAULT_QUESTIONS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "model_solutions.jsonl"
)


def read_questions(path: Path, count: int) -> list[str]:
    with path.open() as lines:
        return [json.loads(line)["question"] for line in islice(lines, count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "questions", nargs="?", type=Path, default=DEFAULT_QUESTIONS, help="GSM8K JSONL file"
    )
    parser.add_argument(
        "--bootstrap", default=os.environ.get("VIGIL_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    )
    parser.add_argument(
        "--trtllm-model", default="replay-trtllm", help="the TensorRT-LLM-shaped model's name"
    )
    parser.add_argument("--count", type=int, default=4, help="requests to submit (max 4 kinds)")
    parser.add_argument(
        "--wait-s", type=float, default=120.0, help="how long to wait for decisions"
    )
    args = parser.parse_args(argv)

    questions = read_questions(args.questions, args.count)
    kinds = [
        {},
        {"samples": 3},
        {"hold_for_review": True},
        {"model": args.trtllm_model},
    ]
    with VigilClient(args.bootstrap, product="tutor", tenant="school-42") as vigil:
        submitted = {}
        for i, question in enumerate(questions):
            kind = kinds[i % len(kinds)]
            rid = vigil.submit(question, metadata={"locale": "en-GB", "plan": "pro"}, **kind)
            submitted[rid] = kind
            print(f"submitted {rid} {kind or ''}")
        vigil.flush()  # raises if any request did not reach the broker

        print(f"waiting up to {args.wait_s:.0f}s for review decisions on these requests...")
        for decision in vigil.decisions(
            request_ids=submitted, from_beginning=True, timeout_ms=int(args.wait_s * 1000)
        ):
            if decision.decision == "correct":
                print(
                    f"CORRECTION {decision.request_id}: answer {decision.corrected_answer!r} "
                    f"(first wrong step {decision.first_wrong_step}, by {decision.reviewer})"
                )
            else:
                print(f"approved   {decision.request_id} by {decision.reviewer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
