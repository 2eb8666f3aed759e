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
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from vigil.settings import VigilSettings

PRODUCTS = ("support-bot", "tutor")
SWAP_VARIANT = "re2_gsm8k:text-davinci-003_zs-cot"
BIAS_LOCALE = "en-US"
DEMO_VERSION = 1
RATE_PER_PRODUCT = 4.0
REFERENCE_ROWS = 240
WINDOW_ROWS = 80
SWAP_AFTER_S = 150.0
# The stack's own start (20-40 s on a 2-core machine) comes first and does not scale with
# the speed: the swap waits for it, so the reference is built on the unswapped model.
STARTUP_S = 60.0
# Simulated reviewers (``--demo-reviewers``) are named so no one takes them for people.
SIM_REVIEWER_PREFIX = "sim-reviewer-"


@dataclass(frozen=True)
class DemoStep:
    """One beat of the story: when it is expected (Unix time; ``~`` in the text when it is an
    estimate) and what happens."""

    at: float
    what: str
    estimate: bool = False


@dataclass(frozen=True)
class DemoPlan:
    settings: VigilSettings
    rate_per_product: float
    swap_at: float
    speed: float
    reviewers: int = 0

    def timeline(self, traffic_at: float) -> list[DemoStep]:
        """The story's steps, from the traffic's start (``traffic_at``, Unix time)."""
        s, m = self.settings, self.settings.monitor
        rows_s = 1.0 / (self.rate_per_product * len(PRODUCTS))  # seconds per result
        window_s = min(m.window_size * rows_s, m.window_s or float("inf"))
        ref_at = traffic_at + m.reference_rows * rows_s
        steps = [
            DemoStep(
                traffic_at,
                f"traffic: {len(PRODUCTS)} products ({', '.join(PRODUCTS)}), segments locale x "
                f"plan, answered by `{s.replay_variant}` as `{s.model_name}` "
                f"v{s.replay_version}",
            ),
            DemoStep(
                ref_at,
                f"monitor reference ready: a baseline of the first {m.reference_rows} results,"
                f" then windows of {m.window_size}",
                estimate=True,
            ),
            DemoStep(
                ref_at + m.bias_windows * window_s,
                f"bias finding: locale={BIAS_LOCALE} questions arrive pronoun-swapped and are"
                f" answered by `{s.replay_counterfactual_variant}`",
                estimate=True,
            ),
            DemoStep(
                self.swap_at,
                f"silent regression: `{s.model_name}` v{s.replay_version} starts answering "
                f"with `{s.replay_swap_variant}` (same name, same version label)",
            ),
            DemoStep(
                self.swap_at + (m.raise_after + 0.5) * window_s,
                f"drift alert after {m.raise_after} drifted windows; its samples land in the"
                " review queue",
                estimate=True,
            ),
        ]
        return sorted(steps, key=lambda step: step.at)

    def banner(self, started_at: float, traffic_at: float | None = None) -> str:
        """The terminal's timeline, clocked from ``vigil up`` (``started_at``, Unix time)."""
        lines = [
            f"  demo:     speed x{self.speed:g}; {len(PRODUCTS)} products at "
            f"{self.rate_per_product:g} req/s each"
        ]
        for step in self.timeline(started_at if traffic_at is None else traffic_at):
            mark = "~" if step.estimate else " "
            lines.append(f"   {mark}{clock(step.at - started_at):>5}  {step.what}")
        if self.reviewers:
            ids = reviewer_ids(self.reviewers)
            lines.append(f"  reviewers: {self.reviewers} SIMULATED, not people ({ids})")
        return "\n".join(lines)

    def write(self, path: Path, started_at: float, traffic_at: float) -> None:
        """The timeline as JSON, for the console's banner (``DemoTimeline.load``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "speed": self.speed,
            "started_at": started_at,
            "reviewers": self.reviewers,
            "steps": [asdict(step) for step in self.timeline(traffic_at)],
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(doc))
        tmp.replace(path)  # the console never reads half a file


@dataclass(frozen=True)
class DemoTimeline:
    """What the console shows of a running demo: read back from the stack's ``demo_file``."""

    speed: float
    started_at: float
    steps: tuple[DemoStep, ...]
    reviewers: int = 0

    @classmethod
    def load(cls, path: Path) -> DemoTimeline | None:
        """The demo of this stack, or None when none runs (no file, or an unreadable one)."""
        try:
            doc = orjson.loads(path.read_bytes())
            return cls(
                speed=float(doc["speed"]),
                started_at=float(doc["started_at"]),
                steps=tuple(DemoStep(**step) for step in doc["steps"]),
                reviewers=int(doc.get("reviewers", 0)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def now_and_next(self, now: float) -> tuple[DemoStep | None, DemoStep | None]:
        """The last step that has come (None before the first) and the next one (None after
        the last)."""
        done = [step for step in self.steps if step.at <= now]
        ahead = [step for step in self.steps if step.at > now]
        return (done[-1] if done else None), (ahead[0] if ahead else None)

    def when(self, step: DemoStep) -> str:
        """The step's time from ``vigil up``, as m:ss (``~`` for an estimate)."""
        return ("~" if step.estimate else "") + clock(step.at - self.started_at)


def reviewer_ids(count: int) -> str:
    """The simulated reviewers' ids, as the console and the terminal name them."""
    return ", ".join(f"{SIM_REVIEWER_PREFIX}{i}" for i in range(1, count + 1))


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def demo_plan(
    settings: VigilSettings,
    *,
    speed: float = 1.0,
    rate: float = RATE_PER_PRODUCT,
    now: float | None = None,
    reviewers: int = 0,
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
    return DemoPlan(
        settings=demo, rate_per_product=rate, swap_at=swap_at, speed=speed, reviewers=reviewers
    )
