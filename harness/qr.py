"""QR codes for a URL the operator opens on a classroom panel: terminal text and SVG evidence.

The terminal rendering uses Unicode half blocks (two module rows per text line) and no colour
escapes, so it survives logs, ``tee`` and Windows consoles. Most terminals draw light text on a
dark background; by default the *light* modules (and the quiet zone) are drawn as blocks so
that a phone sees dark-on-light as the QR standard expects.
"""

from __future__ import annotations

import io

import segno

QUIET_ZONE = 4  # modules; the QR standard asks for four
ERROR_LEVEL = "m"  # 15 % recovery: a projected or photographed code stays readable

# (top module inked, bottom module inked) -> character
_HALF_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",  # upper half block
    (False, True): "\u2584",  # lower half block
    (True, True): "\u2588",  # full block
}


def make_qr(data: str) -> segno.QRCode:
    """The QR symbol for ``data`` (never a Micro QR: phones do not read those)."""
    if not data:
        raise ValueError("QR data must not be empty")
    return segno.make(data, error=ERROR_LEVEL, micro=False)


def qr_matrix(data: str, border: int = QUIET_ZONE) -> list[list[bool]]:
    """Rows of modules, True = dark, including a quiet zone of ``border`` modules."""
    return [[bool(m) for m in row] for row in make_qr(data).matrix_iter(scale=1, border=border)]


def qr_text(data: str, border: int = QUIET_ZONE, dark_background: bool = True) -> str:
    """Render ``data`` as a QR code in text, one line per two module rows."""
    matrix = qr_matrix(data, border)
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))  # pad with a light row
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True):
        chars = [
            _HALF_BLOCKS[(t != dark_background, b != dark_background)]
            for t, b in zip(top, bottom, strict=True)
        ]
        lines.append("".join(chars))
    return "\n".join(lines)


def qr_svg(data: str, scale: int = 8, title: str = "classcert") -> str:
    """A standalone SVG document of the QR code (black on white, with quiet zone)."""
    buf = io.BytesIO()
    make_qr(data).save(
        buf, kind="svg", scale=scale, border=QUIET_ZONE, dark="#000", light="#fff",
        xmldecl=True, title=title, desc=data,
    )
    return buf.getvalue().decode("utf-8")
