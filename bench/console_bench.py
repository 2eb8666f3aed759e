"""Reviewer console: queue page render time with 1k vs 100k pending items, and with 20
concurrent sessions vs 1, measured side by side in one run.

    .venv/bin/python bench/console_bench.py [--rounds 30] [--sessions 20]

What it starts (free loopback ports, a temp folder, stopped at the end): one redis-server
(AOF everysec: the fill is not what is measured) holding two queues, 1,000 and 100,000
pending items (databases 1 and 2), and two real ``streamlit run`` consoles, one per queue,
launched exactly as ``vigil up`` launches it (dashboard/server.py).

What it measures, per click on "Next →" / "← Previous" of the queue page, two ways:

- browser: a headless Debian Chromium page (Playwright) logged in like a reviewer; the time
  from the click until the new "Page n of m" line is drawn: the websocket message, the
  fragment's rerun on the server (its Redis reads: counts, views, one page of 50 items), the
  deltas back, and the browser drawing them;
- socket: a session speaking Streamlit's websocket protocol itself (bench/streamlit_client.py,
  the same protobuf messages a browser sends); the time until the server reports the
  fragment run finished, i.e. the server's share alone.

Clicks alternate between the consoles round by round, so machine noise hits both alike.

Concurrency: the same two probes on the 100k console, alone and then with 19 more sessions
(protocol clients: each reruns its live queue fragment every 2 s, as the browser's timer
does, and changes page every 2-5 s). The other sessions are not browsers: 20 Chromium pages
drawing on the same 2 cores would measure the client machine, not the console.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from streamlit_client import StreamlitSession  # noqa: E402

from tests.conftest import free_port  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS  # noqa: E402  (nothing calls out)
from vigil.dashboard.auth import hash_password  # noqa: E402
from vigil.dashboard.server import console_process  # noqa: E402
from vigil.reviewers.connect import redis_client  # noqa: E402
from vigil.reviewers.queue import ReviewQueue  # noqa: E402
from vigil.reviewers.redis_server import redis_process  # noqa: E402
from vigil.settings import VigilSettings, load_settings  # noqa: E402
from vigil.supervisor import Supervisor  # noqa: E402
from vigil_client.contracts import CheckResult, Evidence, ReviewItem  # noqa: E402

USER, PASSWORD = "bench", "bench-password"
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


def fill(settings: VigilSettings, n: int, prefix: str) -> float:
    queue = ReviewQueue.connect(settings.redis_connection)
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


class BrowserProbe:
    """One logged-in Chromium page on a console's queue page."""

    def __init__(self, page: Any, name: str, pages: int) -> None:
        self.page = page
        self.name = name
        self.pages = pages
        self.current = 1

    @classmethod
    async def open(cls, browser: Any, port: int, name: str) -> BrowserProbe:
        context = await browser.new_context(viewport={"width": 1400, "height": 1600})
        page = await context.new_page()
        await page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
        await page.get_by_label("User").fill(USER)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        first = page.get_by_text("Page 1 of", exact=False)
        await first.wait_for(timeout=60_000)
        line = await first.inner_text()
        return cls(page, name, int(line.split(" of ")[1].split()[0]))

    async def flip(self) -> float:
        """Click to the next page (or back); seconds until the new page is drawn."""
        forward = self.current == 1
        target = self.current + 1 if forward else self.current - 1
        button = self.page.get_by_role("button", name="Next →" if forward else "← Previous")
        expected = self.page.get_by_text(f"Page {target} of {self.pages} ", exact=False)
        t0 = time.perf_counter()
        await button.click()
        await expected.wait_for(timeout=60_000)
        self.current = target
        return time.perf_counter() - t0


