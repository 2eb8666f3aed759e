"""Drift and bias monitoring of model results: a separate Faust process (``vigil monitor``)."""
