from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from vigil.exceptions import StackError
from vigil.supervisor import ProcessSpec, Supervisor, mark_ready, marker_ready

# A parent that starts a grandchild and ignores SIGTERM: the supervisor must still leave
# nothing behind (this is what tritonserver under PyTriton looks like).
STUBBORN = """
import signal, subprocess, sys, time, pathlib
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
pathlib.Path(sys.argv[1]).write_text(str(child.pid))
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_stop_kills_the_whole_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vigil.supervisor.STOP_GRACE_S", 1.0)
    pidfile = tmp_path / "child.pid"
    with Supervisor(tmp_path / "logs", echo=lambda _: None) as sup:
        r = sup.start(
            ProcessSpec(
                "stubborn",
                [sys.executable, "-c", STUBBORN, str(pidfile)],
                ready=pidfile.exists,
                ready_timeout_s=20,
            )
        )
        parent, child = r.proc.pid, int(pidfile.read_text())
        assert _alive(parent) and _alive(child)
    deadline = time.monotonic() + 10
    while (_alive(parent) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(parent) and not _alive(child)


def test_a_child_that_dies_while_starting_reports_its_log(tmp_path: Path) -> None:
    with (
        Supervisor(tmp_path / "logs", echo=lambda _: None) as sup,
        pytest.raises(StackError, match="boom"),
    ):
        sup.start(
            ProcessSpec(
                "bad",
                [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                ready=lambda: False,
            )
        )


def test_marker_readiness_requires_the_live_pid(tmp_path: Path) -> None:
    probe = marker_ready(tmp_path, "svc", lambda: os.getpid())
    assert not probe()
    (tmp_path / "svc").write_text("1")  # a stale marker from an earlier run
    assert not probe()
    mark_ready(tmp_path, "svc")
    assert probe()
