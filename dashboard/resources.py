"""What every session of the console shares, made once per process (Streamlit runs sessions
as threads of one process): settings, the review queue, the monitor's store, the users file,
the check reliability table. Nothing connects at import: each is made on first use.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from vigil.connections import RedisConnection
from vigil.dashboard import reliability
from vigil.dashboard.auth import UserDirectory
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings, load_settings
from vigil.streams.monitoring.store import MonitorStore


@st.cache_resource(show_spinner=False)
def get_settings() -> VigilSettings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def get_queue(redis_url: str) -> ReviewQueue:
    # The clients are thread-safe through their connection pool: one for all sessions. The
    # policy matters for claims (lease length) and the item's review plan. The url is the
    # cache key; the login and TLS come with the settings.
    settings = get_settings()
    policy = ReviewPolicy.from_settings(settings.review)
    return ReviewQueue.connect(_connection(settings, redis_url), policy=policy)


@st.cache_resource(show_spinner=False)
def get_monitor_store(redis_url: str, monitor: str) -> MonitorStore:
    return MonitorStore.connect(_connection(get_settings(), redis_url), monitor)


def _connection(settings: VigilSettings, redis_url: str) -> RedisConnection:
    return settings.redis_connection.model_copy(update={"url": redis_url})


@st.cache_resource(show_spinner=False)
def _users(path: str, mtime_ns: int) -> UserDirectory:
    return UserDirectory.load(Path(path))


def get_users(path: Path) -> UserDirectory:
    """The users file, re-read when it changes (the mtime is part of the cache key), so a
    removed user or a changed role takes effect at the next rerun, not the next login."""
    return _users(str(path), path.stat().st_mtime_ns if path.exists() else 0)


@st.cache_resource(show_spinner=False)
def _reliability(path: str, mtime_ns: int) -> reliability.ReliabilityTable | None:
    return reliability.load(Path(path))


def get_reliability(path: Path) -> reliability.ReliabilityTable | None:
    return _reliability(str(path), path.stat().st_mtime_ns if path.exists() else 0)
