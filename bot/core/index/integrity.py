"""The data a build recorded checksums for, checked before any of it is trusted (the record
itself is checked by bot.core.index.record):

- The data files: loading checks every file's size, and its sha256 when the data is small
  enough for that to cost nothing noticeable (VERIFY_LIMIT, read at each call); `index
  status` always checks every sha256.
- Each passage: its row in the database has its own checksum (`passage_digest`), checked
  whenever the passage is read (bot.core.index.passages): no answer quotes text its build did
  not write.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterable
from pathlib import Path

VERIFY_LIMIT = 64 * 1024 * 1024  # bytes of data hashed at every load; above it, sizes only
PASSAGE_DIGEST_BYTES = 8  # of a passage line's sha256: a changed passage goes unseen 1 in 2**64


def checksums(folder: Path) -> dict[str, dict[str, int | str]]:
    """{file name: {"bytes", "sha256"}} for every file in a build's data folder."""
    return {
        item.name: {"bytes": item.stat().st_size, "sha256": file_sha256(item)}
        for item in sorted(folder.iterdir())
        if item.is_file()
    }


def verify(
    folder: Path,
    recorded: dict[str, dict[str, int | str]],
    full: bool,
    required: Iterable[str] = (),
    always: Iterable[str] = (),
) -> str | None:
    """What is wrong with the data files against their recorded checksums (None: nothing).
    Every file named in `required` must have one. `full`: hash every file; else compare sizes,
    and hash every file only up to VERIFY_LIMIT in all, the files in `always` whatever the
    total."""
    missing = sorted(set(required) - set(recorded))
    if missing:
        return f"no checksum recorded for {missing[0]}"
    if not recorded:
        return "no checksums recorded"
    total = sum(int(entry["bytes"]) for entry in recorded.values())
    hashing = full or total <= VERIFY_LIMIT
    hashed = set(always)
    for name, entry in sorted(recorded.items()):
        path = folder / name
        try:
            info = path.lstat()
        except OSError:
            return f"{name} is missing"
        if not stat.S_ISREG(info.st_mode):
            return f"{name} is not a plain file"
        if info.st_size != entry["bytes"]:
            return f"{name} has {info.st_size:,} bytes, {int(entry['bytes']):,} when it was built"
        if hashing or name in hashed:
            try:
                digest = file_sha256(path)
            except OSError as exc:
                return f"{name} cannot be read ({exc.strerror or type(exc).__name__})"
            if digest != entry["sha256"]:
                return f"{name} does not match its checksum"
    return None


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def passage_digest(row: int, first: int, count: int, body: str) -> bytes:
    """The checksum of one passage's row in the database (where it is, where its sentences
    are, and its text), as the build records it."""
    head = f"{row}\0{first}\0{count}\0".encode("ascii")
    return hashlib.sha256(head + body.encode("utf-8")).digest()[:PASSAGE_DIGEST_BYTES]


def document_digest(fields: tuple[str, ...]) -> bytes:
    """The checksum of one document's row in the database (its source, names, format, sha256,
    pages and text), as the build records it."""
    return hashlib.sha256("\0".join(fields).encode("utf-8")).digest()[:PASSAGE_DIGEST_BYTES]
