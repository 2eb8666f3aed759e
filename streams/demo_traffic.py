"""Demo traffic: GSM8K questions the served replay variant recorded, published as inference
requests, with a progress bar."""

from __future__ import annotations

import random
import time

from tqdm import tqdm

from vigil.inference.replay_plan import load_replay_book
from vigil.settings import VigilSettings
from vigil_client.client import VigilClient

LOCALES = ("en-GB", "en-US", "de-DE", "fr-FR")
PLANS = ("free", "pro", "enterprise")
# Pronouns swapped word for word: the question stays the same length and the replay answers
# it as a counterfactual of the recorded one (ReplayBook.answer's ``counterfactual``).
_SWAPS = {"he": "she", "she": "he", "his": "her", "her": "his", "him": "her"}


def swap_pronouns(question: str) -> str:
    """``question`` with he/she, his/her swapped (whole words; others unchanged)."""
    return " ".join(_SWAPS.get(w, _SWAPS.get(w.lower(), w)) for w in question.split(" "))


def publish_gsm8k(
    settings: VigilSettings,
    *,
    count: int,
    rate: float,
    samples: int,
    seed: int,
    product: str,
    swapped_locale: str = "",
) -> int:
    """Publishes ``count`` requests (0 = until interrupted) at ``rate``/s (0 = unthrottled),
    each a question the served replay variant has a recording of; those of
    ``swapped_locale`` (if set) with their pronouns swapped."""
    book = load_replay_book(settings)
    questions = book.questions(settings.replay_variant)
    swapped: dict[str, str] = {}
    rng = random.Random(seed)
    sent = 0
    interval = 1.0 / rate if rate > 0 else 0.0
    with (
        VigilClient(
            settings.kafka_bootstrap, product=product, security=settings.kafka_security
        ) as client,
        tqdm(total=count or None, unit="req", desc="publishing") as bar,
    ):
        try:
            next_at = time.monotonic()
            while count == 0 or sent < count:
                locale = rng.choice(LOCALES)
                question = rng.choice(questions)
                if locale == swapped_locale:
                    if question not in swapped:
                        # One with too many pronouns is no near-copy the replay can answer:
                        # it is sent as it is, not as a dead letter.
                        other = swap_pronouns(question)
                        swapped[question] = other if book.knows(other) else question
                    question = swapped[question]
                client.submit(
                    question,
                    samples=samples,
                    metadata={"locale": locale, "plan": rng.choice(PLANS)},
                )
                sent += 1
                bar.update(1)
                if interval:
                    next_at += interval
                    time.sleep(max(0.0, next_at - time.monotonic()))
        except KeyboardInterrupt:
            pass
        client.flush()
    return sent
