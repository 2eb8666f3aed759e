"""Which screened results the verifier judges: the ``[verifier]`` section's routing.

Pure and deterministic (a hash of the request id picks the share), so a re-delivered result
is sent, or not, exactly as the first time.
"""

from __future__ import annotations

from vigil.streams.checks.config import VerifierSection
from vigil.streams.checks.routing import sampled
from vigil_client.contracts import InferenceResult


def wants_verification(config: VerifierSection, result: InferenceResult, risk: float) -> bool:
    """True when ``config`` sends ``result`` (cheap risk ``risk``) to the verifier."""
    if not config.enabled:
        return False
    if config.products is not None and result.product not in config.products:
        return False
    if result.hold_for_review and config.verify_held:
        return True
    if not config.min_risk <= risk <= config.max_risk:
        return False
    # Its own salt: the share verified is not the same ids as the clean review sample.
    return sampled(f"verifier:{result.request_id}", config.share)
