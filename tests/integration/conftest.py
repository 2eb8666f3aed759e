"""Integration tests share the session ``stack`` fixture defined in tests/conftest.py."""
