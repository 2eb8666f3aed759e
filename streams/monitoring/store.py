"""What the drift and bias monitor keeps in Redis, for itself (restarts) and for the console.

Key layout (``P`` is ``<prefix>:monitor:<monitor id>``, e.g. ``vigil:monitor:vigil-monitor``):

- ``P:reference``  the reference (zlib-compressed JSON, ``streams.monitoring.reference``),
  built once; ``P:reference:meta`` its description (JSON) for the console.
- ``P:seq``  counter of window ids (unique across restarts).
- ``P:windows``  sorted set of window ids by close time; ``P:window:<id>`` hash: ``summary``
  (JSON: per-feature drift, share drifted, bias tests, alerts), ``snapshot`` (the Evidently
  snapshot JSON) and ``rows`` (the window's feature rows, zlib JSON, capped, for the HTML
  report). Only the newest ``keep_windows`` windows are kept.
- ``P:html:wanted``  set of window ids whose HTML report was asked for; the monitor renders
  each into ``P:html:<id>`` (expires after an hour: a page is ~4 MB).
- ``P:alerts``  sorted set of alert ids by time; ``P:alert:<id>`` the alert JSON with its
  webhook deliveries.
- ``P:state:<name>``  JSON state the monitor must survive restarts with (hysteresis).
- ``P:probes:pending``  sorted set of pending probe ids by send time; ``P:probe:<id>`` the
  probe (JSON); ``P:probes`` sorted set of finished probes; ``P:probes:count`` hash of
  probes per end state.
- ``P:dead_letters``  list of the newest ``KEEP_DEAD_LETTERS`` product dead letters (JSON,
  without the payload), newest first; ``P:dead_letters:count`` hash of them per reason.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
import redis

from vigil.connections import RedisConnection
from vigil.reviewers.connect import redis_client
from vigil_client.contracts import Alert, DeadLetter

HTML_TTL_S = 3600
KEEP_PROBES = 10_000
KEEP_DEAD_LETTERS = 50


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class MonitorStore:
    def __init__(
        self, client: redis.Redis, monitor: str, prefix: str = "vigil", keep_windows: int = 500
    ) -> None:
        self.client = client
        self.monitor = monitor
        self.keep_windows = keep_windows
        self.p = f"{prefix}:monitor:{monitor}"

    @classmethod
    def connect(
        cls,
        conn: RedisConnection | str,
        monitor: str,
        prefix: str = "vigil",
        keep_windows: int = 500,
    ) -> MonitorStore:
        """The store on the Redis of ``conn`` (``settings.redis_connection``)."""
        return cls(redis_client(conn), monitor, prefix, keep_windows)

    @classmethod
    def from_url(
        cls, url: str, monitor: str, prefix: str = "vigil", keep_windows: int = 500
    ) -> MonitorStore:
        return cls.connect(url, monitor, prefix, keep_windows)

    # --- reference ---------------------------------------------------------------------

    def put_reference(self, raw: bytes, meta: dict[str, Any]) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.p}:reference", raw)
        pipe.set(f"{self.p}:reference:meta", orjson.dumps(meta))
        pipe.execute()

    def reference(self) -> bytes | None:
        raw = self.client.get(f"{self.p}:reference")
        return None if raw is None else bytes(cast("bytes", raw))

    def reference_meta(self) -> dict[str, Any] | None:
        raw = self.client.get(f"{self.p}:reference:meta")
        return None if raw is None else dict(orjson.loads(cast("bytes", raw)))

    def drop_reference(self) -> None:
        self.client.delete(f"{self.p}:reference", f"{self.p}:reference:meta")

    # --- windows -----------------------------------------------------------------------

    def next_window_id(self) -> str:
        return f"w{int(cast('int', self.client.incr(f'{self.p}:seq'))):08d}"

    def put_window(
        self,
        window_id: str,
        closed_at: float,
        summary: dict[str, Any],
        snapshot_json: str | None,
        rows_blob: bytes | None,
    ) -> None:
        fields: dict[str, bytes | str] = {"summary": orjson.dumps(summary)}
        if snapshot_json is not None:
            fields["snapshot"] = snapshot_json
        if rows_blob is not None:
            fields["rows"] = rows_blob
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(f"{self.p}:window:{window_id}", mapping=fields)  # type: ignore[arg-type]
        pipe.zadd(f"{self.p}:windows", {window_id: closed_at})
        pipe.execute()
        self._trim_windows()

    def _trim_windows(self) -> None:
        key = f"{self.p}:windows"
        extra = int(self.client.zcard(key)) - self.keep_windows
        if extra <= 0:
            return
        old = [_text(w) for w in cast("list[bytes]", self.client.zrange(key, 0, extra - 1))]
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(key, *old)
        pipe.delete(*(f"{self.p}:window:{w}" for w in old), *(f"{self.p}:html:{w}" for w in old))
        pipe.execute()

    def window_ids(self, limit: int = 50) -> list[str]:
        """Newest first."""
        ids = self.client.zrevrange(f"{self.p}:windows", 0, max(0, limit - 1))
        return [_text(w) for w in cast("list[bytes]", ids)]

    def window(self, window_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(f"{self.p}:window:{window_id}", "summary")
        return None if raw is None else dict(orjson.loads(cast("bytes", raw)))

    def windows(self, limit: int = 50) -> list[dict[str, Any]]:
        """Window summaries, newest first (one round trip for the page)."""
        ids = self.window_ids(limit)
        pipe = self.client.pipeline(transaction=False)
        for w in ids:
            pipe.hget(f"{self.p}:window:{w}", "summary")
        return [dict(orjson.loads(raw)) for raw in pipe.execute() if raw is not None]

    def snapshot(self, window_id: str) -> str | None:
        raw = self.client.hget(f"{self.p}:window:{window_id}", "snapshot")
        return None if raw is None else _text(cast("bytes", raw))

    def window_rows(self, window_id: str) -> bytes | None:
        raw = self.client.hget(f"{self.p}:window:{window_id}", "rows")
        return None if raw is None else bytes(cast("bytes", raw))

    # --- HTML reports, rendered on demand by the monitor ---------------------------------

    def request_html(self, window_id: str) -> None:
        self.client.sadd(f"{self.p}:html:wanted", window_id)

    def html_requests(self) -> list[str]:
        wanted = cast("set[bytes]", self.client.smembers(f"{self.p}:html:wanted"))
        return sorted(_text(w) for w in wanted)

    def put_html(self, window_id: str, html: str, ttl_s: int = HTML_TTL_S) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.p}:html:{window_id}", html.encode(), ex=ttl_s)
        pipe.srem(f"{self.p}:html:wanted", window_id)
        pipe.execute()

    def drop_html_request(self, window_id: str) -> None:
        self.client.srem(f"{self.p}:html:wanted", window_id)

    def html(self, window_id: str) -> str | None:
        raw = self.client.get(f"{self.p}:html:{window_id}")
        return None if raw is None else _text(cast("bytes", raw))

    # --- alerts ------------------------------------------------------------------------

    def put_alert(self, alert: Alert, deliveries: list[dict[str, Any]] | None = None) -> None:
        doc = {"alert": alert.model_dump(mode="json"), "deliveries": deliveries or []}
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.p}:alert:{alert.alert_id}", orjson.dumps(doc))
        pipe.zadd(f"{self.p}:alerts", {alert.alert_id: alert.created_at.timestamp()})
        pipe.execute()

    def alert(self, alert_id: str) -> Alert | None:
        raw = self.client.get(f"{self.p}:alert:{alert_id}")
        if raw is None:
            return None
        return Alert.model_validate(orjson.loads(cast("bytes", raw))["alert"])

    def alert_deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        raw = self.client.get(f"{self.p}:alert:{alert_id}")
        return [] if raw is None else list(orjson.loads(cast("bytes", raw))["deliveries"])

    def alerts(self, limit: int = 50) -> list[Alert]:
        """Newest first."""
        ids = cast("list[bytes]", self.client.zrevrange(f"{self.p}:alerts", 0, max(0, limit - 1)))
        pipe = self.client.pipeline(transaction=False)
        for a in ids:
            pipe.get(f"{self.p}:alert:{_text(a)}")
        return [Alert.model_validate(orjson.loads(raw)["alert"]) for raw in pipe.execute() if raw]

    # --- state that survives restarts ----------------------------------------------------

    def put_state(self, name: str, state: dict[str, Any]) -> None:
        self.client.set(f"{self.p}:state:{name}", orjson.dumps(state))

    def state(self, name: str) -> dict[str, Any]:
        raw = self.client.get(f"{self.p}:state:{name}")
        return {} if raw is None else dict(orjson.loads(cast("bytes", raw)))

    # --- counterfactual probes ---------------------------------------------------------

    def put_probe(self, probe_id: str, probe: dict[str, Any], sent_at: float) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.p}:probe:{probe_id}", orjson.dumps(probe))
        pipe.zadd(f"{self.p}:probes:pending", {probe_id: sent_at})
        pipe.hincrby(f"{self.p}:probes:count", "sent", 1)
        pipe.execute()

    def probe(self, probe_id: str) -> dict[str, Any] | None:
        raw = self.client.get(f"{self.p}:probe:{probe_id}")
        return None if raw is None else dict(orjson.loads(cast("bytes", raw)))

    def finish_probe(self, probe_id: str, probe: dict[str, Any], state: str, at: float) -> bool:
        """Record a probe's end state once; False when it had already ended (a re-delivery)."""
        removed = self.client.zrem(f"{self.p}:probes:pending", probe_id)
        if not removed:
            return False
        pipe = self.client.pipeline(transaction=True)
        pipe.set(f"{self.p}:probe:{probe_id}", orjson.dumps(probe))
        pipe.zadd(f"{self.p}:probes", {probe_id: at})
        pipe.hincrby(f"{self.p}:probes:count", state, 1)
        pipe.execute()
        self._trim_probes()
        return True

    def _trim_probes(self) -> None:
        key = f"{self.p}:probes"
        extra = int(self.client.zcard(key)) - KEEP_PROBES
        if extra > 0:
            old = [_text(p) for p in cast("list[bytes]", self.client.zrange(key, 0, extra - 1))]
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(key, *old)
            pipe.delete(*(f"{self.p}:probe:{p}" for p in old))
            pipe.execute()

    def pending_probes(self, older_than: float) -> list[str]:
        """Ids of probes still pending that were sent before ``older_than`` (unix seconds)."""
        ids = self.client.zrangebyscore(f"{self.p}:probes:pending", "-inf", older_than)
        return [_text(p) for p in cast("list[bytes]", ids)]

    def is_pending(self, probe_id: str) -> bool:
        return self.client.zscore(f"{self.p}:probes:pending", probe_id) is not None

    def probes(self, limit: int = 50) -> list[dict[str, Any]]:
        """Finished probes, newest first."""
        ids = cast("list[bytes]", self.client.zrevrange(f"{self.p}:probes", 0, max(0, limit - 1)))
        pipe = self.client.pipeline(transaction=False)
        for p in ids:
            pipe.get(f"{self.p}:probe:{_text(p)}")
        return [dict(orjson.loads(raw)) for raw in pipe.execute() if raw]

    def probe_counts(self) -> dict[str, int]:
        raw = cast("dict[bytes, bytes]", self.client.hgetall(f"{self.p}:probes:count"))
        return {_text(k): int(v) for k, v in raw.items()}

    # --- dead letters (failed product requests, for the console) ------------------------

    def put_dead_letter(self, letter: DeadLetter) -> None:
        # Not the payload: the prompt is the product's, and the console needs only why.
        doc = letter.model_dump(mode="json", exclude={"payload"})
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(f"{self.p}:dead_letters", orjson.dumps(doc))
        pipe.ltrim(f"{self.p}:dead_letters", 0, KEEP_DEAD_LETTERS - 1)
        pipe.hincrby(f"{self.p}:dead_letters:count", letter.reason, 1)
        pipe.execute()

    def dead_letters(self, limit: int = 10) -> list[dict[str, Any]]:
        """Newest first (request_id, created_at, source_topic, stage, reason, error)."""
        raw = cast("list[bytes]", self.client.lrange(f"{self.p}:dead_letters", 0, limit - 1))
        return [dict(orjson.loads(r)) for r in raw]

    def dead_letter_counts(self) -> dict[str, int]:
        raw = cast("dict[bytes, bytes]", self.client.hgetall(f"{self.p}:dead_letters:count"))
        return {_text(k): int(v) for k, v in raw.items()}
