"""Learning from reviewers: a risk model fitted to their verdicts (``features``, ``fit``,
``store``, ``scoring``), and the share of wrong answers in production with an interval that
holds however imperfect that model is (``ppi``, ``production``)."""
