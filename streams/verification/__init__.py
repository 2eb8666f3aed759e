"""The ``verifier`` check: a model on Triton judges a screened result step by step.

The path of a result that the config sends to the verifier (one module per hop):

1. ``selection.py``: the screening worker (``streams/screening.py``) decides, after the cheap
   checks, whether this result is judged; if so its outcome waits in ``pending.py`` (Redis)
   and a ``VerifyRequest`` goes to ``llm.verify``.
2. ``agent.py``: the verifier worker takes it, ``judge.py`` calls the model within the budget
   (``budget.py``) and the circuit, ``critique.py`` reads its answer, and a ``Judgement``
   (verified, or not verified with the reason) goes to ``llm.judgements``.
3. ``opinion.py``: back in the screening worker, the judgement becomes the ``verifier``
   check's result and joins the cheap checks; the outcome is settled once and published.
   A result whose judgement does not come within ``max_wait_s`` is settled without it
   ("not verified: timeout"); a judgement that comes later, or twice, changes nothing.
"""