class SocketProbe:
    """One logged-in session over the websocket protocol, without a browser."""

    def __init__(self, session: StreamlitSession, name: str) -> None:
        self.session = session
        self.name = name
        self.current = 1

    @classmethod
    async def open(cls, port: int, name: str) -> SocketProbe:
        session = StreamlitSession(port)
        await session.connect()
        await session.rerun(
            set_text={"login_user": USER, "login_password": PASSWORD}, press="login_submit"
        )
        assert any(t.startswith("Page 1 of") for t in session.texts), session.texts
        return cls(session, name)

    async def flip(self) -> float:
        """Press "Next →" (or back); seconds until the server has sent the new page."""
        forward = self.current == 1
        t0 = time.perf_counter()
        await self.session.rerun(press="page_next" if forward else "page_prev")
        self.current = 2 if forward else 1
        return time.perf_counter() - t0


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"median {statistics.median(ms):6.0f} ms   p95 {p95:6.0f} ms   (n={len(ms)})"


def ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(a) / statistics.median(b)


async def live(probe: SocketProbe, stop: asyncio.Event) -> int:
    """A reviewer with the queue page open: its fragment reruns every 2 s (as the browser's
    timer asks), and a click to another page every 2-5 s."""
    clicks = 0
    next_click = time.monotonic() + random.uniform(2.0, 5.0)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=2.0)
        except TimeoutError:
            await probe.session.tick()
            if time.monotonic() >= next_click:
                await probe.flip()
                clicks += 1
                next_click = time.monotonic() + random.uniform(2.0, 5.0)
    return clicks


async def interleaved(probes: list[Any], rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {p.name: [] for p in probes}
    for r in range(rounds):
        for probe in probes if r % 2 == 0 else probes[::-1]:
            out[probe.name].append(await probe.flip())
            await asyncio.sleep(0.2)
    return out


async def measure(ports: dict[str, int], rounds: int, sessions: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        probes: list[Any] = [
            await BrowserProbe.open(browser, ports["1k"], "browser 1k"),
            await BrowserProbe.open(browser, ports["100k"], "browser 100k"),
            await SocketProbe.open(ports["1k"], "socket 1k"),
            await SocketProbe.open(ports["100k"], "socket 100k"),
        ]
        for probe in probes:  # warm-up: the first renders load code and fill caches
            for _ in range(4):
                await probe.flip()

        print(f"\n1. queue page, 1k vs 100k pending items ({rounds} clicks each, interleaved)")
        size = await interleaved(probes, rounds)
        for name, values in size.items():
            print(f"   {name:<13} {summary(values)}")
        for kind in ("browser", "socket"):
            r = ratio(size[f"{kind} 100k"], size[f"{kind} 1k"])
            print(f"   {kind:<8} ratio 100k / 1k (medians): {r:.2f}   (target <= 1.2)")

        print(f"\n2. the 100k console: 1 session vs {sessions} concurrent sessions")
        pair = [probes[1], probes[3]]
        alone = await interleaved(pair, rounds)
        others = [await SocketProbe.open(ports["100k"], f"s{i}") for i in range(sessions - 1)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(live(p, stop)) for p in others]
        await asyncio.sleep(3.0)  # every other session live and ticking
        crowded = await interleaved(pair, rounds)
        stop.set()
        clicks = sum(await asyncio.gather(*tasks))
        for probe in pair:
            print(f"   {probe.name:<13} alone:        {summary(alone[probe.name])}")
            print(f"   {probe.name:<13} {sessions} sessions: {summary(crowded[probe.name])}")
        print(
            f"   (meanwhile the other {sessions - 1} sessions reran their queue fragment every "
            f"2 s and changed page {clicks} times)"
        )
        for probe in pair:
            r = ratio(crowded[probe.name], alone[probe.name])
            print(f"   {probe.name:<13} ratio {sessions} / 1 (medians): {r:.2f}   (target <= 2.0)")
        for o in others:
            await o.session.close()
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
            print(f"filling: 1,000 items in {fill(small, 1000, 'small'):.1f}s, ", end="")
            print(f"{args.large:,} items in {fill(large, args.large, 'large'):.1f}s")
            client = redis_client(base.redis_connection)
            print(f"redis memory: {client.info('memory')['used_memory_human']}")
            client.close()
            for name, s in (("console-1k", small), ("console-100k", large)):
                sup.start(dataclasses.replace(console_process(s), name=name))
            t0 = time.perf_counter()
            asyncio.run(
                measure(
                    {"1k": small.console.port, "100k": large.console.port},
                    args.rounds,
                    args.sessions,
                )
            )
            print(f"\nmeasured in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
