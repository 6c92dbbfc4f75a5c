"""Load and validate a rig file (TOML): the school, its rooms and their devices.

Every problem found is collected, then one `RigError` lists them all, each with
file, line, field path, what is wrong and how to fix it (English, then zh-CN).
Claims are not checked against the catalog and environment variables are not
resolved here: the harness does both later. See docs/rig-format.md.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classcert.model import SCHOOL_LEVELS, Device, Rig, Room, School
from classcert.tomlpos import KeyLines, KeyPath, error_position, field_name

DEVICE_ROLES = ("display", "whiteboard", "recorder", "camera", "video-link", "wifi", "ups",
                "audio", "cloud-terminal", "class-sign", "other")
# Drivers of devices attached to the harness machine, addressed by local device name.
LOCAL_DRIVERS = ("pyaudio", "none")  # "none": listed for the record, not driven
TOP_KEYS = ("school", "rooms")
SCHOOL_KEYS = ("name", "level", "teachers", "students", "classrooms_total", "profile")
ROOM_KEYS = ("id", "name", "seats", "claims", "devices")
DEVICE_KEYS = ("role", "driver", "address", "name", "password_env", "options", "simulator")
ROOM_ID_RE = re.compile(r"(?!\.+$)[A-Za-z0-9._-]{1,64}")
DRIVER_RE = re.compile(r"[a-z0-9][a-z0-9-]*|table:[A-Za-z0-9][A-Za-z0-9._+-]*")
ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
SIM_KIND_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "credential")
_SECRET_PARTS = {"key", "pwd", "pass", "psk"}
_HOST_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
_FORMS = "host:port, [ipv6]:port, COM3, /dev/ttyUSB0, socket://host:port, rfc2217://host:port, loop://"
_MISSING = object()


@dataclass(frozen=True)
class RigProblem:
    """One thing wrong with a rig file. `line` 0 means the file as a whole."""

    file: str
    line: int
    field: str
    message: str
    column: int = 0

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}" + (f":{self.column}" if self.column else "")
        return ": ".join(x for x in (where, self.field, self.message) if x)


class RigError(Exception):
    """The rig file cannot be used; `.problems` lists every reason found."""

    def __init__(self, problems: list[RigProblem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def load_rig(path: str | Path) -> Rig:
    """Read and validate the rig file at `path` (UTF-8; a byte-order mark is tolerated)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = _msg(f"cannot read the rig file ({exc.strerror or type(exc).__name__})",
                   "check the path and permissions", "无法读取 rig 文件，请检查路径和权限")
        raise RigError([RigProblem(str(path), 0, "", msg)]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = _msg("the file is not UTF-8 text (perhaps GBK)", "save it with UTF-8 encoding",
                   "文件不是 UTF-8 编码（可能是 GBK），请另存为 UTF-8")
        line = data[: exc.start].count(b"\n") + 1
        raise RigError([RigProblem(str(path), line, "", msg)]) from None
    return parse_rig(text, path)


def parse_rig(text: str, path: Path) -> Rig:
    """Validate rig TOML `text`; `path` is used in messages and kept as `Rig.path`."""
    text = text.removeprefix("\ufeff")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RigError([_syntax_problem(exc, text, str(path))]) from None
    return _Checker(str(path), text).rig(doc, Path(path))


def _syntax_problem(exc: tomllib.TOMLDecodeError, text: str, file: str) -> RigProblem:
    line, col, reason = error_position(exc, text)
    msg = _msg(f"TOML syntax error: {reason}",
               "check quotes, brackets and '=' on this line (see docs/rig-format.md)",
               "TOML 语法错误，请检查本行的引号、括号和等号")
    return RigProblem(file, line, "", msg, col)


def _msg(en: str, fix: str, zh: str) -> str:
    return f"{en} — fix: {fix} / {zh}"


def _got(value: Any) -> str:
    """'got -3', 'got true (a boolean)', 'got "x" (a string)' ..."""
    if isinstance(value, bool):
        return f"got {str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"got {value}"
    if isinstance(value, float):
        return f"got {value} (a decimal number)"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"got {json.dumps(shown, ensure_ascii=False)} (a string)"
    if isinstance(value, dt.date | dt.time):
        return f"got {value.isoformat()} (a date/time)"
    return "got an array" if isinstance(value, list) else "got a table"


def looks_secret(key: str) -> bool:
    """True for key names such as password, api_key, token, wifi_psk (but not *_env)."""
    k = key.lower()
    if k.endswith("_env"):
        return False
    parts = set(re.split(r"[^a-z0-9]", k))
    return any(w in k for w in _SECRET_WORDS) or bool(_SECRET_PARTS & parts)


def address_problem(address: str, simulated: bool) -> tuple[str, str, str] | None:
    """None if `address` is usable, else (problem, fix, zh-CN). Port 0 needs a simulator."""
    low = address.lower()
    if re.fullmatch(r"com[1-9][0-9]{0,2}|loop://\S*|/dev/[A-Za-z0-9._+/-]+", low):
        return None
    for scheme in ("socket://", "rfc2217://"):
        if low.startswith(scheme):
            return _hostport_problem(address[len(scheme) :].split("?")[0], simulated)
    for scheme in ("rtsp://", "rtsps://", "http://", "https://"):
        if low.startswith(scheme):  # stream and web URLs: check the host[:port] part
            netloc = address[len(scheme):].split("/", 1)[0].rpartition("@")[2]
            if ":" not in netloc.rpartition("]")[2]:
                netloc += ":554" if scheme.startswith("rtsp") else ":80"
            return _hostport_problem(netloc, simulated)
    if "://" in address or address.startswith("/dev/") or re.search(r"\s", address):
        return (f"{address!r} is not a supported address", f"use one of: {_FORMS}",
                f"地址格式无效，可用格式：{_FORMS}")
    return _hostport_problem(address, simulated)


def _hostport_problem(text: str, simulated: bool) -> tuple[str, str, str] | None:
    m = re.fullmatch(r"\[([^\]]*)\](?::(.*))?|([^:\[\]]*)(?::([^:]*))?", text)
    if m is None:  # more than one colon and no brackets
        return (f"the IPv6 address in {text!r} needs square brackets", "write e.g. [fd00::21]:4352",
                "IPv6 地址须加方括号，例如 [fd00::21]:4352")
    host, port = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    if not _host_ok(host, ipv6=m.group(1) is not None):
        return (f"{host!r} is not a valid IP address or host name",
                "write e.g. 192.168.10.21:4352, [fd00::21]:4352 or display-a101.lan:4352",
                "主机名或 IP 地址无效，例如 192.168.10.21:4352")
    if port is None:
        return (f"address {text!r} has no port", "write host:port, e.g. 192.168.10.21:4352",
                "地址缺少端口号，请写成 主机:端口，例如 192.168.10.21:4352")
    if not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        return (f"port {port!r} is not a number from 1 to 65535",
                "use the device's port, e.g. 4352", "端口号必须是 1 到 65535 之间的整数")
    if int(port) == 0 and not simulated:
        return ("port 0 (any free port) is only allowed for a simulated device",
                "use the device's real port, e.g. 4352",
                "端口 0 仅可用于模拟设备，请填写设备实际端口")
    if simulated and not _is_loopback(host):
        return (f"a simulated device must listen on loopback, not {host!r}", "use 127.0.0.1:0",
                "模拟设备只能监听本机回环地址，请使用 127.0.0.1:0")
    return None


def _host_ok(host: str, ipv6: bool) -> bool:
    try:
        if ipv6 or re.fullmatch(r"[0-9.]+", host):
            ipaddress.IPv6Address(host) if ipv6 else ipaddress.IPv4Address(host)
            return True
    except ValueError:
        return False
    return len(host) <= 253 and _HOST_RE.fullmatch(host) is not None


def _is_loopback(host: str) -> bool:
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


@dataclass(frozen=True)
class _Kind:
    """What a field must hold: a test, its description (en, zh), an example, whether to echo."""

    test: Callable[[Any], bool]
    en: str
    zh: str
    example: str
    echo: bool = True
    choices: tuple[str, ...] = ()  # for "did you mean" suggestions
    how: str = ""  # the fix, when "write <key> = <example>" does not fit


TEXT = _Kind(_text, "a non-empty text in quotes", "非空字符串", '"..."')
_WHOLE = " (a whole number: no quotes, no decimal point)"
COUNT = _Kind(lambda v: _is_int(v) and v >= 0, "a whole number, 0 or more", "非负整数",
              "120" + _WHOLE)
SEATS = _Kind(lambda v: _is_int(v) and v > 0, "a positive whole number", "正整数", "48" + _WHOLE)


def _table(example: str, how: str = "") -> _Kind:
    return _Kind(lambda v: isinstance(v, dict), "a table", "表", example, how=how)


SCHOOL = _table("", "write a [school] table with name, level, teachers, students, "
                "classrooms_total and profile (see docs/rig-format.md)")
ROOM_ID = _Kind(lambda v: _text(v) and ROOM_ID_RE.fullmatch(v) is not None,
                "1-64 letters A-Z a-z, digits, - _ . (it is used in file names)",
                "1-64 个英文字母、数字或 - _ .（用于文件名）", '"A101"')
DRIVER = _Kind(lambda v: _text(v) and DRIVER_RE.fullmatch(v) is not None,
               "a driver name: lower-case letters, digits and -, or table:<model>",
               "驱动名（小写字母、数字和 -，或 table:<型号>）", '"pjlink"')
ENV_NAME = _Kind(lambda v: _text(v) and ENV_NAME_RE.fullmatch(v) is not None,
                 "the NAME of an environment variable (A-Z, 0-9, _), not the secret itself",
                 "环境变量名（大写字母、数字、下划线），不能填写密码本身",
                 '"A101_PJLINK_PASSWORD" and set that variable', echo=False)
SIM_KIND = _Kind(lambda v: _text(v) and SIM_KIND_RE.fullmatch(v) is not None,
                 "a simulator name: lower-case letters, digits and -",
                 "模拟器名称（小写字母、数字和 -）", '"pjlink"')


def _choices(allowed: tuple[str, ...]) -> _Kind:
    return _Kind(lambda v: v in allowed, "one of: " + " | ".join(allowed),
                 "以下之一：" + " | ".join(allowed), f'"{allowed[0]}"', choices=allowed)


class _Checker:
    """Walks the parsed document, collecting problems and building model objects."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = KeyLines(text)
        self.problems: list[RigProblem] = []

    def problem(self, path: KeyPath, en: str, fix: str, zh: str) -> None:
        line = self.lines.nearest(path)
        self.problems.append(RigProblem(self.file, line, field_name(path), _msg(en, fix, zh)))

    def rig(self, doc: dict[str, Any], path: Path) -> Rig:
        self._secrets(doc, ())
        self._unknown(doc, (), TOP_KEYS)
        school_doc = self.get(doc, (), "school", "学校信息表 [school]", SCHOOL)
        school = self._school(school_doc) if school_doc is not None else None
        rooms = self._rooms(doc)
        if school is not None and rooms is not None and school.classrooms_total < len(rooms):
            self.problem(("school", "classrooms_total"),
                         f"is {school.classrooms_total}, but the file lists {len(rooms)} rooms",
                         "set it to the school's total number of classrooms",
                         "教室总数不能少于文件中列出的教室数")
        if self.problems or school is None or rooms is None:
            self.problems.sort(key=lambda p: p.line)
            raise RigError(self.problems)
        return Rig(path=path, school=school, rooms=tuple(rooms))

    # -- generic checks -------------------------------------------------------------------------
    def get(self, table: dict, path: KeyPath, key: str, zh: str, kind: _Kind,
            required: bool = True) -> Any:
        """table[key] if it is of `kind`; else report and return None (also when absent)."""
        value = table.get(key, _MISSING)
        where = (*path, key)
        if value is _MISSING:
            if required:
                fix = kind.how or f"add {key} = {kind.example}"
                self.problem(where, "is missing", fix, f"缺少{zh}")
            return None
        if not kind.test(value):
            got = f", {_got(value)}" if kind.echo else ""
            close = difflib.get_close_matches(value, kind.choices, n=1, cutoff=0.75) if (
                kind.choices and isinstance(value, str)) else []
            fix = kind.how or f"write {key} = {kind.example}"
            fix = f"did you mean '{close[0]}'?" if close else fix
            self.problem(where, f"must be {kind.en}{got}", fix, f"{zh}必须为{kind.zh}")
            return None
        return value

    def _secrets(self, node: Any, path: KeyPath) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(key, str) and isinstance(value, str) and looks_secret(key):
                self.problem((*path, key), "looks like a secret written into the rig file",
                             "put secrets in an environment variable and reference it with "
                             'password_env = "NAME"',
                             "请勿在 rig 文件中写入密码等机密，"
                             "请放入环境变量并用 password_env 引用")
            elif isinstance(value, dict | list):
                self._secrets(value, (*path, key))

    def _unknown(self, table: dict[str, Any], path: KeyPath, known: tuple[str, ...]) -> None:
        for key, value in table.items():
            if key in known or (isinstance(value, str) and looks_secret(key)):
                continue  # secrets are reported by _secrets
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else "remove it; known keys: "
            fix += "" if close else ", ".join(known)
            hint = f"，是否应为 '{close[0]}'？" if close else "，请删除"
            self.problem((*path, key), f"unknown key '{key}'", fix, f"未知字段 '{key}'{hint}")

    def _tables(self, parent: dict, path: KeyPath, key: str, zh: str) -> list[dict] | None:
        """An array of tables ([[key]] headers or an array of inline tables); absent = []."""
        value = parent.get(key, [])
        header = f"[[{field_name((*path, key))}]]"
        if not isinstance(value, list):
            self.problem((*path, key), f"must be an array of tables, {_got(value)}",
                         f"write each entry under its own {header} header",
                         f"{zh}必须写成 {header} 表数组")
            return None
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.problem((*path, key, i), f"must be a table, {_got(item)}",
                             f"write each entry under its own {header} header",
                             f"{zh}的每一项都必须是表")
        return value if all(isinstance(item, dict) for item in value) else None

    # -- sections -------------------------------------------------------------------------------
    def _school(self, t: dict) -> School | None:
        p: KeyPath = ("school",)
        self._unknown(t, p, SCHOOL_KEYS)
        values = (
            self.get(t, p, "name", "学校名称", TEXT),
            self.get(t, p, "level", "学段（level）", _choices(SCHOOL_LEVELS)),
            self.get(t, p, "teachers", "教师人数", COUNT),
            self.get(t, p, "students", "学生人数", COUNT),
            self.get(t, p, "classrooms_total", "教室总数", COUNT),
            self.get(t, p, "profile", "评测配置（profile）", TEXT),
        )
        return None if None in values else School(*values)

    def _rooms(self, doc: dict) -> list[Room] | None:
        tables = self._tables(doc, (), "rooms", "教室（rooms）")
        if tables is None:
            return None
        if not tables:
            self.problem(("rooms",), "no rooms are listed", "add at least one [[rooms]] table",
                         "未列出任何教室，请至少添加一个 [[rooms]]")
            return None
        seen: dict[str, int] = {}
        rooms = [self._room(t, i, seen) for i, t in enumerate(tables)]
        return None if None in rooms else rooms  # type: ignore[return-value]

    def _room(self, t: dict, i: int, seen: dict[str, int]) -> Room | None:
        p: KeyPath = ("rooms", i)
        self._unknown(t, p, ROOM_KEYS)
        room_id = self.get(t, p, "id", "教室编号", ROOM_ID)
        if room_id is not None and room_id.lower() in seen:
            first = seen[room_id.lower()]
            self.problem((*p, "id"), f"room id '{room_id}' is already used by rooms[{first}] "
                         f"(line {self.lines.nearest(('rooms', first))}; case is ignored)",
                         "give every room its own id", "教室编号重复，请使用唯一编号")
            room_id = None
        elif room_id is not None:
            seen[room_id.lower()] = i
        name = self.get(t, p, "name", "教室名称", TEXT)
        seats = self.get(t, p, "seats", "座位数", SEATS)
        claims = self._claims(t, p)
        tables = self._tables(t, p, "devices", "设备（devices）")
        devices = [self._device(d, (*p, "devices", j)) for j, d in enumerate(tables or [])]
        if None in (room_id, name, seats, claims, tables) or None in devices:
            return None
        return Room(room_id, name, seats, claims, tuple(devices), self.lines.nearest(p))

    def _claims(self, t: dict, p: KeyPath) -> tuple[str, ...] | None:
        claims = self.get(t, p, "claims", "申报类型（claims）",
                          _Kind(lambda v: isinstance(v, list), "an array of texts (may be empty)",
                                "字符串数组", '["multimedia"] (or [] to claim nothing)'))
        if claims is None:
            return None
        ok = True
        for k, item in enumerate(claims):
            if not _text(item):
                self.problem((*p, "claims", k), f"must be a non-empty text, {_got(item)}",
                             'write each claim in quotes, e.g. "smart"',
                             "每个申报类型都必须是非空字符串")
                ok = False
            elif item in claims[:k]:
                self.problem((*p, "claims", k), f"'{item}' is listed twice", "remove the repeat",
                             "申报类型重复，请删除重复项")
                ok = False
        return tuple(claims) if ok else None

    def _device(self, t: dict, p: KeyPath) -> Device | None:
        self._unknown(t, p, DEVICE_KEYS)
        role = self.get(t, p, "role", "设备角色（role）", _choices(DEVICE_ROLES))
        driver = self.get(t, p, "driver", "驱动（driver）", DRIVER)
        simulator = self.get(t, p, "simulator", "模拟器设置（simulator）",
                             _table('{ kind = "pjlink" }'), required=False)
        if simulator is not None:
            kind = self.get(simulator, (*p, "simulator"), "kind", "模拟器类型（kind）", SIM_KIND)
            simulator = dict(simulator) if kind is not None else None
        address = self.get(t, p, "address", "地址（address）", TEXT)
        if driver in LOCAL_DRIVERS:
            # a device of the harness machine itself (a sound card): "default", an index or
            # a name; nothing to check beyond being there
            if address is not None and not address.strip():
                self.problem((*p, "address"), "the sound device is empty",
                             'write "default", a device index or part of its name',
                             "声音设备为空，请填写 default、设备序号或名称")
                address = None
        elif address is not None and (bad := address_problem(address, "simulator" in t)):
            self.problem((*p, "address"), *bad)
            address = None
        optional = {k: self.get(t, p, k, zh, kind, required=False) for k, zh, kind in (
            ("name", "设备名称", TEXT), ("password_env", "密码变量名（password_env）", ENV_NAME),
            ("options", "驱动设置（options）", _table("{ baudrate = 9600 }")))}
        if None in (role, driver, address) or ("simulator" in t and simulator is None):
            return None
        if any(optional[k] is None and k in t for k in optional):
            return None
        return Device(role, driver, address, optional["name"] or "", optional["password_env"],
                      dict(optional["options"] or {}), simulator, self.lines.nearest(p))
