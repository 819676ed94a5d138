"""Messages between a crawl and its fetching processes: pickled objects, each framed by its length.

Over a Unix socket pair read and written by asyncio streams on both ends, so neither side ever
blocks on the other: a write is buffered by the loop, and a full socket slows only its writer.
"""

from __future__ import annotations

import asyncio
import pickle
import struct

_LENGTH = struct.Struct("!I")


def write_frame(writer: asyncio.StreamWriter, message: object) -> bool:
    """Queue one message on `writer` (the loop sends it as the socket takes it); return False,
    having sent nothing, if the other side has gone (its socket is closing or closed)."""
    if writer.is_closing():
        return False
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        writer.write(_LENGTH.pack(len(payload)) + payload)
    except (ConnectionError, RuntimeError):  # closed under us (uvloop says RuntimeError)
        return False
    return True


async def read_frame(reader: asyncio.StreamReader) -> object:
    """Return the next message; raise asyncio.IncompleteReadError once the other side has gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))


__all__ = ["read_frame", "write_frame"]
