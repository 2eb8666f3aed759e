"""Starts the local stack's processes in order, waits until each is really ready, stops them all.

Each child runs in its own session (process group) so that stopping it also stops what it
spawned (tritonserver under PyTriton, Python stubs, Streamlit's workers); Ctrl-C in the
terminal reaches only the supervisor, which then stops the children in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vigil.exceptions import StackError

# How long a child gets to exit after SIGTERM before its whole group is killed.
STOP_GRACE_S = 15.0


@dataclass
class ProcessSpec:
    """One long-running child of the stack."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    ready_timeout_s: float = 90.0
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # A log the process writes itself (e.g. the broker's), shown when it fails to start.
    extra_log: Path | None = None


@dataclass
class Running:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float = 0.0  # time.monotonic() at the spawn


def _tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def mark_ready(ready_dir: Path, name: str) -> None:
    """Called by a Vigil service once it can do its job (consumer assigned, model loaded...)."""
    ready_dir.mkdir(parents=True, exist_ok=True)
    (ready_dir / name).write_text(str(os.getpid()))


def marker_ready(
    ready_dir: Path, name: str, pid_of: Callable[[], int | None]
) -> Callable[[], bool]:
    """A readiness probe: the service wrote its marker, with its own pid (not a stale one)."""

    def probe() -> bool:
        marker = ready_dir / name
        try:
            return int(marker.read_text()) == pid_of()
        except (OSError, ValueError):
            return False

    return probe


class Supervisor:
    """Owns the stack's children; use as a context manager so they always get stopped."""

    def __init__(self, logs_dir: Path, *, echo: Callable[[str], None] = print) -> None:
        self.logs_dir = logs_dir
        self.echo = echo
        self.running: list[Running] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def pid(self, name: str) -> int | None:
        for r in self.running:
            if r.spec.name == name:
                return r.proc.pid
        return None

    def start(self, spec: ProcessSpec) -> Running:
        """Start ``spec`` and wait until it is ready."""
        return self.wait_ready(self.spawn(spec))

    def spawn(self, spec: ProcessSpec) -> Running:
        """Start ``spec`` without waiting: parts that need only what is up already start
        side by side, each then awaited with :meth:`wait_ready`."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{spec.name}.log"
        env = {**os.environ, **spec.env}
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                spec.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
            )
        running = Running(spec, proc, log_path, started_at=time.monotonic())
        self.running.append(running)
        return running

    def wait_ready(self, running: Running) -> Running:
        """Block until ``running`` is ready; StackError (with the log tail) if it exits first
        or is not ready within its ``ready_timeout_s`` of its start."""
        spec, proc, log_path, t0 = running.spec, running.proc, running.log_path, running.started_at
        deadline = t0 + spec.ready_timeout_s
        while True:
            code = proc.poll()
            if code is not None:
                raise StackError(
                    f"{spec.name} exited with code {code} while starting; log {log_path}:\n"
                    f"{_tail(log_path)}\n{_tail(spec.extra_log)}"
                )
            try:
                if spec.ready():
                    break
            except Exception:  # a probe that can't connect yet is simply "not ready"
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"{spec.name} not ready after {spec.ready_timeout_s:.0f}s; log {log_path}:\n"
                    f"{_tail(log_path)}\n{_tail(spec.extra_log)}"
                )
            time.sleep(0.2)
        self.echo(f"  {spec.name:<9} ready in {time.monotonic() - t0:5.1f}s  (log: {log_path})")
        return running

    def check_alive(self) -> list[str]:
        """Names of children that have died since they started."""
        return [r.spec.name for r in self.running if r.proc.poll() is not None]

    def stop(self, name: str) -> None:
        for r in list(self.running):
            if r.spec.name == name:
                self._stop_one(r)
                self.running.remove(r)

    def stop_all(self) -> None:
        while self.running:
            self._stop_one(self.running.pop())

    def _stop_one(self, r: Running) -> None:
        pgid = r.proc.pid  # start_new_session: the child leads its own group
        # The child first, alone: it stops what it started in order (PyTriton shuts
        # tritonserver down, which finalizes its Python stubs and removes their folders);
        # a SIGTERM to the whole group would kill the stubs under it mid-call.
        with contextlib.suppress(ProcessLookupError):
            r.proc.send_signal(signal.SIGTERM)
        try:
            r.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            r.proc.wait(timeout=10)
        # Grandchildren that outlived their parent still carry the group id: asked, then forced.
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
