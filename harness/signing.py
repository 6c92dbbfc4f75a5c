"""Room certificates as signed, canonical JSON.

A certificate file is ``canonical_json(cert)`` where ``cert["signature"]`` holds an Ed25519
signature over ``canonical_json(cert without "signature")``. Verifying a *file* also requires the
file bytes to be exactly that canonical form, so any edit - even one that keeps the JSON meaning
(whitespace, key order, ``\\u00e9`` escapes) - is rejected.

Canonical form (the rule every verifier must reproduce):

* UTF-8 without BOM, object keys sorted by code point, separators ``,`` and ``:`` with no
  whitespace, non-ASCII characters written as themselves (never ``\\uXXXX`` escapes);
* ``true``/``false``/``null``; integers in decimal without exponent;
* floats as Python's ``repr`` (the shortest decimal that reads back to the same IEEE-754 double,
  e.g. ``0.1``, ``1.0``, ``1e-07``, ``-0.0``); a float stays a float (``1.0`` is not ``1``);
* NaN and +-Infinity are rejected, as are lone surrogates and non-string object keys.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"
KEY_FILE_NAME = "signing-key.pem"
CONFIG_DIR_ENV = "CLASSCERT_CONFIG_DIR"
SIGNATURE_FIELDS = frozenset({"algorithm", "public_key", "key_id", "value"})
MAX_CERTIFICATE_BYTES = 32 * 1024 * 1024  # refuse to load anything larger

_PUBLIC_KEY_LEN = 32
_SIGNATURE_LEN = 64


class SigningKeyError(Exception):
    """The signing key file exists but cannot be used."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification, with a bilingual reason an operator can act on."""

    ok: bool
    reason_en: str
    reason_zh: str
    key_id: str = ""

    @property
    def message(self) -> str:
        return f"{self.reason_en} / {self.reason_zh}"


# --------------------------------------------------------------------------- canonical JSON


def _check_json_value(value: Any) -> None:
    """Raise TypeError/ValueError if ``value`` has no single canonical JSON form."""
    stack = [value]
    seen: set[int] = set()  # containers already checked (json.dumps itself rejects cycles)
    while stack:
        item = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
        if item is None or isinstance(item, (bool, int, str)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{item!r} is not allowed in canonical JSON (NaN/Infinity)")
            continue
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"object key {key!r} is not a string")
                stack.append(sub)
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        raise TypeError(f"{type(item).__name__} value {item!r} is not JSON (use str/int/float/...)")


def canonical_json(obj: Any) -> bytes:
    """Return the canonical UTF-8 JSON bytes of ``obj`` (rule in the module docstring)."""
    _check_json_value(obj)
    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        return text.encode("utf-8")
    except RecursionError as exc:
        raise ValueError("value is nested too deeply for canonical JSON") from exc
    except UnicodeEncodeError as exc:
        raise ValueError(f"string has a lone surrogate, not valid UTF-8: {exc.reason}") from exc


# --------------------------------------------------------------------------- keys


