"""Kafka and Faust: the broker, topics, the product SDK, the gateway loop, the screening worker."""
