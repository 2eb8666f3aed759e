"""What each console role may do: one table, checked by every action on the server side.

The pages hide what a role may not do, but that is only a courtesy: ``actions.py`` calls
``require`` before it touches the queue, so a forged websocket message, a stale page or a
role changed while a form was open is refused all the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from vigil.dashboard.exceptions import PermissionDenied
from vigil.reviewers.claims import TIERS_BY_ROLE

Role = Literal["viewer", "reviewer", "lead", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "reviewer", "lead", "admin")

Action = Literal[
    "view_queue",  # the queue, items, monitoring and alerts (read only)
    "claim",  # claim an item, renew or release the claim
    "decide",  # approve, reject, correct, escalate
    "comment",
    "request_report",  # ask the monitor to render an Evidently report
    "view_team",  # reviewer throughput, agreement, SLA breaches
]

_ALLOWED: dict[Action, frozenset[Role]] = {
    "view_queue": frozenset(ROLES),
    "claim": frozenset({"reviewer", "lead", "admin"}),
    "decide": frozenset({"reviewer", "lead", "admin"}),
    "comment": frozenset({"reviewer", "lead", "admin"}),
    "request_report": frozenset({"reviewer", "lead", "admin"}),
    "view_team": frozenset({"lead", "admin"}),
}

# The review tiers a role works, first choice first: the review domain's table (the console
# passes it to claim and decide, so the queue enforces it too); a viewer works none.
TIERS: dict[Role, tuple[str, ...]] = {r: TIERS_BY_ROLE.get(r, ()) for r in ROLES}


def allowed(role: str, action: Action) -> bool:
    return role in _ALLOWED[action]


def require(name: str, role: str, action: Action) -> None:
    """Raise ``PermissionDenied`` unless ``role`` may do ``action``."""
    if not allowed(role, action):
        who = ", ".join(r for r in ROLES if r in _ALLOWED[action])
        raise PermissionDenied(
            f"{name} has role {role!r}; only {who} may {action.replace('_', ' ')}",
            user=name,
            role=role,
            action=action,
        )


def may_see_pii(role: str, pii_roles: Iterable[str]) -> bool:
    """Whether ``role`` sees prompts and outputs with personal data unmasked."""
    return role in set(pii_roles)
