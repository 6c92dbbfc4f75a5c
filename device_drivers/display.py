"""Protocol-neutral display control interface.

Every display driver (PJLink, and later Samsung MDC, LG, NEC, table-driven serial) implements
:class:`DisplayControl`. Input codes are the protocol's own codes (PJLink "31" = DIGITAL 1);
the harness maps them to meanings via the rig file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

ERROR_CATEGORIES = ("fan", "lamp", "temperature", "cover", "filter", "other")
ERROR_LEVELS = ("ok", "warning", "error")


class PowerState(StrEnum):
    OFF = "off"
    ON = "on"
    COOLING = "cooling"
    WARMING = "warming"


@dataclass(frozen=True)
class MuteState:
    video: bool
    audio: bool


@dataclass(frozen=True)
class DisplayIdentity:
    """What the display says about itself. Empty string = the display did not say."""

    make: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    name: str = ""
    protocol_class: str = ""  # e.g. "1" / "2" for PJLink
    raw: dict[str, Any] = field(default_factory=dict)  # protocol fields as received


@runtime_checkable
class DisplayControl(Protocol):
    """Remote control of one display. Methods raise ``DeviceError`` subclasses."""

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> DisplayControl: ...

    def __exit__(self, *exc: object) -> None: ...

    def identity(self) -> DisplayIdentity: ...

    def get_power(self) -> PowerState: ...

    def set_power(self, on: bool) -> None: ...

    def get_input(self) -> str: ...

    def list_inputs(self) -> list[str]: ...

    def set_input(self, code: str) -> None: ...

    def get_mute(self) -> MuteState: ...

    def set_mute(self, video: bool | None = None, audio: bool | None = None) -> None: ...

    def native_resolution(self) -> tuple[int, int] | None:
        """Native/recommended resolution, None if the protocol or display cannot tell."""
        ...

    def input_resolution(self) -> tuple[int, int] | None:
        """Resolution of the current input signal, None if no signal or unsupported."""
        ...

    def error_status(self) -> dict[str, str]:
        """Category (see ERROR_CATEGORIES) -> level (see ERROR_LEVELS)."""
        ...

    def lamp_hours(self) -> list[tuple[int, bool]]:
        """(hours, lit) per lamp; empty list for displays without a lamp."""
        ...

    def screen_size_in(self) -> float | None:
        """Diagonal in inches as the display's own protocol reports it (e.g. Samsung MDC 0x19).

        None when the protocol has no such query (PJLink). A claim, not proof: the harness
        cross-checks it against other evidence.
        """
        ...
