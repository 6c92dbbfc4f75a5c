"""Bounded waits on any display: for a power state, and through 'busy' refusals."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from classcert.device_drivers.display import DisplayControl, PowerState
from classcert.device_drivers.errors import DeviceCommandError

T = TypeVar("T")
POLL_S = 0.25


UNSURE_RETRY_S = 15.0  # how long to retry a refusal the protocol does not classify


def retry_while_busy(fn: Callable[[], T], timeout_s: float) -> T:
    """Call ``fn``; while the display refuses *for now* (warming up), retry until timeout.

    A refusal the protocol marks as permanent (unknown command, bad value) is raised at
    once; one it does not classify is retried for at most ``UNSURE_RETRY_S``.
    """
    start = time.monotonic()
    while True:
        try:
            return fn()
        except DeviceCommandError as exc:
            waited = time.monotonic() - start
            limit = {True: timeout_s, False: 0.0}.get(exc.busy, min(timeout_s, UNSURE_RETRY_S))
            if waited >= limit:
                raise
            time.sleep(POLL_S)


def wait_power(display: DisplayControl, on: bool, timeout_s: float) -> PowerState:
    """Poll until the display reports ON (or OFF); returns the last state seen."""
    target = PowerState.ON if on else PowerState.OFF
    deadline = time.monotonic() + timeout_s
    state = display.get_power()
    while state is not target and time.monotonic() < deadline:
        time.sleep(POLL_S)
        state = display.get_power()
    return state
