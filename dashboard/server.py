"""Runs the Streamlit console: loopback by default, XSRF on, no usage statistics, no watcher,
no forced garbage collection after each rerun."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

from vigil.settings import VigilSettings
from vigil.supervisor import ProcessSpec

APP = Path(__file__).resolve().parent / "app.py"


def console_argv(settings: VigilSettings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        settings.console.address,
        "--server.port",
        str(settings.console.port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.enableXsrfProtection",
        "true",
        "--server.enableCORS",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--global.developmentMode",
        "false",
        # Streamlit runs a full gc.collect() after every script run by default: ~100 ms of
        # one interpreter per rerun here (the heap holds pandas, pyarrow, altair), so every
        # live fragment tick of every session paid it (bench/console_bench.py). Python's
        # own generational collector still runs.
        "--runner.postScriptGC",
        "false",
    ]


def console_ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
        return resp.status == 200 and resp.read().strip() == b"ok"


def console_process(settings: VigilSettings) -> ProcessSpec:
    return ProcessSpec(
        name="console",
        argv=console_argv(settings),
        env={
            **settings.as_env(),
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        },
        ready=lambda: console_ready(settings.console.port),
        ready_timeout_s=60.0,
    )


def run_console(settings: VigilSettings) -> int:
    return subprocess.call(console_argv(settings))
