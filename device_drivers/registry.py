"""Driver name (as written in a rig file) -> display or Wi-Fi controller driver.

``open_display`` and ``open_wifi_controller`` build the driver without touching the network:
call ``connect()`` (or use it as a context manager) to connect and authenticate; every method
also connects on demand. Driver modules are imported only when a rig names them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from classcert.device_drivers.display import DisplayControl
from classcert.device_drivers.wifi_controller import WifiController

# (address, password, timeout, options) -> DisplayControl
DisplayFactory = Callable[[str, "str | None", float, dict[str, Any]], DisplayControl]
# (address, password, timeout, options) -> WifiController
ControllerFactory = Callable[[str, "str | None", float, dict[str, Any]], WifiController]

# Drivers that rig files may already name but that are not part of this version.
PLANNED_DRIVERS: tuple[str, ...] = ()


def _open_pjlink(address: str, password: str | None, timeout: float,
                 options: dict[str, Any]) -> DisplayControl:
    from classcert.device_drivers.pjlink import PjlinkDisplay

    retries = options.get("retries", 1)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(
            f"pjlink option 'retries' must be a whole number >= 0, got {retries!r} / "
            f"pjlink 选项 retries 必须为非负整数"
        )
    return PjlinkDisplay(address, password=password, timeout=timeout, retries=retries)


def _lazy(module: str, opener: str) -> Callable[[str, str | None, float, dict[str, Any]], Any]:
    """A factory calling ``classcert.device_drivers.<module>.<opener>``, imported on first use."""

    def factory(address: str, password: str | None, timeout: float,
                options: dict[str, Any]) -> Any:
        found = importlib.import_module(f"classcert.device_drivers.{module}")
        return getattr(found, opener)(address, password, timeout, options)

    return factory


_DRIVERS: dict[str, DisplayFactory] = {
    "pjlink": _open_pjlink,
    "samsung-mdc": _lazy("samsung_mdc", "open_samsung_mdc"),
    "lg": _lazy("lg", "open_lg"),
    "nec": _lazy("nec", "open_nec"),
}
WIFI_CONTROLLERS: dict[str, ControllerFactory] = {
    "unifi": _lazy("unifi", "open_unifi"),
    "omada": _lazy("omada", "open_omada"),
    "snmp-wireless": _lazy("snmp_wireless", "open_snmp_wireless"),
}


def register_driver(name: str, factory: DisplayFactory) -> None:
    """Make ``factory`` available under ``name`` (e.g. ``"samsung-mdc"`` or ``"table:x"``)."""
    _DRIVERS[name.strip().lower()] = factory


def known_drivers() -> list[str]:
    return sorted(_DRIVERS)


def open_display(
    driver: str,
    address: str,
    password: str | None = None,
    timeout: float = 5.0,
    options: dict[str, Any] | None = None,
) -> DisplayControl:
    """Build the display driver named ``driver`` for the device at ``address``.

    ``options`` are the device's driver-specific settings from the rig file; keys a driver
    does not use are ignored (the harness keeps its own settings, such as
    ``power_timeout_s``, in the same table). Known for pjlink: ``retries`` (default 1).
    Raises ValueError for an unknown driver name or an invalid option value.
    """
    name = driver.strip().lower()
    if name.startswith("table:"):
        from classcert.device_drivers.table_display import open_table

        # the model name keeps its case: table files may be named with capitals
        return open_table(driver.strip()[len("table:"):], address, password, timeout,
                          dict(options or {}))
    factory = _DRIVERS.get(name)
    if factory is None:
        planned = name in PLANNED_DRIVERS or name.startswith("table:")
        why = "is planned but not available in this version" if planned else "is unknown"
        raise ValueError(
            f"display driver {driver!r} {why}; known drivers: {', '.join(known_drivers())} - "
            f"fix 'driver' in the rig file / 显示设备驱动 {driver!r} 不可用；"
            f"可用驱动：{', '.join(known_drivers())} - 请修改机房配置文件中的 driver"
        )
    return factory(address, password, timeout, dict(options or {}))


def open_wifi_controller(driver: str, address: str, password: str | None = None,
                         timeout: float = 5.0,
                         options: dict[str, Any] | None = None) -> WifiController:
    """Build the Wi-Fi controller driver named ``driver`` (see ``WIFI_CONTROLLERS``).

    Raises ValueError for a name that is no controller driver.
    """
    factory = WIFI_CONTROLLERS.get(driver.strip().lower())
    if factory is None:
        known = ", ".join(WIFI_CONTROLLERS)
        raise ValueError(f"{driver!r} is no Wi-Fi controller driver; known: {known} / "
                         f"{driver!r} 不是无线控制器驱动；可用：{known}")
    return factory(address, password, timeout, dict(options or {}))
