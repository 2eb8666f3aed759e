"""`vigil up` as a user runs it: everything ready, then Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import isolated_settings
from vigil.inference.server import triton_workspace

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.triton]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    env = {**os.environ, **settings.as_env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "up", "--demo", "--rate", "5", "--demo-reviewers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        output = "".join(lines)
        assert "Ctrl-C stops everything" in output, output
        parts = ("redis", "kafka", "triton", "gateway", "worker", "relay", "console", "demo")
        for part in (*parts, "sim-reviewers"):
            assert f"  {part}" in output, f"{part} missing:\n{output}"
        assert "reviewer / vigil-demo" in output
        assert "reviewers: 1 SIMULATED, not people (sim-reviewer-1)" in output
        # The demo's traffic starts with the topics, before the rest of the stack.
        assert output.index("  demo ") < output.index("  gateway ") < output.index("All parts")
        assert settings.demo_file.exists()  # the console's banner
        time.sleep(3)  # let the demo publisher push some traffic through
        started = _descendants(proc.pid)
        assert len(started) >= 8, started
        workspace = triton_workspace(settings)
        assert workspace.is_dir()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "Stopped: no Vigil process left running." in rest
    assert not settings.demo_file.exists()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in started if _alive(p)], "processes left behind after Ctrl-C"
    # Stopped in order, not killed: PyTriton's workspace (IPC sockets, model store) is gone.
    assert not workspace.exists()
