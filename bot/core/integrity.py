"""Checksums of an index's data files: recorded in the manifest when a build writes them,
checked when the index is loaded and by `qabot index status`, so a damaged file (a disk
error, an edit, a half-copied backup) is reported instead of answering wrongly.

Loading checks every file's size, and its sha256 when the data is small enough for that to
cost nothing noticeable (VERIFY_LIMIT); `index status` always checks every sha256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

VERIFY_LIMIT = 64 * 1024 * 1024  # bytes of data hashed at every load; above it, sizes only


def checksums(folder: Path) -> dict[str, dict[str, int | str]]:
    """{file name: {"bytes", "sha256"}} for every file in a build's data folder."""
    return {
        item.name: {"bytes": item.stat().st_size, "sha256": file_sha256(item)}
        for item in sorted(folder.iterdir())
        if item.is_file()
    }


def verify(folder: Path, recorded: dict[str, dict[str, int | str]], full: bool) -> str | None:
    """What is wrong with the data files against their recorded checksums (None: nothing).
    `full`: hash every file; else compare sizes, and hash only below VERIFY_LIMIT in all."""
    if not recorded:
        return None  # an index from before checksums were kept
    total = sum(int(entry["bytes"]) for entry in recorded.values())
    hashing = full or total <= VERIFY_LIMIT
    for name, entry in recorded.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != entry["bytes"]:
            return f"{name} has {size:,} bytes, {int(entry['bytes']):,} when it was built"
        if hashing and file_sha256(path) != entry["sha256"]:
            return f"{name} does not match its checksum"
    return None


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
