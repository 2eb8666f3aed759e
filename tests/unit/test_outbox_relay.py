"""The relay's settings guard (no servers: it refuses before connecting to anything)."""

from __future__ import annotations

import pytest

from vigil.exceptions import ConfigError
from vigil.settings import load_settings
from vigil.streams.outbox_relay import PUBLISH_TIMEOUT_S, run_relay


def test_the_relay_refuses_a_claim_idle_time_a_live_relay_could_reach() -> None:
    settings = load_settings(relay_claim_idle_s=2 * PUBLISH_TIMEOUT_S)
    with pytest.raises(ConfigError, match="VIGIL_RELAY_CLAIM_IDLE_S"):
        run_relay(settings)


def test_the_default_claim_idle_time_leaves_a_margin_and_the_name_is_not_per_host() -> None:
    settings = load_settings()
    assert settings.relay.claim_idle_s > 2 * PUBLISH_TIMEOUT_S
    assert settings.relay.consumer == "relay"
