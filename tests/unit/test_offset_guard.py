"""The screening worker's offset bookkeeping (pure): which records a batch skipped.

The Kafka side (committed offsets, reading a hole back) runs against a real broker in
tests/integration/test_screening_faults.py.
"""

from __future__ import annotations

from vigil.streams.offset_guard import Hole, OffsetTracker

A, B = ("llm.results", 0), ("llm.results", 1)


def test_records_that_follow_on_leave_no_hole() -> None:
    tracker = OffsetTracker()
    tracker.start(A, 10)
    holes, following = tracker.plan([(A, 10), (A, 11), (A, 12)])
    assert holes == [] and following == {A: 13}


def test_a_record_skipped_at_the_committed_offset_is_a_hole() -> None:
    # What Faust did once in 20,000: the first record after an assignment never came.
    tracker = OffsetTracker()
    tracker.start(A, 764)
    holes, following = tracker.plan([(A, 765), (A, 766)])
    assert holes == [Hole("llm.results", 0, 764, 765)]
    assert str(holes[0]) == "llm.results[0] offsets 764-764"
    assert following == {A: 767}


def test_holes_are_found_per_partition_and_inside_a_batch() -> None:
    tracker = OffsetTracker()
    tracker.start(A, 0)
    tracker.start(B, 5)
    holes, following = tracker.plan([(A, 0), (B, 5), (A, 3), (B, 6), (A, 4), (B, 9)])
    assert holes == [Hole("llm.results", 0, 1, 3), Hole("llm.results", 1, 7, 9)]
    assert following == {A: 5, B: 10}


def test_redelivered_records_are_screened_again_and_move_nothing_back() -> None:
    tracker = OffsetTracker()
    tracker.start(A, 0)
    _, following = tracker.plan([(A, 0), (A, 1), (A, 2)])
    tracker.commit(following)
    holes, following = tracker.plan([(A, 1), (A, 2), (A, 3)])
    assert holes == [] and following == {A: 4}


def test_planning_changes_nothing_until_the_batch_is_done() -> None:
    # A batch whose hole could not be read is retried: it must find the same hole again.
    tracker = OffsetTracker()
    tracker.start(A, 0)
    first, _ = tracker.plan([(A, 2)])
    again, following = tracker.plan([(A, 2)])
    assert first == again == [Hole("llm.results", 0, 0, 2)]
    tracker.commit(following)
    assert tracker.plan([(A, 3)]) == ([], {A: 4})


def test_an_unknown_partition_starts_at_its_first_record_and_reset_forgets() -> None:
    tracker = OffsetTracker()
    assert not tracker.known(A)
    holes, following = tracker.plan([(A, 40), (A, 41)])
    assert holes == [] and following == {A: 42}
    tracker.commit(following)
    assert tracker.known(A)
    tracker.reset()
    assert not tracker.known(A)
