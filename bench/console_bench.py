"""Reviewer console: queue page render time with 1k vs 100k pending items, and with 20
concurrent sessions vs 1, measured side by side in one run.

    .venv/bin/python bench/console_bench.py [--rounds 30] [--sessions 20]

What it starts (free loopback ports, a temp folder, stopped at the end): one redis-server
(AOF everysec: the fill is not what is measured) holding two queues, 1,000 and 100,000
pending items (in databases 1 and 2), and two real ``streamlit run`` consoles, one per
queue, launched exactly as ``vigil up`` launches it (dashboard/server.py). The sessions are
real browser sessions: headless Debian Chromium pages driven by Playwright, each logged in
over the websocket like a reviewer.

What it measures: the time from clicking "Next →" (or "← Previous") on the queue page until
the new page's "Page n of m" line is drawn in the browser: the websocket message, the
fragment's rerun on the server (its Redis reads: counts, views, one page of 50 items), the
deltas back, and React drawing them. Clicks alternate between the two consoles round by
round, so machine noise hits both alike.

Concurrency: 20 sessions on the 100k console, each with the live queue page (its fragment
reruns every 2 s, as for a reviewer who keeps it open) and clicking through pages every
2-5 s; the probe session's click latency is compared with the same probe alone. The
browser runs on the same machine and draws all 20 pages, so its CPU is in the number too.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dashboard.auth import hash_password  # noqa: E402
from dashboard.server import console_process  # noqa: E402
from reviewers.queue import ReviewQueue  # noqa: E402
from reviewers.redis_server import redis_process  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from vigil.contracts import CheckResult, Evidence, ReviewItem  # noqa: E402
from vigil.settings import VigilSettings, load_settings  # noqa: E402
from vigil.supervisor import Supervisor  # noqa: E402

USER, PASSWORD = "bench", "bench-password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
]
VERSIONS = ("175b_verification", "175b_finetuning", "6b_verification", "6b_finetuning")
LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR")


def items(n: int, prefix: str) -> Iterator[ReviewItem]:
    now = datetime.now(UTC)
    steps = ["April: 48", "May: 48 / 2 = <<48/2=24>>24", "Total: 48 + 24 = 70", "A: 70"]
    for i in range(n):
        yield ReviewItem(
            request_id=f"{prefix}-{i:06d}",
            enqueued_at=now - timedelta(seconds=n - i),
            prompt="Natalia sold clips to 48 of her friends in April, and then she sold half "
            "as many clips in May. How many clips did Natalia sell altogether?",
            output="\n".join(steps),
            steps=steps[:3],
            final_answer="70",
            model_name="replay-reasoner",
            model_version=VERSIONS[i % len(VERSIONS)],
            risk_score=(i % 100) / 100,
            checks=[
                CheckResult(
                    check="step_verification",
                    score=0.9,
                    flagged=True,
                    evidence=[Evidence(message="48 + 24 = 72, not 70", step_index=2)],
                    first_faulty_step=2,
                ),
                CheckResult(check="self_consistency", score=0.6, flagged=i % 3 == 0),
            ],
            first_faulty_step=2,
            product="tutor",
            metadata={"locale": LOCALES[i % len(LOCALES)]},
            samples=["April: 48\nMay: 24\nA: 72", "A: 70"],
        )


def fill(url: str, n: int, prefix: str) -> float:
    queue = ReviewQueue.from_url(url)
    t0 = time.perf_counter()
    batch: list[ReviewItem] = []
    for item in items(n, prefix):
        batch.append(item)
        if len(batch) == 1000:
            queue.enqueue_many(batch)
            batch = []
    if batch:
        queue.enqueue_many(batch)
    assert queue.count_pending() == n
    queue.client.close()
    return time.perf_counter() - t0


class Probe:
    """One logged-in browser session on a console's queue page."""

    def __init__(self, page: object, name: str) -> None:
        self.page = page
        self.name = name
        self.current = 1
        self.pages = 0

    @classmethod
    async def open(cls, browser: object, port: int, name: str) -> Probe:
        context = await browser.new_context(viewport={"width": 1400, "height": 1600})  # type: ignore[attr-defined]
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded", timeout=120_000)
        await page.get_by_label("User").fill(USER)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_text("Page 1 of", exact=False).wait_for(timeout=60_000)
        probe = cls(page, name)
        line = await page.get_by_text("Page 1 of", exact=False).inner_text()
        probe.pages = int(line.split(" of ")[1].split()[0])
        return probe

    async def flip(self) -> float:
        """Click to the next page (or back), return the seconds until it is drawn."""
        forward = self.current == 1
        target = self.current + 1 if forward else self.current - 1
        button = self.page.get_by_role("button", name="Next →" if forward else "← Previous")  # type: ignore[attr-defined]
        expected = self.page.get_by_text(f"Page {target} of {self.pages}", exact=False)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        await button.click()
        await expected.wait_for(timeout=60_000)
        elapsed = time.perf_counter() - t0
        self.current = target
        return elapsed


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"median {statistics.median(ms):6.0f} ms   p95 {p95:6.0f} ms   (n={len(ms)})"


