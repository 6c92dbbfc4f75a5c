"""Pure evaluation of a Wi-Fi crowd test: goodput, per-direction statistics, the same-window
rule and the JSON result kept as evidence.

A crowd test runs every joined device's downlink in one common window and then every device's
uplink in a second common window. A device *counts* when both of its transfers covered (most
of) their common window; the verdict itself comes from the catalog, never from here.
No I/O, no clocks: every time is a number of seconds on one monotonic scale.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

DOWN = "down"
UP = "up"
DIRECTIONS = (DOWN, UP)
# A transfer is "in the window" when it covered at least this share of the common window.
DEFAULT_COVERAGE = 0.9
REAL_DEVICES = "real devices"
EMULATED = "emulated"


def goodput_mbps(received_bytes: int, seconds: float) -> float:
    """Received application bytes over ``seconds``, in Mbit/s (10^6 bit/s)."""
    if received_bytes < 0:
        raise ValueError(f"received_bytes must be >= 0, got {received_bytes}")
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"seconds must be a positive finite number, got {seconds}")
    return received_bytes * 8 / seconds / 1e6


def bytes_for(rate_mbps: float, seconds: float) -> int:
    """How many bytes a transfer at ``rate_mbps`` carries in ``seconds`` (rounded down)."""
    if rate_mbps < 0 or seconds < 0:
        raise ValueError("rate and duration must be >= 0")
    return int(rate_mbps * 1e6 / 8 * seconds)


def target_devices(seats: int) -> int:
    """N = ceil(1.2 x seats) in integers (the catalog's ``ceil_div(12 * seats, 10)``)."""
    if seats < 0:
        raise ValueError(f"seats must be >= 0, got {seats}")
    return -(-12 * seats // 10)


@dataclass(frozen=True)
class Window:
    """A closed interval [start, end] in seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")

    @property
    def length(self) -> float:
        return self.end - self.start

    def overlap(self, other: Window) -> float:
        """Seconds both windows share (0 when disjoint)."""
        return max(0.0, min(self.end, other.end) - max(self.start, other.start))


def covers(span: Window | None, common: Window, coverage: float = DEFAULT_COVERAGE) -> bool:
    """True when ``span`` covered at least ``coverage`` of the common window."""
    if span is None:
        return False
    if common.length <= 0:
        return span.start <= common.start <= span.end
    return span.overlap(common) >= coverage * common.length - 1e-9


def same_window(spans: Iterable[Window | None], common: Window,
                coverage: float = DEFAULT_COVERAGE) -> bool:
    """Every transfer overlapped the common window (and there was at least one)."""
    items = list(spans)
    return bool(items) and all(covers(s, common, coverage) for s in items)


@dataclass(frozen=True)
class DirectionStats:
    """Minimum and median of per-device goodput in one direction (Mbit/s)."""

    direction: str
    devices: int
    min_mbps: float | None
    median_mbps: float | None


def direction_stats(direction: str, rates: Sequence[float]) -> DirectionStats:
    if not rates:
        return DirectionStats(direction, 0, None, None)
    return DirectionStats(direction, len(rates), min(rates), statistics.median(rates))


@dataclass(frozen=True)
class DeviceTransfer:
    """What one device moved in one direction; ``span`` is None when it never transferred."""

    received_bytes: int
    mbps: float
    span: Window | None
    measured_by: str  # "server" (uplink) or "client" (downlink, capped by what was sent)


@dataclass(frozen=True)
class DeviceResult:
    """One joined device: who it is and what it achieved."""

    device: str
    os_family: str
    os_version: str
    band: str | None
    load_generator: str  # REAL_DEVICES or EMULATED
    client: str
    joined_at: str
    down: DeviceTransfer | None = None
    up: DeviceTransfer | None = None


@dataclass(frozen=True)
class CrowdResult:
    """The outcome of one crowd window, ready for evidence and for the catalog rules."""

    room: str
    target: int
    rate_mbps: float
    window_s: float
    down_window: Window
    up_window: Window
    devices: tuple[DeviceResult, ...]
    coverage: float = DEFAULT_COVERAGE
    notes: tuple[str, ...] = field(default=())

    def completed(self, device: DeviceResult) -> bool:
        """Both directions ran, each covering its common window."""
        return (device.down is not None and device.up is not None
                and covers(device.down.span, self.down_window, self.coverage)
                and covers(device.up.span, self.up_window, self.coverage))

    @property
    def completed_devices(self) -> tuple[DeviceResult, ...]:
        return tuple(d for d in self.devices if self.completed(d))

    @property
    def capacity(self) -> int:
        """Devices that passed traffic both ways in the same windows."""
        return len(self.completed_devices)

    def rates(self, direction: str) -> list[float]:
        done = self.completed_devices
        picked = [d.down if direction == DOWN else d.up for d in done]
        return [t.mbps for t in picked if t is not None]

    def stats(self, direction: str) -> DirectionStats:
        return direction_stats(direction, self.rates(direction))

    @property
    def per_client_min_mbps(self) -> float | None:
        """Minimum received rate over both directions of the completed devices."""
        rates = self.rates(DOWN) + self.rates(UP)
        return min(rates) if rates else None

    @property
    def load_generators(self) -> list[str]:
        return sorted({d.load_generator for d in self.devices})

    @property
    def bands(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for device in self.devices:
            key = device.band or "unknown"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        """Evidence: both directions listed separately, bands and load generator kinds."""
        def transfer(t: DeviceTransfer | None) -> dict[str, Any] | None:
            return None if t is None else asdict(t)

        return {
            "room": self.room,
            "target_devices": self.target,
            "offered_rate_mbps": self.rate_mbps,
            "window_s": self.window_s,
            "coverage_required": self.coverage,
            "down_window": asdict(self.down_window),
            "up_window": asdict(self.up_window),
            "joined": len(self.devices),
            "completed_both_directions": self.capacity,
            "per_client_min_mbps": self.per_client_min_mbps,
            "downlink": asdict(self.stats(DOWN)),
            "uplink": asdict(self.stats(UP)),
            "bands": self.bands,
            "load_generators": self.load_generators,
            "devices": [
                {**{k: v for k, v in asdict(d).items() if k not in ("down", "up")},
                 "completed": self.completed(d), "down": transfer(d.down),
                 "up": transfer(d.up)}
                for d in self.devices
            ],
            "notes": list(self.notes),
        }
