"""Console users: a TOML file of names, roles and scrypt password hashes.

Make a hash for users.toml with ``python -m vigil.dashboard.auth`` (it prompts for the password).
The file format::

    [users.alice]
    role = "reviewer"            # viewer | reviewer | lead | admin
    password = "scrypt$16384$8$1$<salt b64>$<hash b64>"
    email = "alice@example.com"  # optional: her identity when signing in with OIDC

A user with an ``email`` and no ``password`` can only sign in through OIDC (see login.py).
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac
import secrets
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from vigil.dashboard.roles import ROLES, Role
from vigil.exceptions import ConfigError

# scrypt cost: N=2^14, r=8, p=1 (16 MiB, tens of ms) is the usual interactive-login setting.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_KEY_LEN = 32
# Refuse stored parameters that would make one login allocate absurd memory.
_MAX_MEM = 64 * 1024 * 1024


@dataclass(frozen=True)
class User:
    name: str
    role: Role


@dataclass(frozen=True)
class _Account:
    user: User
    password_hash: str  # empty: OIDC only
    email: str = ""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$<salt>$<hash>``: the salt and cost travel with the hash."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=_KEY_LEN, maxmem=_MAX_MEM
    )
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        key = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_MAX_MEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(key, expected)


@functools.cache
def _dummy_hash() -> str:
    # A valid hash of a random password: unknown users cost as much as known ones, so the time
    # a failed login takes does not tell whether the user name exists. Made on first use, not
    # at import.
    return hash_password(secrets.token_hex(16))


class UserDirectory:
    """The users of the console, read from the TOML file."""

    def __init__(self, accounts: dict[str, _Account]) -> None:
        self._accounts = accounts
        self._by_email = {a.email: a.user for a in accounts.values() if a.email}

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the console users file {path}: {exc}") from exc
        accounts: dict[str, _Account] = {}
        for name, entry in (data.get("users") or {}).items():
            if not isinstance(entry, dict):
                raise ConfigError(f"{path}: [users.{name}] must be a table")
            role, password = entry.get("role"), entry.get("password")
            email = entry.get("email", "")
            if role not in ROLES:
                raise ConfigError(f"{path}: user {name!r} has role {role!r}; use one of {ROLES}")
            if not isinstance(email, str):
                raise ConfigError(f"{path}: user {name!r}: email must be a string")
            if password is None and email:
                password = ""  # signs in through OIDC only
            elif not isinstance(password, str) or not password.startswith("scrypt$"):
                raise ConfigError(f"{path}: user {name!r} needs password = 'scrypt$...' hash")
            accounts[name] = _Account(User(name, cast(Role, role)), password, email.lower())
        return cls(accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, name: str) -> User | None:
        account = self._accounts.get(name)
        return None if account is None else account.user

    def by_email(self, email: str) -> User | None:
        """The user an OIDC identity (its verified e-mail) maps to."""
        return self._by_email.get(email.strip().lower()) if email else None

    def authenticate(self, name: str, password: str) -> User | None:
        account = self._accounts.get(name)
        stored = account.password_hash if account and account.password_hash else _dummy_hash()
        ok = verify_password(password, stored)
        return account.user if ok and account is not None and account.password_hash else None


def main() -> int:
    """Print a hash for users.toml; the password is read without echo (or from stdin)."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
