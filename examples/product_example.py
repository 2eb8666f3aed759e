"""A product using Vigil: submit requests, then act on the reviewers' decisions.

Run the stack first (``scripts/up`` or ``.venv/bin/vigil up``), then:

    .venv/bin/python examples/product_example.py --count 3 --wait-s 120

It submits GSM8K questions as product "tutor": one plain, one with three self-consistency
samples, one held for human review whatever the checks say, and one served by the
TensorRT-LLM-shaped model. It prints their request ids, then waits for review decisions on
them: open the console (http://127.0.0.1:8501, reviewer / vigil-demo), decide on the queued
items, and the decisions arrive here, corrections with the reviewer's answer.
"""

from __future__ import annotations

import argparse
import sys

from inference.replay_data import ReplayBook
from streams.client import VigilClient
from vigil.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap)
    parser.add_argument("--count", type=int, default=4, help="requests to submit (max 4 kinds)")
    parser.add_argument(
        "--wait-s", type=float, default=120.0, help="how long to wait for decisions"
    )
    args = parser.parse_args(argv)

    questions = ReplayBook.load(settings.gsm8k_path).questions()
    kinds = [
        {},
        {"samples": 3},
        {"hold_for_review": True},
        {"model": settings.trtllm_model_name},
    ]
    with VigilClient(args.bootstrap, product="tutor", tenant="school-42") as vigil:
        submitted = {}
        for i in range(args.count):
            kind = kinds[i % len(kinds)]
            rid = vigil.submit(questions[i], metadata={"locale": "en-GB", "plan": "pro"}, **kind)
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
