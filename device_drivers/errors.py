"""Error hierarchy shared by every device driver.

Each error names the device (its address string) and carries a bilingual message:
what happened and what the operator can do about it, in English then in zh-CN.
``str(error)`` renders ``"<device>: <english> / <chinese>"``.

Drivers raise only these (plus ``ValueError`` for invalid arguments such as a malformed
address); the harness turns any ``DeviceError`` into an ERROR verdict (could not test),
never into FAIL.
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base class: something went wrong while talking to a device."""

    def __init__(self, device: str, message_en: str, message_zh: str = "") -> None:
        self.device = device
        self.message_en = message_en
        self.message_zh = message_zh
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Full bilingual message, prefixed with the device address."""
        text = self.message_en if not self.message_zh else f"{self.message_en} / {self.message_zh}"
        return f"{self.device}: {text}" if self.device else text

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep errors picklable (pytest-xdist, multiprocessing)
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[DeviceError], state: dict) -> DeviceError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err.message)
    return err


class DeviceUnreachable(DeviceError):
    """Could not open a connection: refused, no route, unknown host name, port absent."""


class DeviceTimeout(DeviceError):
    """The device did not send a (complete) reply within the timeout."""


class DeviceDisconnected(DeviceError):
    """The device closed an established connection (possibly before answering).

    Many displays drop the connection after each command or after an idle period; drivers
    reconnect transparently and raise this only when retries are exhausted.
    """


class DeviceAuthError(DeviceError):
    """Authentication needed but no password given, or the password was rejected."""


class DeviceProtocolError(DeviceError):
    """The device answered with bytes that are not a valid reply of the expected protocol."""


class DeviceCommandError(DeviceError):
    """The device understood the request but refused it (for PJLink: ERR1, ERR2 or ERR3).

    ``code`` is the protocol's error code (e.g. ``"ERR3"``) and ``command`` the request
    that was refused (e.g. ``"INPT 31"``). ``busy`` says whether the refusal is only "not
    now" (warming up, standby: worth retrying), "never" (unknown command, bad value), or
    None when the protocol does not say which.
    """

    def __init__(
        self, device: str, message_en: str, message_zh: str = "", *, code: str, command: str = "",
        busy: bool | None = None,
    ) -> None:
        self.code = code
        self.command = command
        self.busy = busy
        super().__init__(device, message_en, message_zh)


class DeviceFailure(DeviceError):
    """The device reports a failure of its own (for PJLink: ERR4 - lamp, fan, ...).

    Deliberately not a ``DeviceCommandError``: a broken display is not a refused request.
    ``code`` and ``command`` are set as for ``DeviceCommandError``.
    """

    def __init__(
        self, device: str, message_en: str, message_zh: str = "", *, code: str, command: str = ""
    ) -> None:
        self.code = code
        self.command = command
        super().__init__(device, message_en, message_zh)
