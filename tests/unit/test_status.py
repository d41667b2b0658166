"""The transition table: terminal states are final, every state is reachable."""
from __future__ import annotations

from opengp.core import TERMINAL, Status, can_move
from opengp.core.status import TRANSITIONS


def test_terminal_states_never_move():
    for src in TERMINAL:
        assert not any(can_move(src, dst) for dst in Status)


def test_every_state_is_reachable_from_new():
    seen, frontier = {Status.NEW}, [Status.NEW]
    while frontier:
        for dst in TRANSITIONS[frontier.pop()]:
            if dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(Status)


def test_a_queued_job_can_be_cancelled_and_a_running_one_goes_through_cancelling():
    assert can_move(Status.SUBMITTED, Status.CANCELLED)
    assert can_move(Status.EXECUTING, Status.CANCELLING)
    assert can_move(Status.CANCELLING, Status.CANCELLED)
    assert not can_move(Status.SUBMITTED, Status.SUCCEEDED)
