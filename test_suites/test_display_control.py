"""Remote intelligent control of the classroom display (远程智能管控).

Round trip: read state, change power, input and mute, read each back, and put the
display back as it was found, also when the test fails or is interrupted.
"""

from __future__ import annotations

import pytest

from classcert.device_drivers.display import DisplayControl, PowerState
from classcert.fixtures.restore import journaled, read_state
from classcert.test_suites.display_steps import StepLog, command_step, retry_while_busy

KEY = "display.remote_control"


def _power_reader(display: DisplayControl):
    return lambda: display.get_power() is PowerState.ON


def _mute_reader(display: DisplayControl):
    return lambda: (lambda m: (m.video, m.audio))(display.get_mute())


def _change_while_on(display: DisplayControl, log: StepLog, timeout_s: float) -> None:
    inputs = retry_while_busy(display.list_inputs, timeout_s)
    current = retry_while_busy(display.get_input, timeout_s)
    others = [i for i in inputs if i != current]
    if others:
        target = others[0]
        command_step(log, f"select input {target}", target,
                     lambda: display.set_input(target), display.get_input, timeout_s)
    mute = display.get_mute()
    want = (not mute.video, not mute.audio)
    command_step(log, "toggle picture and sound mute", want,
                 lambda: display.set_mute(video=want[0], audio=want[1]),
                 _mute_reader(display), timeout_s)


@pytest.mark.requirement(KEY)
def test_remote_control(classcert_campaign, room, display, display_device, measure):
    opts = display_device.options
    timeout_s = float(opts.get("power_timeout_s", 180))
    log = StepLog()
    original = read_state(display)
    with journaled(
        classcert_campaign, room, display_device.label, display, original, timeout_s
    ) as problems:
        power_on = lambda: display.set_power(True)  # noqa: E731
        power_off = lambda: display.set_power(False)  # noqa: E731
        if original.power_on:
            _change_while_on(display, log, timeout_s)
            command_step(log, "power off", False, power_off, _power_reader(display), timeout_s)
            command_step(log, "power on", True, power_on, _power_reader(display), timeout_s)
        else:
            command_step(log, "power on", True, power_on, _power_reader(display), timeout_s)
            if log.all_ok:
                _change_while_on(display, log, timeout_s)
            command_step(log, "power off", False, power_off, _power_reader(display), timeout_s)
    evidence = measure.write_evidence(
        "remote-control.json",
        {"original_state": original.as_dict(), "steps": log.as_json(), "restore": problems},
    )
    failed = log.failed()
    detail_en = "; ".join(f"{s.action}: expected {s.expected}, read back {s.observed}"
                          f"{' (' + s.note + ')' if s.note else ''}" for s in failed)
    detail_zh = "；".join(f"{s.action}：期望 {s.expected}，回读 {s.observed}" for s in failed)
    if not failed:
        detail_en = f"{len(log.steps)} commands confirmed by read-back"
        detail_zh = f"{len(log.steps)} 条命令均经回读确认"
    if problems:
        detail_en += "; " + "; ".join(problems)
    measure(KEY, log.all_ok, unit="bool", evidence=[evidence],
            detail_en=detail_en, detail_zh=detail_zh)
