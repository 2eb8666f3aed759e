"""Vigil core: event contracts, settings, the CLI and the local-stack supervisor.

Everything here is free of external systems; each system has its own package
(Kafka/Faust in ``streams``, Triton in ``inference``, Redis in ``reviewers``,
Streamlit in ``dashboard``).
"""

__version__ = "0.1.0"
