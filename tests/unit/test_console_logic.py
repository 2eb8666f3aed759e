"""The console's pure logic: the sign-in switch, OIDC identities, roles, masking, anchoring,
check reliability. No Streamlit session, no Redis."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.redis_fixtures import review_item
from vigil.dashboard import reliability
from vigil.dashboard.auth import UserDirectory, hash_password
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.login import auth_mode, oidc_user
from vigil.dashboard.roles import ROLES, TIERS, allowed, may_see_pii, require
from vigil.dashboard.text_view import REDACTED_ANSWER, anchored, edited_steps, shown_item
from vigil.exceptions import ConfigError
from vigil.reviewers.claims import TIERS_BY_ROLE


def test_auth_mode_switch() -> None:
    assert auth_mode("auto", secrets_have_auth=False) == "password"
    assert auth_mode("auto", secrets_have_auth=True) == "oidc"
    assert auth_mode("password", secrets_have_auth=True) == "password"
    assert auth_mode("oidc", secrets_have_auth=True) == "oidc"
    with pytest.raises(ConfigError, match=r"\[auth\] section"):
        auth_mode("oidc", secrets_have_auth=False)
    with pytest.raises(ConfigError):
        auth_mode("ldap", secrets_have_auth=True)


@pytest.fixture
def users(tmp_path: Path) -> UserDirectory:
    path = tmp_path / "users.toml"
    path.write_text(
        '[users.alice]\nrole = "lead"\nemail = "Alice@Example.com"\n\n'
        f'[users.bob]\nrole = "reviewer"\npassword = "{hash_password("pw", n=2**4)}"\n'
    )
    return UserDirectory.load(path)


def test_oidc_identity_maps_to_a_listed_user_by_verified_email(users: UserDirectory) -> None:
    alice = oidc_user(users, {"email": "alice@example.COM", "email_verified": True}, "")
    assert alice is not None and (alice.name, alice.role) == ("alice", "lead")
    assert oidc_user(users, {"email": "alice@example.com", "email_verified": False}, "") is None
    assert oidc_user(users, {"sub": "123"}, "viewer") is None  # no e-mail, no identity
    assert oidc_user(users, {"email": "eve@example.com"}, "") is None
    eve = oidc_user(users, {"email": "Eve@example.com"}, "viewer")
    assert eve is not None and (eve.name, eve.role) == ("eve@example.com", "viewer")
    # An OIDC-only user cannot log in with a password (not even an empty one).
    assert users.authenticate("alice", "") is None
    assert users.authenticate("bob", "pw") is not None


def test_users_file_needs_a_password_or_an_email(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text('[users.x]\nrole = "reviewer"\n')
    with pytest.raises(ConfigError, match="password"):
        UserDirectory.load(path)


def test_roles_table() -> None:
    assert [r for r in ROLES if allowed(r, "decide")] == ["reviewer", "lead", "admin"]
    assert [r for r in ROLES if allowed(r, "view_team")] == ["lead", "admin"]
    assert all(allowed(r, "view_queue") for r in ROLES)
    with pytest.raises(PermissionDenied, match="role 'viewer'; only reviewer, lead, admin"):
        require("v", "viewer", "decide")
    require("r", "reviewer", "decide")
    # The console's tiers per role are the review domain's.
    assert {r: t for r, t in TIERS.items() if t} == {
        r: t for r, t in TIERS_BY_ROLE.items() if r in TIERS
    }
    assert may_see_pii("lead", ["lead", "admin"]) and not may_see_pii("reviewer", ["lead"])


def test_masking_pairs_the_redacted_lines_with_the_steps() -> None:
    output = "Mail bob@example.com\nTotal: 5 + 2 = 7\nA: 7"
    item = review_item(
        output=output,
        steps=output.splitlines()[:2],
        final_answer="7",
        samples=["Mail bob@example.com\nA: 8"],
        redacted_output="Mail <EMAIL_ADDRESS>\nTotal: 5 + 2 = 7\nA: 7",
        redacted_prompt="Ask <PERSON>",
    )
    shown = shown_item(item, may_see_pii=False)
    assert shown.steps == ["Mail <EMAIL_ADDRESS>", "Total: 5 + 2 = 7"]
    assert shown.final_answer == "7" and shown.prompt == "Ask <PERSON>"
    assert shown.samples is None and shown.redacted and shown.aligned
    full = shown_item(item, may_see_pii=True)
    assert full.steps == item.steps and full.samples == item.samples and not full.redacted
    # A masked answer stays masked; lines that don't pair up fall back to the whole text.
    masked_answer = item.model_copy(
        update={"redacted_output": "Mail <EMAIL_ADDRESS>\nTotal: 5 + 2 = 7\nA: <PHONE_NUMBER>"}
    )
    assert shown_item(masked_answer, False).final_answer == REDACTED_ANSWER
    unpaired = item.model_copy(update={"redacted_output": "Mail <EMAIL_ADDRESS>"})
    shown = shown_item(unpaired, False)
    assert not shown.aligned and shown.steps == [] and shown.output == "Mail <EMAIL_ADDRESS>"
    # An item without personal data is shown as it is to everyone.
    plain = review_item()
    assert shown_item(plain, False).steps == plain.steps and not shown_item(plain, False).redacted


def test_anchoring_and_edited_steps() -> None:
    assert anchored("48 + 24 = 70", [(10, 12)]) == "48 + 24 = 70\n          ^^"
    assert anchored("abc", [(2, 9), (-1, 1)]) == "abc"  # spans outside the step are skipped
    assert anchored("abc", []) == "abc"
    assert edited_steps("  one \n\n two\n") == ["one", "two"]


def test_reliability_pools_eval_reports(tmp_path: Path) -> None:
    doc = {
        "source": "test data",
        "generated_at": "2026-01-01",
        "reports": [
            {"variant": "a", "wrong": 10, "checks": {"x": {"flagged": 10, "precision": 0.9}}},
            {
                "variant": "b",
                "wrong": 30,
                "checks": {
                    "x": {"flagged": 30, "precision": 0.5},
                    "y": {"flagged": 0, "precision": None},
                },
            },
        ],
    }
    path = tmp_path / "r.json"
    path.write_bytes(orjson.dumps(doc))
    table = reliability.load(path)
    assert table is not None and table.source == "test data"
    x = table.get("x")
    assert x is not None and x.flagged == 40 and x.precision == pytest.approx(24 / 40)
    assert x.recall == pytest.approx(24 / 40)
    line = reliability.reliability_line(x, table)
    assert "wrong 60% of the time" in line and "50%-90% by model" in line and "test data" in line
    assert "never fired" in reliability.reliability_line(table.get("y"), table)
    assert "not measured" in reliability.reliability_line(None, table)
    assert "not measured" in reliability.reliability_line(None, None)
    assert reliability.load(tmp_path / "missing.json") is None
    path.write_text("{")
    with pytest.raises(ConfigError):
        reliability.load(path)


def test_committed_reliability_file_covers_the_built_in_checks() -> None:
    table = reliability.load(reliability.DEFAULT_FILE)
    assert table is not None and "GSM8K" in table.source
    for name in reliability.WHAT_IT_CHECKS:
        assert table.get(name) is not None, name
