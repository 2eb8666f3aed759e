"""How a Kafka client authenticates and encrypts: one frozen model for every Vigil client.

    from vigil_client import KafkaSecurity, VigilClient

    security = KafkaSecurity(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="checkout",
        sasl_password="...",                 # or KafkaSecurity.from_env()
        ssl_cafile="/etc/ssl/kafka-ca.pem",
    )
    with VigilClient("broker-1:9096", product="checkout", security=security) as vigil: ...

The server builds the same model from its settings (``VIGIL_KAFKA_*``) and hands it to each
of its clients: kafka-python takes :meth:`KafkaSecurity.kafka_python_kwargs`, aiokafka and
Faust an :meth:`KafkaSecurity.ssl_context`. Secrets are ``SecretStr``: a repr, a log line or a
settings dump shows ``**********``, never the value.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from kafka.errors import KafkaError, KafkaTimeoutError, SaslAuthenticationFailedError
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from vigil_client.exceptions import KafkaConnectError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

ENV_PREFIX = "VIGIL_KAFKA_"
# The fields a ``<NAME>_FILE`` variable may hold instead (Docker/Kubernetes secrets).
SECRET_FIELDS = ("sasl_password", "ssl_key_password")


def read_secret(value: str | SecretStr | None, file: str | Path | None) -> SecretStr | None:
    """The secret given directly, else the content of ``file`` (one trailing newline
    stripped: ``echo pw > file`` must not change the password); None when neither is set."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value:
        return SecretStr(value)
    if file:
        text = Path(file).read_text()
        return SecretStr(text[:-1] if text.endswith("\n") else text)
    return None


class KafkaSecurity(BaseModel):
    """The security settings of a Kafka connection (kafka-python's names).

    ``PLAINTEXT`` (the default) is an open broker; ``SSL`` adds TLS (``ssl_cafile`` verifies
    the broker, ``ssl_certfile``/``ssl_keyfile`` are the client's certificate for mutual
    TLS); the ``SASL_*`` protocols log in with ``sasl_username``/``sasl_password`` by
    ``sasl_mechanism`` (PLAIN or SCRAM), over TLS with ``SASL_SSL``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    # PEM files; no CA file means the system's trusted roots.
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    ssl_key_password: SecretStr = SecretStr("")
    # Off only for a broker whose certificate names another host (never in production).
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        if self.sasl and not (self.sasl_username and self.sasl_password.get_secret_value()):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_username and "
                "sasl_password (VIGIL_KAFKA_SASL_USERNAME, VIGIL_KAFKA_SASL_PASSWORD or "
                "VIGIL_KAFKA_SASL_PASSWORD_FILE)"
            )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("a client certificate needs both ssl_certfile and ssl_keyfile")
        if not self.tls and (self.ssl_cafile or self.ssl_certfile):
            raise ValueError(
                f"TLS files given but security_protocol is {self.security_protocol}: "
                "use SSL or SASL_SSL"
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"{name}: no such file {path}")
        return self

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def describe(self) -> str:
        """For logs and error messages: the protocol and who logs in, never a secret."""
        if self.sasl:
            return f"{self.security_protocol} {self.sasl_mechanism} as {self.sasl_username!r}"
        return self.security_protocol

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of kafka-python's KafkaProducer/KafkaConsumer/AdminClient;
        aiokafka's clients take the same names (TLS as ``ssl_context``)."""
        out: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl:
            out.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password.get_secret_value(),
            )
        if self.tls:
            # One SSL context for every client library, so they verify alike.
            out["ssl_context"] = self.ssl_context()
        return out

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (aiokafka, Faust, kafka-python); None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=self.ssl_cafile or None
        )
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:
            password = self.ssl_key_password.get_secret_value() or None
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile, password=password)
        return context

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX
    ) -> KafkaSecurity:
        """Read ``<prefix><FIELD>`` variables (``VIGIL_KAFKA_SECURITY_PROTOCOL``, ...); a
        secret may come from ``<prefix><FIELD>_FILE`` instead (the file's content)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(f"{prefix}{name.upper()}")
            if name in SECRET_FIELDS:
                secret = read_secret(raw, env.get(f"{prefix}{name.upper()}_FILE"))
                if secret is not None:
                    values[name] = secret
            elif raw is not None and raw != "":
                values[name] = raw
        return cls.model_validate(values)


class BootstrapWatch(logging.Filter):
    """Watches a Kafka client's bootstrap through its log, for why it failed.

    kafka-python 3.0 retries every failed bootstrap connection, a refused SASL login
    included, until ``bootstrap_timeout_ms`` (30 s by default); aiokafka tries each broker
    once and says only "Unable to bootstrap". Both log each failure with its exception, in
    their bootstrap function: kept here as ``last``; with ``fatal``, a refused login or a
    failed TLS handshake (no retry mends them) is raised from the log call, which ends that
    bootstrap at once. Should a library log otherwise, this finds nothing and the bootstrap's
    own timeout still ends the wait."""

    def __init__(self, func: str, *, fatal: bool) -> None:
        super().__init__()
        self.func = func
        self.fatal = fatal
        self.last: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.funcName != self.func or not isinstance(record.args, tuple):
            return True
        for arg in record.args:
            if isinstance(arg, BaseException):
                self.last = arg
                if self.fatal and (
                    isinstance(arg, SaslAuthenticationFailedError) or _tls_failure(arg)
                ):
                    raise arg
        return True


@contextlib.contextmanager
def watch_bootstrap(logger: str, func: str, *, fatal: bool) -> Iterator[BootstrapWatch]:
    """A :class:`BootstrapWatch` on ``logger`` while the block runs."""
    watch = BootstrapWatch(func, fatal=fatal)
    target = logging.getLogger(logger)
    target.addFilter(watch)
    try:
        yield watch
    finally:
        target.removeFilter(watch)


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def explain_kafka_errors(bootstrap: str, security: KafkaSecurity) -> Iterator[None]:
    """Around making a kafka-python client: a refused login or TLS handshake ends it at once,
    and that or a bootstrap that found no broker becomes a :class:`KafkaConnectError` saying
    what was tried (never a secret)."""
    with watch_bootstrap("kafka.net.manager", "_do_bootstrap", fatal=True) as watch:
        try:
            yield
        except KafkaError as exc:
            explained = _explained(exc, bootstrap, security, watch.last)
            if explained is exc:
                raise
            raise explained from exc


def _explained(
    exc: KafkaError, bootstrap: str, security: KafkaSecurity, last: BaseException | None
) -> Exception:
    if isinstance(exc, SaslAuthenticationFailedError):
        return KafkaConnectError(
            f"Kafka at {bootstrap} refused the login ({security.describe()}): {exc}"
        )
    if _tls_failure(exc):
        return KafkaConnectError(
            f"TLS with Kafka at {bootstrap} failed ({security.describe()}; CA file "
            f"{security.ssl_cafile or 'none: the system roots'}): {exc}"
        )
    if not isinstance(exc, KafkaTimeoutError):
        return exc
    return unreachable(bootstrap, security, last)


def unreachable(bootstrap: str, security: KafkaSecurity, last: BaseException | None) -> Exception:
    """The error of a bootstrap that found no broker, with the last reason it was given."""
    reason = f"; last failure: {last}" if last is not None else ""
    return KafkaConnectError(
        f"no Kafka broker answered at {bootstrap} over {security.describe()}: it is not "
        f"running, or it refused the connection (protocol, TLS or credentials){reason}"
    )
