"""Redis: the review queue, claims, decisions with their outbox, and the embedded redis-server."""
