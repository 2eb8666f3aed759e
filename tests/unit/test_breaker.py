"""The circuit breaker's state machine, on a fake clock."""

from __future__ import annotations

from vigil.inference.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, open_s=1.0, clock=clock)
    b.record_failure()
    b.record_failure()
    b.record_success()
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED and b.try_acquire()
    b.record_failure()
    assert b.state is BreakerState.OPEN and b.times_opened == 1
    assert not b.try_acquire()
    assert b.retry_in() == 1.0


def test_half_open_lets_one_trial_through_and_its_outcome_decides() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, open_s=1.0, max_open_s=3.0, clock=clock)
    b.record_failure()
    clock.now += 1.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.try_acquire()
    assert not b.try_acquire()  # the trial is out: everyone else waits
    b.record_failure()  # trial failed: open again, twice as long
    assert b.state is BreakerState.OPEN and b.retry_in() == 2.0
    clock.now += 2.0
    assert b.try_acquire()
    b.record_failure()
    assert b.retry_in() == 3.0  # capped at max_open_s
    clock.now += 3.0
    assert b.try_acquire()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.try_acquire() and b.try_acquire()
    # A later trip starts from the base period again.
    b.record_failure()
    assert b.retry_in() == 1.0


def test_failures_of_calls_from_before_the_trip_do_not_extend_it() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, open_s=1.0, clock=clock)
    b.record_failure()
    clock.now += 0.5
    b.record_failure()
    b.record_failure()
    assert b.retry_in() == 0.5 and b.times_opened == 1


def test_a_model_not_loaded_never_trips_it_but_fails_a_trial() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=2, open_s=1.0, clock=clock)
    for _ in range(10):  # a misrouted model must not stop all traffic
        b.record_not_ready()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    b.record_failure()
    clock.now += 1.0
    assert b.try_acquire()
    b.record_not_ready()  # restarted server, model still loading: stay open
    assert b.state is BreakerState.OPEN and b.retry_in() == 2.0


def test_an_abandoned_trial_frees_its_slot() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, open_s=1.0, clock=clock)
    b.record_failure()
    clock.now += 1.0
    assert b.try_acquire() and not b.try_acquire()
    b.abandon()
    assert b.try_acquire()


def test_every_transition_bumps_the_generation() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, open_s=1.0, clock=clock)
    g0 = b.generation
    b.record_success()  # closed -> closed: nothing changed
    assert b.generation == g0
    b.record_failure()
    assert b.generation == g0 + 1
    b.record_success()
    assert b.generation == g0 + 2
