"""Undoing zlib compression (gzip, deflate, a PDF's FlateDecode) a bounded piece at a time.

zlib is asked for at most `PIECE` bytes per call, so however much a compressed byte stands
for, no more than one piece of it exists at once: a caller counts the pieces against its
budget and stops at the limit, instead of finding out after inflating a bomb whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

PIECE = 64 * 1024
GZIP = 16 + zlib.MAX_WBITS  # a gzip header and trailer; gzip members may follow one another
ZLIB = zlib.MAX_WBITS  # HTTP's `deflate` and PDF's FlateDecode (some send raw deflate)


def inflated(raw: Iterable[bytes], layers: list[int]) -> Iterator[bytes]:
    """`raw` with each layer (its zlib wbits, in the order applied) undone, the last applied
    first, in pieces of at most PIECE bytes; zlib.error if it does not decompress."""
    pieces: Iterable[bytes] = raw
    for wbits in reversed(layers):
        pieces = _inflate(pieces, wbits)
    yield from pieces


def _inflate(pieces: Iterable[bytes], wbits: int) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    started = False
    for piece in pieces:
        if not started and piece and wbits == ZLIB and (piece[0] & 0x0F) != 8:
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate: no zlib header
        started = started or bool(piece)
        while piece:
            out = inflater.decompress(piece, PIECE)
            if out:
                yield out
            piece = inflater.unconsumed_tail
            if inflater.eof:
                if wbits != GZIP or not inflater.unused_data:
                    return  # the end of the compressed data: what follows is not its
                piece, inflater = inflater.unused_data + piece, zlib.decompressobj(wbits)
    while out := inflater.decompress(b"", PIECE):  # what zlib still holds
        yield out
