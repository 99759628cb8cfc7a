"""Whether an index still matches its sources and settings, without reading the sources that
did not change.

A build records each file's sha256 and what `stat` said of it just before it was read: its
size, mtime and ctime (SourceInfo.file_size, mtime_ns, ctime_ns). While `stat` says the same,
the file is taken as unchanged, as make and git do; when it says anything else the file is
hashed, and only a different hash makes the index stale. A file touched, or written again
with the same bytes, is hashed once: what `stat` says of it then is recorded (`confirmed`,
written by build.record_seen), so the next opening reads nothing.

The ctime goes with the mtime because a program can set a file's mtime (touch -d, tar, cp -p,
rsync -t) but not its ctime: new bytes under an old mtime still show. And times within
RACY_NS of the moment they are read are never trusted, since a file can change again in
the same clock tick without its times changing (git's "racily clean" entries): such a file
is recorded as not known, and hashed until its times have settled.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.documents.sources import is_url, source_digest, source_keys
from bot.core.errors import SourceError
from bot.core.index import vectors as vector_index
from bot.core.settings import ChunkerSettings
from bot.core.types import SCHEMA_VERSION, Manifest, SourceInfo

# Times this close to now are not trusted: covers the coarsest timestamps of the file
# systems a document may sit on (FAT's two seconds; ext4, XFS and tmpfs tick in ms).
RACY_NS = 2_000_000_000

# Why an index of an older schema is out of date, by its schema.
_OLDER = {
    1: "it was built by an older qabot, without checksums for every passage",
    2: "it was built by an older qabot, which did not record its sources' sizes and times",
}


@dataclass(frozen=True)
class Seen:
    """What `stat` says of a file, without reading it."""

    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def recorded(cls, source: SourceInfo) -> Seen | None:
        """What the build recorded of `source`; None when it recorded nothing (not known)."""
        if not source.mtime_ns:
            return None
        return cls(source.file_size, source.mtime_ns, source.ctime_ns)


def seen(path: str | Path) -> Seen | None:
    """What `stat` says of the file at `path` now (symbolic links followed), or None when it
    cannot say (gone, unreadable folder)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return Seen(info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def settled(now: Seen | None, at_ns: int) -> Seen | None:
    """`now`, if its times are old enough at `at_ns` (when `stat` was called) to show any
    later change; else None: not known."""
    if now is None or max(now.mtime_ns, now.ctime_ns) > at_ns - RACY_NS:
        return None
    return now


def recorded_fields(now: Seen | None, size: int = 0) -> dict[str, int]:
    """SourceInfo's fields for what `stat` said (times zero: not known; the size, which
    `index status` shows, is kept whenever stat gave one)."""
    if now is None:
        return {"file_size": size, "mtime_ns": 0, "ctime_ns": 0}
    return {"file_size": now.size, "mtime_ns": now.mtime_ns, "ctime_ns": now.ctime_ns}


@dataclass(frozen=True)
class Freshness:
    """Why the index no longer matches (empty: it does), and the sources that were hashed
    and found unchanged, with what `stat` says of them now (to record: not hashed again)."""

    reasons: list[str]
    confirmed: dict[str, Seen]


def check(
    manifest: Manifest,
    sources: Sequence[str | Path],
    model: str,
    chunker: ChunkerSettings,
    index_type: str = "auto",
) -> Freshness:
    """Whether the index built as `manifest` says matches `sources` and the settings."""
    reasons = []
    confirmed: dict[str, Seen] = {}
    if manifest.schema != SCHEMA_VERSION:
        reasons.append(_OLDER.get(manifest.schema, "it was built by an older qabot"))
    built = {s.path: s for s in manifest.sources}
    wanted = [key for key in source_keys(sources) if key not in manifest.skipped]
    if sorted(wanted) != sorted(built):
        reasons.append("the configured sources differ from the indexed ones")
    else:
        for path in wanted:
            if is_url(path):
                continue  # a web page is read when added; checking it would need the network
            changed, now = _changed(built[path])
            if changed:
                reasons.append(changed)
            elif now is not None:
                confirmed[path] = now
    if manifest.model != model:
        reasons.append(f"the model changed ({manifest.model} -> {model})")
    if manifest.chunker != chunker.as_dict():
        reasons.append("the chunking settings changed")
    wanted_type = vector_index.choose(index_type, manifest.chunk_count)
    if manifest.index_type != wanted_type:
        reasons.append(f"the index type changed ({manifest.index_type} -> {wanted_type})")
    return Freshness(reasons, confirmed)


def staleness(
    manifest: Manifest,
    sources: Sequence[str | Path],
    model: str,
    chunker: ChunkerSettings,
    index_type: str = "auto",
) -> list[str]:
    """Why the index no longer matches its sources or settings; empty when it does."""
    return check(manifest, sources, model, chunker, index_type).reasons


def _changed(source: SourceInfo) -> tuple[str | None, Seen | None]:
    """Why the file `source` names is not what the build read (None: it is), and what `stat`
    says of it now when it was hashed to tell and its times have settled (else None)."""
    at_ns = time.time_ns()
    now = seen(source.path)  # before hashing: a change while hashing shows next time
    if now is not None and now == Seen.recorded(source):
        return None, None
    try:
        digest = source_digest(source.path)
    except SourceError:
        # Configured sources: a rebuild leaves it out (and records why), so nothing is
        # answered from a file that is gone. Otherwise IndexStore.open_updated says so.
        return f"{source.path} can no longer be read", None
    if digest != source.sha256:
        return f"{source.path} changed since the index was built", None
    return None, settled(now, at_ns)


def with_seen(manifest: Manifest, confirmed: Mapping[str, Seen]) -> Manifest:
    """`manifest` recording what `stat` says now of the sources `confirmed` unchanged."""
    sources = [
        dataclasses.replace(s, **recorded_fields(confirmed[s.path])) if s.path in confirmed else s
        for s in manifest.sources
    ]
    return dataclasses.replace(manifest, sources=sources)


def missing_sources(manifest: Manifest) -> list[str]:
    return [s.path for s in manifest.sources if not is_url(s.path) and not Path(s.path).is_file()]
