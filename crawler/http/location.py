"""A redirect's target, read from the raw bytes of its Location header as browsers read it.

HTTP header values are bytes; the clients decode them differently (aiohttp as UTF-8, http.client
as Latin-1), which turned one Location into two URLs. Reading the bytes ourselves settles it the
way the WHATWG URL standard does: leading and trailing controls and spaces are stripped, tabs and
newlines removed, and every other byte outside printable ASCII (controls, DEL, and each byte of
UTF-8 or of anything else) percent-encoded. UTF-8 thus becomes its usual escapes (`/café` is
`/caf%C3%A9`), and bytes that are not UTF-8 stay what they were (`\\xff` is `%FF`).
"""

from __future__ import annotations

_STRIPPED = bytes(range(0x21))  # C0 controls and space
_REMOVED = {0x09, 0x0A, 0x0D}  # tab, line feed, carriage return


def location_from_bytes(raw: bytes) -> str:
    """Return the Location header's URL reference as an ASCII string."""
    parts: list[str] = []
    for byte in raw.strip(_STRIPPED):
        if byte in _REMOVED:
            continue
        if byte <= 0x20 or byte >= 0x7F:
            parts.append(f"%{byte:02X}")
        else:
            parts.append(chr(byte))
    return "".join(parts)
