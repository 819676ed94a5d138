"""Content-Encoding, undone the same way for both clients, under the body's size cap.

Neither client decompresses: each hands over the body as it came off the wire, and `decode_body`
undoes the codings the response lists, last applied first (RFC 9110 §8.4): gzip (and x-gzip),
deflate (zlib-wrapped, or raw as some servers send it), br and zstd; names are case-insensitive and
`identity` is no coding. Each layer stops producing output one byte past `--max-bytes`, so a
decompression bomb costs at most that much memory and is recorded as `too_large`. A coding the
crawler does not know, or a body that does not decode, is one error: `bad_encoding`.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import brotli
import zstandard

ACCEPT_ENCODING = "gzip, deflate, br, zstd"
GZIP_WBITS = 16 + zlib.MAX_WBITS
ZLIB_WBITS = zlib.MAX_WBITS
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class BadEncoding(Exception):
    """The body does not decode with the codings its response names."""


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """A body with its codings undone, cut at the cap; `too_large` if there was more."""

    body: bytes
    too_large: bool


def codings_of(header: str | None) -> list[str]:
    """Return the codings a Content-Encoding header lists, in the order they were applied."""
    if not header:
        return []
    names = (name.strip().lower() for name in header.split(","))
    return [name for name in names if name and name != "identity"]


def decode_body(raw: bytes, header: str | None, limit: int, complete: bool = True) -> DecodedBody:
    """Undo every coding in `header` (last applied first), keeping at most `limit` bytes.

    `complete` is False when `raw` was itself cut at the cap: a coded body then decodes as far as
    it goes, without its end marker.
    """
    body, too_large = raw, False
    for name in reversed(codings_of(header)):
        decoder = _DECODERS.get(name)
        if decoder is None:
            raise BadEncoding(f"unknown content-coding {name!r}")
        try:
            body, too_large = decoder(body, limit + 1, complete)
        except (zlib.error, brotli.error, zstandard.ZstdError) as error:
            raise BadEncoding(f"{name}: {error}") from None
        if too_large:
            break  # an inner layer past the cap: the whole is too large
    if len(body) > limit:
        body, too_large = body[:limit], True
    return DecodedBody(body, too_large)


def _zlib(data: bytes, cap: int, complete: bool, wbits: int) -> tuple[bytes, bool]:
    """Inflate `data` (one or more concatenated members) into at most `cap` bytes."""
    out: list[bytes] = []
    size = 0
    while True:
        decompressor = zlib.decompressobj(wbits)
        chunk = decompressor.decompress(data, cap - size)
        out.append(chunk)
        size += len(chunk)
        if decompressor.unconsumed_tail or (size >= cap and not decompressor.eof):
            return b"".join(out), True
        if not decompressor.eof:
            if complete:
                raise zlib.error("the compressed body ends before its end marker")
            return b"".join(out), False
        data = decompressor.unused_data
        if not data.strip(b"\0") or wbits != GZIP_WBITS:
            return b"".join(out), False  # trailing padding, or the one zlib/deflate stream


def _gzip(data: bytes, cap: int, complete: bool) -> tuple[bytes, bool]:
    return _zlib(data, cap, complete, GZIP_WBITS)


def _deflate(data: bytes, cap: int, complete: bool) -> tuple[bytes, bool]:
    # RFC 9110 says zlib-wrapped; some servers send raw deflate. Browsers accept both.
    if len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0:
        return _zlib(data, cap, complete, ZLIB_WBITS)
    return _zlib(data, cap, complete, RAW_DEFLATE_WBITS)


def _brotli(data: bytes, cap: int, complete: bool) -> tuple[bytes, bool]:
    decompressor = brotli.Decompressor()
    out = decompressor.process(data, output_buffer_limit=cap)
    if len(out) >= cap and not decompressor.is_finished():
        return out[:cap], True
    if complete and not decompressor.is_finished():
        raise brotli.error("the compressed body ends before its end marker")
    return out, False


def _zstd(data: bytes, cap: int, complete: bool) -> tuple[bytes, bool]:
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
    with reader:
        out = reader.read(cap)
        if len(out) >= cap and reader.read(1):
            return out, True
    if not complete:
        return out, False
    # The reader stops quietly at a cut frame. The output is known to be small now, so decoding
    # once more, whole, costs little and says whether the last frame was complete.
    whole = zstandard.ZstdDecompressor().decompressobj()
    whole.decompress(data)
    if not whole.eof:
        raise zstandard.ZstdError("the compressed body ends before its end marker")
    return out, False


_DECODERS: dict[str, Callable[[bytes, int, bool], tuple[bytes, bool]]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}
