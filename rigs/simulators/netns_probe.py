"""Network namespaces for emulated classrooms: what this machine supports, and entering one.

``netns_support()`` answers once per process whether an emulated classroom can be built here
(root or CAP_NET_ADMIN + CAP_SYS_ADMIN, ``ip`` and ``tc``, network namespaces, veth, bridge,
tbf) and says what is missing when not. Optional extras (netem, mac80211_hwsim) are reported by
``netns_extras()`` for the record; their absence never stops a classroom from being built.

Namespaces made by this package are named ``cc<pid>-...``: ``sweep_stale()`` deletes those
whose process is gone (a crashed run). Entering a namespace (``setns``) changes only the
calling OS thread, so it is only ever done on short-lived threads this package starts.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
OWNED = re.compile(r"^cc(\d+)-")  # names this package gives its namespaces
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CMD_TIMEOUT_S = 120.0
THREAD_TIMEOUT_S = 30.0

T = TypeVar("T")
_probe_lock = threading.Lock()
_probe: tuple[bool, str, tuple[str, ...]] | None = None
_libc: Any = None


def _setns_fn() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.setns


def enter_netns(name: str) -> None:
    """Move the CALLING THREAD into namespace ``name`` (only on threads you start and end)."""
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _setns_fn()(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in_netns(name: str, fn: Callable[[], T], timeout_s: float = THREAD_TIMEOUT_S) -> T:
    """Run ``fn`` on a new short-lived thread inside namespace ``name``; return its result.

    Threads that ``fn`` starts stay in that namespace (a thread inherits its creator's), and
    so do sockets it creates, for their whole life.
    """
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            enter_netns(name)
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"netns:{name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"work inside network namespace {name} took over {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_cmd(args: list[str], stdin: str | None = None,
            timeout_s: float = CMD_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run an ``ip``/``tc`` command; RuntimeError with its stderr when it fails."""
    try:
        proc = subprocess.run(args, input=stdin, capture_output=True, text=True,
                              timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{' '.join(args[:4])}: {exc}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])} failed: {proc.stderr.strip()[-800:]}")
    return proc


def list_netns() -> list[str]:
    """Names of the named network namespaces (``ip netns list``), from /run/netns."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except OSError:
        return []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def delete_netns(names: list[str]) -> None:
    """Delete named namespaces (one ``ip -batch``; ``-force`` goes on past missing ones)."""
    if names:
        subprocess.run(["ip", "-force", "-batch", "-"],
                       input="".join(f"netns del {n}\n" for n in names),
                       capture_output=True, text=True, timeout=CMD_TIMEOUT_S)


def sweep_stale() -> list[str]:
    """Delete ``cc<pid>-*`` namespaces whose process is dead; returns their names."""
    stale = [n for n in list_netns()
             if (m := OWNED.match(n)) and not _pid_alive(int(m.group(1)))]
    delete_netns(stale)
    return stale


def _capabilities() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _probe_now() -> tuple[bool, str, tuple[str, ...]]:
    extras: list[str] = []
    if not Path("/sys/module/mac80211_hwsim").exists():
        extras.append("mac80211_hwsim is not loaded: no emulated radios, the air is a bridge "
                      "with tbf rate limits")
    if not sys.platform.startswith("linux"):
        return False, f"network namespaces need Linux (this is {sys.platform})", tuple(extras)
    caps = _capabilities()
    if not (caps >> CAP_NET_ADMIN) & 1 or not (caps >> CAP_SYS_ADMIN) & 1:
        return False, ("not root: CAP_NET_ADMIN and CAP_SYS_ADMIN are needed to build network "
                       "namespaces (run as root)"), tuple(extras)
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` is missing (apt-get install iproute2)", tuple(extras)
    try:
        _setns_fn()
    except (OSError, AttributeError) as exc:
        return False, f"libc setns() is not available ({exc})", tuple(extras)
    name = f"cc{os.getpid()}-probe{threading.get_ident() % 10000}"
    try:
        try:
            run_cmd(["ip", "netns", "add", name], timeout_s=20)
        except RuntimeError as exc:
            return False, f"netns: cannot create a network namespace ({exc})", tuple(extras)
        steps = [
            ("bridge", ["ip", "-n", name, "link", "add", "ccbr", "type", "bridge"]),
            ("veth", ["ip", "-n", name, "link", "add", "ccv0", "type", "veth", "peer", "name",
                      "ccv1"]),
            ("tbf", ["tc", "-n", name, "qdisc", "add", "dev", "ccv0", "root", "tbf", "rate",
                     "1mbit", "burst", "16kb", "latency", "50ms"]),
        ]
        for what, cmd in steps:
            try:
                run_cmd(cmd, timeout_s=20)
            except RuntimeError as exc:
                return False, f"{what}: not supported by this kernel ({exc})", tuple(extras)
        try:
            run_cmd(["tc", "-n", name, "qdisc", "add", "dev", "ccv1", "root", "netem", "delay",
                     "1ms"], timeout_s=20)
        except RuntimeError:
            extras.append("netem is not available: no emulated delay or loss (tbf shapes rate "
                          "only)")
        try:
            inside = run_in_netns(name, lambda: os.readlink("/proc/thread-self/ns/net"), 10)
        except OSError as exc:
            return False, f"netns: cannot enter a namespace with setns() ({exc})", tuple(extras)
        if inside == os.readlink("/proc/thread-self/ns/net"):
            return False, "netns: setns() did not change the thread's namespace", tuple(extras)
        return True, "", tuple(extras)
    finally:
        delete_netns([name])


def netns_support() -> tuple[bool, str]:
    """(True, "") when emulated classrooms can be built here, else (False, what is missing)."""
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = _probe_now()
        return _probe[0], _probe[1]


def netns_extras() -> list[str]:
    """Optional features found missing (netem, mac80211_hwsim): information, not a skip."""
    netns_support()
    assert _probe is not None
    return list(_probe[2])
