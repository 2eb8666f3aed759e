"""Triton: the replay reasoner model, its server, and the client the gateway calls."""
