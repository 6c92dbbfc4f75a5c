"""Building blocks of the display suites: bounded waits and a recorded step log.

Not collected as tests. Knows the display interface, nothing of limits or verdicts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from classcert.device_drivers.display_wait import POLL_S, retry_while_busy, wait_power
from classcert.device_drivers.errors import DeviceFailure

__all__ = ["Step", "StepLog", "command_step", "retry_while_busy", "wait_power"]


@dataclass
class Step:
    """One command of a round trip and what the display said afterwards."""

    action: str
    expected: Any
    observed: Any = None
    ok: bool = False
    note: str = ""
    seconds: float = 0.0


@dataclass
class StepLog:
    steps: list[Step] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        return step

    @property
    def all_ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def failed(self) -> list[Step]:
        return [s for s in self.steps if not s.ok]

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.steps]


def command_step(log: StepLog, action: str, expected: Any, do: Callable[[], None],
                 read: Callable[[], Any], timeout_s: float) -> Step:
    """Send a command, read the state back (until it matches or time runs out), log it."""
    step = log.add(Step(action=action, expected=expected))
    start = time.monotonic()
    try:
        retry_while_busy(do, timeout_s)
    except DeviceFailure as exc:
        # The display itself reports a failure: it did not carry out the command.
        step.note = f"display reports a failure of its own: {exc.message_en}"
        step.seconds = round(time.monotonic() - start, 3)
        return step
    deadline = start + timeout_s
    observed = read()
    while observed != expected and time.monotonic() < deadline:
        time.sleep(POLL_S)
        observed = read()
    step.observed = observed
    step.ok = observed == expected
    if not step.ok:
        step.note = "the display accepted the command but reports it did not change"
    step.seconds = round(time.monotonic() - start, 3)
    return step
