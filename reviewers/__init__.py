"""Redis: the review domain. ``reviewers.queue.ReviewQueue`` is the entry point: items,
claims, decisions, SLA clock, hold-and-release, audit, privacy and the outbox to Kafka; also
agreement statistics, dataset export, rebuild from events, and the embedded redis-server."""
