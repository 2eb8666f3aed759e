"""``vigil up --demo``: the settings and timeline of the demo story.

What the demo does, at ``speed`` 1 (every time divided by ``speed``):

* two products (``support-bot``, ``tutor``) send GSM8K questions with ``locale`` and ``plan``
  segments, answered by a current model's free-form output (``replay_variant``);
* the monitor's reference is a fast baseline: the first ``REFERENCE_ROWS`` results (about
  half a minute at the demo's rate), judged in windows of ``WINDOW_ROWS``;
* ``STARTUP_S`` + ``SWAP_AFTER_S`` after the start the served model is silently swapped for a
  weaker recorded one (``SWAP_VARIANT``) under the same model name and pinned version label,
  so the drift monitor must find the change in the outputs; its alert's samples are queued;
* traffic of one segment (``locale=BIAS_LOCALE``) is sent with pronouns swapped, and the
  replay answers such near-copies of a recorded question with the weaker model
  (``replay_counterfactual_variant``): a segment the model treats differently, a bias finding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from vigil.settings import VigilSettings

PRODUCTS = ("support-bot", "tutor")
SWAP_VARIANT = "re2_gsm8k:text-davinci-003_zs-cot"
BIAS_LOCALE = "en-US"
DEMO_VERSION = 1
RATE_PER_PRODUCT = 4.0
REFERENCE_ROWS = 240
WINDOW_ROWS = 80
SWAP_AFTER_S = 150.0
# The stack's own start (about 50 s on a 2-core machine) comes first and does not scale with
# the speed: the swap waits for it, so the reference is built on the unswapped model.
STARTUP_S = 60.0


@dataclass(frozen=True)
class DemoPlan:
    settings: VigilSettings
    rate_per_product: float
    swap_at: float
    speed: float

    def banner(self, started_at: float) -> str:
        """The console's timeline, from ``vigil up`` (``started_at``, Unix time)."""
        s = self.settings
        ref_s = s.monitor.reference_rows / (self.rate_per_product * len(PRODUCTS))
        return "\n".join(
            [
                f"  demo:     speed x{self.speed:g}; {len(PRODUCTS)} products "
                f"({', '.join(PRODUCTS)}) at {self.rate_per_product:g} req/s each",
                f"    0:00  traffic: {s.replay_variant} as {s.model_name} "
                f"v{s.replay_version}; segments locale x plan",
                f"    ~{_clock(ref_s)}  monitor reference ready: baseline of the first "
                f"{s.monitor.reference_rows} results, windows of {s.monitor.window_size}",
                f"    {_clock(self.swap_at - started_at)}  silent regression: "
                f"{s.model_name} v{s.replay_version} starts answering with "
                f"{s.replay_swap_variant} (same name, same version label)",
                f"    then  a drift alert after {s.monitor.raise_after} drifted windows; its "
                "samples land in the review queue",
                f"    all along  locale={BIAS_LOCALE} questions arrive pronoun-swapped and "
                f"are answered by {s.replay_counterfactual_variant}: a bias finding",
            ]
        )


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def demo_plan(
    settings: VigilSettings,
    *,
    speed: float = 1.0,
    rate: float = RATE_PER_PRODUCT,
    now: float | None = None,
) -> DemoPlan:
    """The demo's settings: ``settings`` with the story's overrides (kept where the user set
    a variant of their own)."""
    if speed <= 0:
        raise ValueError("--demo-speed must be more than 0")
    start = time.time() if now is None else now
    swap_at = start + STARTUP_S + SWAP_AFTER_S / speed
    rate = rate * speed
    demo = settings.replace(
        replay_version=settings.replay_version or DEMO_VERSION,
        replay_swap_variant=settings.replay_swap_variant or SWAP_VARIANT,
        replay_swap_at=swap_at,
        replay_counterfactual_variant=settings.replay_counterfactual_variant or SWAP_VARIANT,
        monitor_reference="baseline",
        monitor_reference_rows=REFERENCE_ROWS,
        monitor_window_size=WINDOW_ROWS,
        monitor_min_window_rows=WINDOW_ROWS // 2,
        monitor_window_s=max(5.0, 60.0 / speed),
        monitor_bias_attributes=["locale", "plan"],
        monitor_bias_min_rows=30,
        monitor_bias_windows=3,
    )
    return DemoPlan(settings=demo, rate_per_product=rate, swap_at=swap_at, speed=speed)