def config_dir() -> Path:
    """Directory for classcert's own settings and signing key.

    ``$CLASSCERT_CONFIG_DIR`` if set; else ``%APPDATA%\\classcert`` on Windows; else
    ``$XDG_CONFIG_HOME/classcert`` (when absolute) or ``~/.config/classcert``.
    """
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        base = Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
        return base / "classcert"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "classcert"


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Raw 32-byte public key of a private or public Ed25519 key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """Short key fingerprint: first 16 hex digits of sha256(raw public key)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _corrupt_key_error(path: Path, detail: str) -> SigningKeyError:
    return SigningKeyError(
        f"signing key file {path} is unusable ({detail}). It was NOT replaced. Restore it from "
        f"backup, or move it away to create a new key (certificates signed with the old key "
        f"will then no longer match the new key id). / 签名密钥文件 {path} 无法使用（{detail}），"
        f"未被覆盖。请从备份恢复，或将其移走以生成新密钥（旧密钥签发的证书将与新密钥 ID 不符）。"
    )


def _read_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _corrupt_key_error(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise _corrupt_key_error(path, f"not an unencrypted PKCS#8 PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise _corrupt_key_error(path, f"{type(key).__name__} is not an Ed25519 key")
    return key


def _publish_without_overwrite(tmp: Path, path: Path) -> None:
    """Make ``tmp`` visible as ``path``; FileExistsError if ``path`` already exists."""
    try:
        if os.name == "nt":
            os.rename(tmp, path)  # refuses to replace an existing file on Windows
        else:
            os.link(tmp, path)  # atomic, refuses to replace
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_key(directory: Path | None = None) -> Ed25519PrivateKey:
    """Load ``signing-key.pem`` from ``directory`` (default: :func:`config_dir`), creating it once.

    A new key is written as unencrypted PKCS#8 PEM with mode 0600 in a directory created with
    mode 0700. An existing but unreadable or corrupt file raises :class:`SigningKeyError` naming
    the path; it is never overwritten. Safe against two processes creating the key at once.
    """
    directory = Path(directory) if directory is not None else config_dir()
    path = directory / KEY_FILE_NAME
    if path.exists():
        return _read_key(path)
    if not directory.is_dir():
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, tmp_name = tempfile.mkstemp(prefix=".signing-key.", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp_name, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    try:
        _publish_without_overwrite(Path(tmp_name), path)
    except FileExistsError:
        return _read_key(path)  # another process won the race: use its key
    return key


# --------------------------------------------------------------------------- sign / verify


def sign_certificate(cert: dict, key: Ed25519PrivateKey) -> dict:
    """Return a deep copy of ``cert`` with a ``signature`` block over the rest of it."""
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"need an Ed25519PrivateKey, got {type(key).__name__}")
    unsigned = {k: v for k, v in cert.items() if k != "signature"}
    payload = canonical_json(unsigned)
    pub = public_key_bytes(key)
    signed = copy.deepcopy(unsigned)
    signed["signature"] = {
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(pub).decode("ascii"),
        "key_id": key_id(pub),
        "value": base64.b64encode(key.sign(payload)).decode("ascii"),
    }
    return signed


def _fail(en: str, zh: str, kid: str = "") -> VerifyResult:
    return VerifyResult(False, en, zh, kid)


def _strict_b64(text: Any, length: int) -> bytes | None:
    """Decode canonical standard base64 of exactly ``length`` bytes, else None.

    Re-encoding must give back the same text, so unused padding bits cannot be altered.
    """
    if not isinstance(text, str) or not text.isascii():
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != length or base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def _trusted_set(trusted_keys: list[bytes] | None) -> set[bytes] | None:
    if trusted_keys is None:
        return None
    result = set()
    for item in trusted_keys:
        result.add(public_key_bytes(item) if isinstance(item, Ed25519PublicKey) else bytes(item))
    return result


def verify_certificate(cert: dict, trusted_keys: list[bytes] | None = None) -> VerifyResult:
    """Check the embedded Ed25519 signature of a certificate dict.

    ``trusted_keys`` are raw 32-byte public keys; when given, the signing key must be one of them.
    """
    if not isinstance(cert, dict):
        return _fail("certificate is not a JSON object", "证书不是 JSON 对象")
    sig = cert.get("signature")
    if sig is None:
        return _fail(
            'certificate is not signed: it has no "signature" block',
            '证书未签名：缺少 "signature" 签名块',
        )
    if not isinstance(sig, dict):
        return _fail('"signature" is not a JSON object', '"signature" 签名块不是 JSON 对象')
    if set(sig) != SIGNATURE_FIELDS:
        fields = ", ".join(sorted(SIGNATURE_FIELDS))
        return _fail(
            f'"signature" must have exactly the fields {fields}; got {", ".join(sorted(sig))}',
            f'"signature" 签名块必须且只能包含字段 {fields}',
        )
    if sig["algorithm"] != ALGORITHM:
        return _fail(
            f"unsupported signature algorithm {sig['algorithm']!r}; only Ed25519 is accepted",
            f"不支持的签名算法 {sig['algorithm']!r}；仅接受 Ed25519",
        )
    pub = _strict_b64(sig["public_key"], _PUBLIC_KEY_LEN)
    if pub is None:
        return _fail(
            "public_key is not canonical base64 of a 32-byte Ed25519 key",
            "public_key 不是 32 字节 Ed25519 公钥的规范 base64 编码",
        )
    kid = key_id(pub)
    if sig["key_id"] != kid:
        return _fail(
            f"key_id {sig['key_id']!r} does not match the public key (expected {kid})",
            f"key_id {sig['key_id']!r} 与公钥不符（应为 {kid}）",
            kid,
        )
    value = _strict_b64(sig["value"], _SIGNATURE_LEN)
    if value is None:
        return _fail(
            "signature value is not canonical base64 of a 64-byte Ed25519 signature",
            "签名值不是 64 字节 Ed25519 签名的规范 base64 编码",
            kid,
        )
    try:
        payload = canonical_json({k: v for k, v in cert.items() if k != "signature"})
    except (TypeError, ValueError) as exc:
        return _fail(
            f"certificate content cannot be canonicalised: {exc}",
            f"证书内容无法规范化：{exc}",
            kid,
        )
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(value, payload)
    except (InvalidSignature, ValueError):
        return _fail(
            "signature does not match the content: the certificate was changed after signing "
            "or the signature belongs to another certificate",
            "签名与内容不符：证书在签名后被修改，或签名属于另一份证书",
            kid,
        )
    trusted = _trusted_set(trusted_keys)
    if trusted is not None and pub not in trusted:
        return _fail(
            f"signature is valid but key {kid} is not one of the trusted keys",
            f"签名有效，但密钥 {kid} 不在受信任密钥列表中",
            kid,
        )
    return VerifyResult(True, f"signature valid, key id {kid}", f"签名有效，密钥 ID {kid}", kid)


# --------------------------------------------------------------------------- files


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def verify_file(path: Path, trusted_keys: list[bytes] | None = None) -> VerifyResult:
    """Verify a certificate file written by :func:`write_certificate`.

    The bytes must be valid UTF-8 JSON *and* exactly its canonical form; then the signature is
    checked as in :func:`verify_certificate`. Never raises for bad input: returns ``ok=False``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CERTIFICATE_BYTES:
            return _fail(
                f"{path} is {size} bytes, too large to be a certificate",
                f"{path} 大小为 {size} 字节，不可能是证书文件",
            )
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return _fail(f"cannot read {path}: {reason}", f"无法读取 {path}：{reason}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail(
            f"{path} is not valid UTF-8 text (byte {exc.start}); the file is damaged",
            f"{path} 不是有效的 UTF-8 文本（第 {exc.start} 字节）；文件已损坏",
        )
    try:
        cert = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
        canonical = canonical_json(cert)
    except json.JSONDecodeError as exc:
        return _fail(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            f"{path} 不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列 {exc.msg}",
        )
    except (ValueError, TypeError, RecursionError) as exc:
        return _fail(f"{path} is not a valid certificate: {exc}", f"{path} 不是有效的证书：{exc}")
    if canonical != data:
        at = next(
            (i for i, (a, b) in enumerate(zip(canonical, data, strict=False)) if a != b),
            min(len(canonical), len(data)),
        )
        return _fail(
            f"{path} is not byte-for-byte the canonical form classcert writes (first difference "
            f"at byte {at}): the file was edited or re-saved by another program",
            f"{path} 与 classcert 写出的规范格式不一致（第 {at} 字节起不同）："
            "文件被编辑或被其他程序重新保存",
        )
    return verify_certificate(cert, trusted_keys)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and os.replace.

    The file keeps the mode of the file it replaces, else gets 0644.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Best effort: persist a rename on POSIX (not possible on Windows)."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_certificate(cert: dict, path: Path) -> None:
    """Write ``canonical_json(cert)`` to ``path`` atomically, with no trailing newline."""
    write_bytes_atomically(Path(path), canonical_json(cert))
