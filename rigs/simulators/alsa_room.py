"""A simulated classroom sound system for the amplification suite, on ALSA's ``file`` plugin.

The harness talks to it through the real path PyAudio -> PortAudio -> ALSA: the simulator only
writes an ALSA configuration that defines one PCM (its ``address``, e.g. ``classcert_room_1a2b3c``)
whose capture side reads a prepared raw file (``infile`` of a ``file`` PCM on the ``null``
device) and whose playback side writes what the harness plays to a file. Nothing is mocked.

What the microphone "hears" (the prepared capture, S16_LE mono at ``sample_rate``):
ambient noise at ``ambient_dbfs`` for the whole take and, in a working room, the harness's own
test signal (the same deterministic :class:`~classcert.audio_signal.TakePlan` the suite uses)
placed after the ambient part, ``latency_s`` late, ``gain_db`` above the ambient noise
(``silent = true``: an amplifier that plays nothing, capture = ambient only;
``dead_mic = true``: a muted or unplugged digital microphone, capture = all zeros). Knobs
that shape the take (``sample_rate``, ``ambient_s``, ``signal_s``, ``signal_kind``, ``signal_dbfs``,
``seed``) must equal the rig device's options when those are set: the take is prepared, not
reacting to what is played. ``played()`` returns what the harness really played.

Findings about ALSA and PortAudio (alsa-lib 1.2.8, PortAudio 19.6, no sound card needed):

- ``ALSA_CONFIG_PATH`` replaces ALSA's top-level configuration and takes a ``:``-separated list
  of files. The simulator sets it to the system ``alsa.conf`` (which still loads
  ``/etc/asound.conf`` and ``~/.asoundrc``), then one file per running simulator. Neither HOME
  nor ``~/.asoundrc`` is touched.
- PortAudio's ALSA back end lists every top-level ``pcm.*`` definition it can open, besides the
  cards; no ``hint`` section is needed (the one written here only describes it for
  ``aplay -L``). The device name PortAudio reports is the PCM id.
- The configuration is read when ``PyAudio()`` initialises PortAudio. In a fresh process the
  variable only has to be in the environment (``env`` gives it); in this process, ``start()``
  sets it (``export_env``) and it applies to the next PyAudio instance created while no other
  is alive (PortAudio initialisation is reference-counted and keeps its device list).
- The ``file`` plugin reopens ``infile`` from its start whenever the PCM is opened, and past
  the end of ``infile`` capture returns stale buffer contents, not silence: the prepared file
  is padded well beyond one take. Capture is not paced by a clock (the ``null`` slave is always
  ready), so a take of any length completes in milliseconds.
- A ``file`` PCM also copies captured data into its ``file``; capture and playback therefore
  use separate ``file`` PCMs joined by an ``asym`` PCM. Each side is wrapped in a ``plug`` fixed
  to S16_LE/mono/``sample_rate``; the driver opens exactly that format, so no conversion runs
  (see :mod:`classcert.device_drivers.audio_io` for why that matters).
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from classcert.audio_signal import TakePlan, db_to_gain, pink_noise

ENV_VAR = "ALSA_CONFIG_PATH"
SYSTEM_ALSA_CONF = "alsa.conf"
PAD_S = 5.0
AMBIENT_SEED_OFFSET = 1_000_003  # ambient noise never equals the test noise
_PCM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_LOCK = threading.Lock()
_ACTIVE: list[str] = []
_UNSET = object()
_original: Any = _UNSET


class AlsaRoomError(RuntimeError):
    """The simulated room cannot be set up (ALSA configuration missing, bad knob)."""


def system_alsa_conf() -> str:
    """The system's top-level ALSA configuration file (``ALSA_CONFIG_DIR`` or /usr/share/alsa)."""
    path = Path(os.environ.get("ALSA_CONFIG_DIR", "/usr/share/alsa")) / SYSTEM_ALSA_CONF
    if not path.is_file():
        raise AlsaRoomError(
            f"ALSA configuration {path} not found: install the ALSA library data (Debian/Ubuntu: "
            f"libasound2-data) or set ALSA_CONFIG_DIR / 找不到 ALSA 配置文件"
        )
    return str(path)


def _base_path() -> str:
    if isinstance(_original, str) and _original:
        return _original
    return system_alsa_conf()


def _export(conf: str, add: bool) -> None:
    """Add or remove one configuration file in this process's ``ALSA_CONFIG_PATH``."""
    global _original
    with _LOCK:
        if add:
            if not _ACTIVE:
                _original = os.environ.get(ENV_VAR)
            _ACTIVE.append(conf)
        elif conf in _ACTIVE:
            _ACTIVE.remove(conf)
        if _ACTIVE:
            os.environ[ENV_VAR] = ":".join([_base_path(), *_ACTIVE])
        elif _original is not _UNSET:
            if _original is None:
                os.environ.pop(ENV_VAR, None)
            else:
                os.environ[ENV_VAR] = _original
            _original = _UNSET


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _file_pcm(rate: int, file: Path | str, infile: Path | None = None) -> str:
    source = f" infile {_quote(str(infile))}" if infile is not None else ""
    return (f'type plug slave {{ pcm {{ type file slave.pcm "null" file {_quote(str(file))}'
            f'{source} format "raw" }} format S16_LE rate {rate} channels 1 }}')


