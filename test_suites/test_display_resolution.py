"""Native and input resolution of the classroom display, as the display reports them."""

from __future__ import annotations

import pytest

from classcert.device_drivers.display import PowerState
from classcert.fixtures.devices import Unmeasurable
from classcert.fixtures.restore import journaled, read_state
from classcert.test_suites.display_steps import retry_while_busy, wait_power


@pytest.mark.requirement("display.native_resolution")
def test_native_resolution(room, display, measure):
    size = display.native_resolution()
    if size is None:
        raise Unmeasurable(
            "the display does not report its native resolution (its control protocol has no "
            "such query, e.g. PJLink class 1, Samsung MDC, LG); check it on the display's "
            "information menu",
            "显示设备未报告其原生分辨率（其控制协议无此查询）；请在设备信息菜单中查看",
        )
    measure("display.native_resolution", list(size), unit="px",
            evidence=[measure.write_evidence("native-resolution.json", {"RRES": list(size)})])


@pytest.mark.requirement("display.input_resolution")
def test_input_resolution(classcert_campaign, room, display, display_device, measure):
    timeout_s = float(display_device.options.get("power_timeout_s", 180))
    original = read_state(display)
    with journaled(
        classcert_campaign, room, display_device.label, display, original, timeout_s
    ):
        if not original.power_on:
            display.set_power(True)
            if wait_power(display, True, timeout_s) is not PowerState.ON:
                raise Unmeasurable("the display did not switch on to show its input",
                                   "显示设备未能开机，无法读取输入信号")
        size = retry_while_busy(display.input_resolution, timeout_s)
    if size is None:
        raise Unmeasurable(
            "the display reports no input resolution: no signal (connect and switch on the "
            "classroom computer, then run again), or its control protocol cannot tell",
            "显示设备未报告输入分辨率：无信号（请连接并打开教室电脑后重试），或其控制协议无此查询",
        )
    measure("display.input_resolution", list(size), unit="px",
            evidence=[measure.write_evidence("input-resolution.json", {"IRES": list(size)})])
