"""Offline measurement of the check engine against labelled data (``vigil eval``)."""