class AlsaRoomSim:
    """A classroom whose amplifier works (``gain_db`` above ambient) or is ``silent``.

    ``host``, ``port`` and ``password`` are accepted for the simulator interface and unused:
    the device is an ALSA PCM, its ``address`` is the PCM name.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
        gain_db: float = 20.0, silent: bool = False, dead_mic: bool = False,
        ambient_dbfs: float = -50.0, latency_s: float = 0.02, sample_rate: int | None = None,
        ambient_s: float | None = None, signal_s: float | None = None,
        signal_kind: str | None = None, signal_dbfs: float | None = None, seed: int | None = None,
        pcm_name: str | None = None, export_env: bool = True,
    ) -> None:
        del host, port, password
        options = {k: v for k, v in (
            ("sample_rate", sample_rate), ("ambient_s", ambient_s), ("signal_s", signal_s),
            ("signal_kind", signal_kind), ("signal_dbfs", signal_dbfs), ("seed", seed),
        ) if v is not None}
        self.plan = TakePlan.from_options(options)
        self.gain_db = float(gain_db)
        self.silent = bool(silent)
        self.dead_mic = bool(dead_mic)
        self.ambient_dbfs = float(ambient_dbfs)
        self.latency_s = float(latency_s)
        if not -90.0 <= self.ambient_dbfs <= -20.0:
            raise AlsaRoomError(f"ambient_dbfs must be -90 to -20, got {ambient_dbfs}")
        if not self.silent and not -40.0 <= self.gain_db <= -10.0 - self.ambient_dbfs:
            raise AlsaRoomError(
                f"gain_db must be -40 to {-10.0 - self.ambient_dbfs:g} with ambient_dbfs "
                f"{self.ambient_dbfs:g} (the signal would clip), got {gain_db}")
        if not 0.0 <= self.latency_s <= self.plan.guard_s:
            raise AlsaRoomError(f"latency_s must be 0 to {self.plan.guard_s} s, got {latency_s}")
        name = pcm_name or f"classcert_room_{secrets.token_hex(3)}"
        if not _PCM_ID.fullmatch(name):
            raise AlsaRoomError(f"pcm_name must be letters, digits and _, got {name!r}")
        self.pcm_name = name
        self.export_env = export_env
        self.workdir: Path | None = None

    # --- files -------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        if self.workdir is None:
            raise AlsaRoomError("the simulated room is not started")
        return self.workdir / name

    @property
    def config_path(self) -> Path:
        return self._path("asound.conf")

    @property
    def capture_path(self) -> Path:
        return self._path("capture.raw")

    @property
    def played_path(self) -> Path:
        return self._path("played.raw")

    def capture_signal(self) -> np.ndarray:
        """The prepared microphone signal (floats, full scale 1.0), padded beyond the take."""
        plan = self.plan
        n = plan.n_total + plan.frames(PAD_S)
        if self.dead_mic:
            return np.zeros(n)
        mic = pink_noise(n, plan.sample_rate, plan.seed + AMBIENT_SEED_OFFSET,
                         level_dbfs=self.ambient_dbfs)
        if not self.silent:
            gain = db_to_gain(self.ambient_dbfs + self.gain_db - plan.level_dbfs)
            start = plan.n_ambient + plan.frames(self.latency_s)
            mic[start:start + plan.n_signal] += gain * plan.signal()
        return mic

    @property
    def expected_level_above_ambient_db(self) -> float:
        """Level above ambient a correct measurement finds (power sum of signal and noise)."""
        if self.dead_mic:
            return float("nan")
        return 0.0 if self.silent else 10.0 * math.log10(1.0 + 10.0 ** (self.gain_db / 10.0))

    def config_text(self) -> str:
        rate = self.plan.sample_rate
        return (
            f"# classcert simulated classroom (ALSA file plugin); removed on stop\n"
            f"pcm.{self.pcm_name} {{\n    type asym\n"
            f"    playback.pcm {{ {_file_pcm(rate, self.played_path)} }}\n"
            f"    capture.pcm {{ {_file_pcm(rate, '/dev/null', self.capture_path)} }}\n"
            f'    hint {{ show on description "classcert simulated room, '
            f'{"silent amplifier" if self.silent else f"gain {self.gain_db:g} dB"}" }}\n}}\n'
        )

    # --- life cycle ----------------------------------------------------------------------
    @property
    def address(self) -> str:
        """The PCM name: the device name PortAudio lists."""
        return self.pcm_name

    @property
    def env(self) -> dict[str, str]:
        """Environment a fresh process needs before PyAudio() to see this room."""
        return {ENV_VAR: ":".join([system_alsa_conf(), str(self.config_path)])}

    def start(self) -> AlsaRoomSim:
        if self.workdir is not None:
            return self
        system_alsa_conf()  # fails early, with a clear message
        self.workdir = Path(tempfile.mkdtemp(prefix="classcert-alsa-room-"))
        try:
            if ":" in str(self.workdir):
                raise AlsaRoomError(f"temporary directory {self.workdir} contains ':'")
            pcm = np.clip(np.round(self.capture_signal() * 32768.0), -32768, 32767)
            pcm.astype("<i2").tofile(self.capture_path)
            self.played_path.write_bytes(b"")
            self.config_path.write_text(self.config_text(), encoding="utf-8")
            if self.export_env:
                _export(str(self.config_path), add=True)
        except Exception:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            raise
        return self

    def played(self) -> np.ndarray:
        """What the harness played into the room (floats, full scale 1.0)."""
        return np.fromfile(self.played_path, dtype="<i2") / 32768.0

    def stop(self) -> None:
        workdir, self.workdir = self.workdir, None
        if workdir is None:
            return
        if self.export_env:
            _export(str(workdir / "asound.conf"), add=False)
        shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> AlsaRoomSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
