"""How Vigil reaches a secured Redis and a Triton behind gRPC TLS (Kafka's model is the SDK's,
``vigil_client.security.KafkaSecurity``).

Pure models, built once from the settings (``VigilSettings.redis_connection``,
``VigilSettings.triton_tls``) and handed to the one module that opens each kind of client
(``reviewers/connect.py`` for Redis, ``inference/client.py`` for Triton). Secrets are
``SecretStr``: they print as ``**********``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

# The ACL user the embedded redis-server admits (its default user has a password no one has).
EMBEDDED_REDIS_USER = "vigil"


def redacted_url(url: str) -> str:
    """``url`` with any password in it replaced, for what is printed or logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def ensure_secret_file(path: Path) -> SecretStr:
    """The secret in ``path``, made (random, mode 0600) when there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two starters racing agree on the first one's secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SecretStr(path.read_text().strip())
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32))
    return SecretStr(path.read_text().strip())


class RedisConnection(BaseModel):
    """Where Redis is and how to log in: ``url`` (``rediss://`` for TLS), an ACL user and
    password (or the password alone, for ``requirepass``), and the TLS files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    username: str = ""
    password: SecretStr = SecretStr("")
    # PEM files; a CA verifies the server (none: the system's roots), a certificate and key
    # are the client's for a server that asks for one (``tls-auth-clients``).
    ssl_ca_file: str = ""
    ssl_cert_file: str = ""
    ssl_key_file: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> RedisConnection:
        scheme = urlsplit(self.url).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"redis url must be redis://, rediss:// or unix://, not {scheme}://")
        if (self.ssl_ca_file or self.ssl_cert_file) and not self.tls:
            raise ValueError("Redis TLS files given but the url is not rediss://")
        if bool(self.ssl_cert_file) != bool(self.ssl_key_file):
            raise ValueError("a Redis client certificate needs both its cert and key files")
        return self

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    def describe(self) -> str:
        """For logs and error messages: where and as whom, never the password."""
        who = self.username or urlsplit(self.url).username or "default"
        return f"{redacted_url(self.url)} as {who}"

    def client_kwargs(self) -> dict[str, Any]:
        """redis-py ``Redis.from_url`` keywords besides the url (a password in the url wins)."""
        out: dict[str, Any] = {}
        if self.username:
            out["username"] = self.username
        if self.password.get_secret_value():
            out["password"] = self.password.get_secret_value()
        if self.tls:
            out["ssl_cert_reqs"] = "required"
            if self.ssl_ca_file:
                out["ssl_ca_certs"] = self.ssl_ca_file
            if self.ssl_cert_file:
                out["ssl_certfile"] = self.ssl_cert_file
                out["ssl_keyfile"] = self.ssl_key_file
        return out


class GrpcTls(BaseModel):
    """TLS of a gRPC channel to Triton (the gateway's client; the shape any other Triton
    client takes). ``root_cert`` verifies the server (none: the system's roots); a client
    certificate and key are for a server that wants mutual TLS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    root_cert: str = ""
    client_cert: str = ""
    client_key: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> GrpcTls:
        if (self.root_cert or self.client_cert) and not self.enabled:
            raise ValueError("Triton TLS files given but TLS is off (VIGIL_TRITON_GRPC_SSL)")
        if bool(self.client_cert) != bool(self.client_key):
            raise ValueError("a Triton client certificate needs both its cert and key files")
        for name in ("root_cert", "client_cert", "client_key"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"Triton TLS {name}: no such file {path}")
        return self

    def tritonclient_kwargs(self) -> dict[str, Any]:
        """``tritonclient.grpc(.aio).InferenceServerClient`` keywords (it reads the files)."""
        if not self.enabled:
            return {}
        return {
            "ssl": True,
            "root_certificates": self.root_cert or None,
            "private_key": self.client_key or None,
            "certificate_chain": self.client_cert or None,
        }
