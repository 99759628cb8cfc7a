"""A build's record (the manifest), checked whole before any of it is trusted: every field
present, of its type, and nothing else (`parse_manifest`, a strict check of its own: the core
does not import pydantic); and the record itself covered by a checksum, `manifest_sha256`,
the sha256 of its canonical JSON without that field. A record without it, or without a data
file's checksum, is damaged: a missing checksum is damage, never the absence of a check.
The data files and passages it lists checksums for are checked by bot.core.index.integrity.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from bot.core.types import OLDEST_SCHEMA, SCHEMA_VERSION, Manifest, SourceInfo

# The field of the record holding the sha256 of the rest of it (canonical JSON).
SEAL = "manifest_sha256"
BUILD_ID = re.compile(
    r"\d{8}T\d{6}-[0-9a-f]{6}"
)  # what a build names itself (bot.core.index.build)
INDEX_TYPES = frozenset({"flat", "hnsw", "ivf"})  # bot.core.index.vectors
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A data file's name: a plain name inside the data folder, never a path out of it.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


class ManifestError(ValueError):
    """What is wrong with a manifest, in one line."""


Check = Callable[[Any, str], None]  # raises ManifestError naming the field at `where`


def _expect(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise ManifestError(f"{where} must be {what}")


def _count(value: Any, where: str) -> None:
    _expect(type(value) is int and value >= 0, where, "a whole number >= 0")


def _positive(value: Any, where: str) -> None:
    _expect(type(value) is int and value > 0, where, "a whole number > 0")


def _text(value: Any, where: str) -> None:
    _expect(type(value) is str, where, "a string")


def _name(value: Any, where: str) -> None:
    _expect(type(value) is str and value.strip() != "", where, "a non-empty string")


def _sha256(value: Any, where: str) -> None:
    _expect(type(value) is str and bool(_SHA256.fullmatch(value)), where, "a sha256 in hex")


def _seconds(value: Any, where: str) -> None:
    ok = type(value) is float and math.isfinite(value) and value >= 0
    _expect(ok, where, "a number of seconds (a float >= 0)")


def _build_id(value: Any, where: str) -> None:
    ok = type(value) is str and bool(BUILD_ID.fullmatch(value))
    _expect(ok, where, "a build id (20261203T093110-1a2b3c)")


def _index_type(value: Any, where: str) -> None:
    # The type first: a list or an object is unhashable, and cannot be looked up in a set.
    _expect(type(value) is str and value in INDEX_TYPES, where, "flat, hnsw or ivf")


def _key(where: str, key: str) -> str:
    return f"{where}[{key[:40]!r}]"


def _mapping(values: Check, keys: Check = _text, empty: bool = True) -> Check:
    def check(value: Any, where: str) -> None:
        _expect(type(value) is dict, where, "an object")
        _expect(empty or bool(value), where, "an object, not empty")
        for key, item in value.items():
            keys(key, f"a key of {where}")
            values(item, _key(where, key))

    return check


def _file_name(value: Any, where: str) -> None:
    ok = type(value) is str and bool(_FILE_NAME.fullmatch(value))
    _expect(ok, where, "a plain file name")


def _list(items: Check) -> Check:
    def check(value: Any, where: str) -> None:
        _expect(type(value) is list, where, "a list")
        for i, item in enumerate(value):
            items(item, f"{where}[{i}]")

    return check


def _record(spec: dict[str, Check]) -> Check:
    """An object with exactly `spec`'s fields, each passing its check."""

    def check(value: Any, where: str) -> None:
        _expect(type(value) is dict, where or "the manifest", "an object")
        prefix = f"{where}." if where else ""
        for name, field_check in spec.items():
            if name not in value:
                raise ManifestError(f"{prefix}{name} is missing")
            field_check(value[name], prefix + name)
        unknown = sorted(set(value) - set(spec), key=str)
        if unknown:
            raise ManifestError(
                f"{where or 'the manifest'} has an unknown field {unknown[0]!r:.60}"
            )

    return check