async def background(probe: Probe, stop: asyncio.Event) -> int:
    clicks = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=random.uniform(2.0, 5.0))
        except TimeoutError:
            await probe.flip()
            clicks += 1
    return clicks


async def measure(ports: dict[str, int], rounds: int, sessions: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        small = await Probe.open(browser, ports["1k"], "1k")
        large = await Probe.open(browser, ports["100k"], "100k")
        for probe in (small, large):  # warm-up: first renders load code and caches
            for _ in range(3):
                await probe.flip()

        print(f"\n1. queue page, 1k vs 100k pending items ({rounds} clicks each, interleaved)")
        size: dict[str, list[float]] = {"1k": [], "100k": []}
        for r in range(rounds):
            order = (small, large) if r % 2 == 0 else (large, small)
            for probe in order:
                size[probe.name].append(await probe.flip())
                await asyncio.sleep(0.3)
        for name, values in size.items():
            print(f"   {name:>5} pending: {summary(values)}")
        ratio_size = statistics.median(size["100k"]) / statistics.median(size["1k"])
        print(f"   ratio 100k / 1k (medians): {ratio_size:.2f}   (target <= 1.2)")

        print(f"\n2. 100k console: 1 session vs {sessions} concurrent sessions")
        alone = []
        for _ in range(rounds):
            alone.append(await large.flip())
            await asyncio.sleep(0.3)
        others = [await Probe.open(browser, ports["100k"], f"s{i}") for i in range(sessions - 1)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(background(p, stop)) for p in others]
        await asyncio.sleep(3.0)  # every session live and ticking
        crowded = []
        for _ in range(rounds):
            crowded.append(await large.flip())
            await asyncio.sleep(0.3)
        stop.set()
        clicks = sum(await asyncio.gather(*tasks))
        print(f"   1 session:            {summary(alone)}")
        print(f"   {sessions} sessions:          {summary(crowded)}")
        print(f"   (the other {sessions - 1} clicked {clicks} times meanwhile, and their queue")
        print("    fragments reran every 2 s)")
        ratio_conc = statistics.median(crowded) / statistics.median(alone)
        print(f"   ratio {sessions} / 1 (medians): {ratio_conc:.2f}   (target <= 2.0)")
        await browser.close()


def settings_for(base: VigilSettings, db: int, users: Path) -> VigilSettings:
    return load_settings(
        run_dir=base.run_dir,
        redis_url=base.redis_url.rsplit("/", 1)[0] + f"/{db}",
        console_port=free_port(),
        users_file=users,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="clicks per measurement")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--large", type=int, default=100_000, help="items of the large queue")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        run_dir = Path(tmp)
        users = run_dir / "users.toml"
        users.write_text(
            f'[users.{USER}]\nrole = "reviewer"\npassword = "{hash_password(PASSWORD)}"\n'
        )
        base = load_settings(
            run_dir=run_dir,
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            redis_appendfsync="everysec",
        )
        with Supervisor(run_dir / "logs", echo=lambda _line: None) as sup:
            sup.start(redis_process(base))
            small, large = settings_for(base, 1, users), settings_for(base, 2, users)
            print(f"filling: 1,000 items in {fill(small.redis_url, 1000, 'small'):.1f}s, ", end="")
            print(f"{args.large:,} items in {fill(large.redis_url, args.large, 'large'):.1f}s")
            client = redis.Redis.from_url(base.redis_url)
            print(f"redis memory: {client.info('memory')['used_memory_human']}")
            client.close()
            for name, s in (("console-1k", small), ("console-100k", large)):
                sup.start(dataclasses.replace(console_process(s), name=name))
            t0 = time.perf_counter()
            asyncio.run(
                measure(
                    {"1k": small.console_port, "100k": large.console_port},
                    args.rounds,
                    args.sessions,
                )
            )
            print(f"\nmeasured in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
