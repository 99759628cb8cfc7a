"""An index as qabot wrote it before index.db (schema 3, main before the SQLite store):
manifest.json, sealed, beside data-<build id>/ holding chunks.jsonl, chunks.rows.npy,
chunks.sums.npy, documents.jsonl and embedded.keys with the vector and BM25 files. Made from
an index the current code built, byte for byte as the older code wrote those files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from bot.core.index.integrity import checksums
from bot.core.index.legacy import LEGACY_REQUIRED
from bot.core.index.record import manifest_text
from bot.core.index.snapshot import read_manifest

KEY = 32


def write_schema_3(built: Path, target: Path) -> dict:
    """A copy of the index in `built` at `target`, in the older layout; its manifest."""
    manifest = read_manifest(built)
    shutil.copytree(built, target)
    for name in ("index.db", "index.db-wal", "index.db-shm"):
        (target / name).unlink(missing_ok=True)
    data = target / manifest.data_dir
    db = sqlite3.connect(built / "index.db")
    try:
        documents = db.execute(
            "SELECT source, doc_id, name, format, sha256, pages, title, text FROM documents "
            "WHERE build = ? ORDER BY seq",
            (manifest.build_id,),
        ).fetchall()
        passages = db.execute(
            "SELECT sentences, body, keys FROM passages WHERE build = ? ORDER BY row",
            (manifest.build_id,),
        ).fetchall()
    finally:
        db.close()
    with open(data / "documents.jsonl", "w", encoding="utf-8") as fh:
        for source, doc_id, name, form, sha256, pages, title, text in documents:
            record = {
                "source": source,
                "doc_id": doc_id,
                "name": name,
                "format": form,
                "sha256": sha256,
                "pages": json.loads(pages),
                "title": title,
                "text": text,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    lines = [(body + "\n").encode("utf-8") for _, body, _ in passages]
    (data / "chunks.jsonl").write_bytes(b"".join(lines))
    offsets = np.cumsum([0, *(len(line) for line in lines)])
    firsts = np.cumsum([0, *(count for count, _, _ in passages)])
    np.save(data / "chunks.rows.npy", np.stack([offsets, firsts], axis=1).astype(np.int64))
    sums = [np.frombuffer(hashlib.sha256(line).digest()[:8], np.uint8) for line in lines]
    np.save(data / "chunks.sums.npy", np.stack(sums))
    keys = [blob[:KEY] for _, _, blob in passages]
    keys += [blob[i : i + KEY] for _, _, blob in passages for i in range(KEY, len(blob), KEY)]
    (data / "embedded.keys").write_bytes(b"".join(k + b"\n" for k in keys))
    older = dataclasses.replace(manifest, schema=3, files=checksums(data))
    text = manifest_text(older, LEGACY_REQUIRED)
    (target / "manifest.json").write_text(text, encoding="utf-8")
    return json.loads(text)