def _optional(inner: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if value is not None:
            inner(value, where)

    return check


# Every field of each record a build writes, and what it must hold.
SOURCE_FIELDS: dict[str, Check] = {
    "path": _name,
    "doc_id": _name,
    "sha256": _sha256,
    "bytes": _count,
    "chunks": _count,
    "name": _text,
    "format": _name,
    "paragraphs": _count,
    "pages": _count,
    "added_at": _text,
    "file_size": _count,
    "mtime_ns": _count,
    "ctime_ns": _count,
}
# Source fields a schema added, by the schema that added them: a manifest of an older schema
# is read without them (each as SourceInfo's default, "not known"), to be rebuilt.
ADDED_SOURCE_FIELDS = {3: ("file_size", "mtime_ns", "ctime_ns")}
FILE_FIELDS: dict[str, Check] = {"bytes": _count, "sha256": _sha256}
QUERY_ENCODER_FIELDS: dict[str, Check] = {"runtime": _name, "file": _name, "sha256": _sha256}
MANIFEST_FIELDS: dict[str, Check] = {
    "schema": _positive,
    "build_id": _build_id,
    "data_dir": _name,
    "model": _name,
    "dimension": _positive,
    "chunker": _mapping(_count, empty=False),
    "sources": _list(_record(SOURCE_FIELDS)),
    "chunk_count": _count,
    "sentence_count": _count,
    "index_type": _index_type,
    "built_at": _name,
    "build_seconds": _seconds,
    "qabot_version": _name,
    "skipped": _mapping(_text),
    "files": _mapping(_record(FILE_FIELDS), keys=_file_name),
    "query_encoder": _optional(_record(QUERY_ENCODER_FIELDS)),
}
# A field added to Manifest or SourceInfo without its check here fails every build at once
# (manifest_text reads what it writes), never silently.


def manifest_sha256(data: dict[str, Any]) -> str:
    """The sha256 of a manifest's canonical JSON (sorted keys, no spaces, ASCII)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def manifest_text(manifest: Manifest, required_files: Iterable[str]) -> str:
    """manifest.json as a build writes it: the manifest and its checksum, read back through
    the same checks every reader applies before it is written."""
    data = asdict(manifest)
    data[SEAL] = manifest_sha256(data)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    parse_manifest(text, required_files)
    return text


def parse_manifest(raw: str, required_files: Iterable[str], sealed: bool = True) -> Manifest:
    """The manifest in `raw`, after checking it whole: ManifestError (one line) when a field
    is missing, of another type, unknown, inconsistent with another, when a file in
    `required_files` has no checksum, or (`sealed`) when its own checksum is missing or
    does not match."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ManifestError("it is not JSON") from None
    if type(data) is not dict:
        raise ManifestError("it is not a JSON object")
    schema = data.get("schema")
    if type(schema) is int and not OLDEST_SCHEMA <= schema <= SCHEMA_VERSION:
        raise ManifestError(
            f"it has index schema {schema}; this qabot reads schema {SCHEMA_VERSION}"
        )
    seal = data.pop(SEAL, None)
    sealed_as_written = manifest_sha256(data)
    if schema != SCHEMA_VERSION:
        # Built by an older qabot: read only so that it can be rebuilt from its sources
        # (freshness.staleness calls it out of date). Schema 1 had no checksums for the
        # manifest and some data files; what later schemas added is "not known".
        sealed = sealed and type(schema) is int and schema >= 2
        required_files = set(required_files) & set(data.get("files") or {})
        _add_missing_source_fields(data, schema)
    _record(MANIFEST_FIELDS)(data, "")
    if data["data_dir"] != f"data-{data['build_id']}":
        raise ManifestError("data_dir must be data-<build_id>")
    listed = sum(source["chunks"] for source in data["sources"])
    if listed != data["chunk_count"]:
        raise ManifestError(f"chunk_count is {data['chunk_count']}, its sources hold {listed}")
    missing = sorted(set(required_files) - set(data["files"]))
    if missing:
        raise ManifestError(f"files has no checksum for {missing[0]}")
    if sealed:
        if seal is None:
            raise ManifestError(f"{SEAL}, its own checksum, is missing")
        _sha256(seal, SEAL)
        if seal != sealed_as_written:
            raise ManifestError("it does not match its checksum")
    sources = [SourceInfo(**source) for source in data.pop("sources")]
    return Manifest(sources=sources, **data)


def _add_missing_source_fields(data: dict[str, Any], schema: Any) -> None:
    """The fields of each source that schemas after `schema` added, as "not known" (0)."""
    added = [
        name
        for since, names in ADDED_SOURCE_FIELDS.items()
        if type(schema) is not int or schema < since
        for name in names
    ]
    sources = data.get("sources")
    for source in sources if type(sources) is list else []:
        if type(source) is dict:
            for name in added:
                source.setdefault(name, 0)


def looks_like_a_manifest(raw: str) -> bool:
    """Whether `raw` is a qabot manifest by its own marks (schema, build id, data folder,
    model, sources), however damaged the rest: what makes a folder without qabot's marker an
    index built before markers existed rather than someone else's folder."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    if type(data) is not dict:
        return False
    build_id = data.get("build_id")
    return (
        type(data.get("schema")) is int
        and type(build_id) is str
        and bool(BUILD_ID.fullmatch(build_id))
        and data.get("data_dir") == f"data-{build_id}"
        and type(data.get("model")) is str
        and type(data.get("sources")) is list
    )
