"""Turning text into normalised vectors with a sentence-transformers model, offline.

torch and sentence-transformers are imported on first use, not at import time, so that
commands which never embed anything (`qabot --help`, `qabot index status`) start at once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.index.model import load, model_identity, resolve_model
from bot.core.memory import release_freed_memory
from bot.core.settings import DEFAULT_BACKEND, EmbedderSettings

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from bot.core.index.onnx_encoder import OnnxEncoder

ProgressCallback = Callable[[int], None]
COUNT_BATCH = 1024  # texts tokenized at once when counting word pieces
TOKENS_PER_BATCH = 1024  # word pieces run through the model at once (32 texts of 32)


class Embedder:
    """One model, loaded on first use and shared by everything in the process."""

    def __init__(self, settings: EmbedderSettings | None = None):
        settings = settings or EmbedderSettings()
        self.settings = settings
        self.model_name = settings.model
        self.backend = settings.backend
        # what indexes and their caches record
        self.name = model_identity(settings.model, settings.backend)
        self.device = settings.device
        self.batch_size = settings.batch_size
        # Single words recur across questions (a document has a small vocabulary): keep them.
        self._word_vectors: dict[str, np.ndarray] = {}

    @property
    def model(self) -> SentenceTransformer:
        return load(resolve_model(self.model_name), self.device, self.backend)

    @functools.cached_property
    def dimension(self) -> int:
        builder = self._builder
        if builder is not None:  # without loading torch
            return int(builder.token_sums(["dimension"]).shape[1])
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, not counting its two special tokens; from the
        model's configuration when it has one, so checking a build need not load it."""
        config = Path(resolve_model(self.model_name)) / "sentence_bert_config.json"
        try:
            return int(json.loads(config.read_text(encoding="utf-8"))["max_seq_length"]) - 2
        except (OSError, ValueError, KeyError, TypeError):
            return int(self.model.max_seq_length) - 2

    def count_tokens(self, texts: Iterable[str]) -> list[int]:
        """Word pieces of each text, counted COUNT_BATCH texts at a time: the tokenizer's
        id lists for a whole large document at once would take more memory than its text."""
        counts: list[int] = []
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == COUNT_BATCH:
                counts.extend(self._count(batch))
                batch = []
        counts.extend(self._count(batch))
        return counts

    def _count(self, texts: list[str]) -> list[int]:
        return self._counter(texts) if texts else []

    @functools.cached_property
    def _counter(self) -> Callable[[list[str]], list[int]]:
        """Word-piece counts from the model's own tokenizer file, read without the model:
        reading a corpus need not load torch, so a build's reading and its model are not in
        memory at once. A model without that file is loaded for its tokenizer."""
        path = Path(resolve_model(self.model_name)) / "tokenizer.json"
        if not path.is_file():
            # Counting is not encoding: a text longer than the model reads is expected here
            # (the chunker cuts it to fit), so the tokenizer's warning would only mislead.
            return lambda texts: [
                len(ids)
                for ids in self.model.tokenizer(texts, add_special_tokens=False, verbose=False)[
                    "input_ids"
                ]
            ]
        import tokenizers

        tokenizer = tokenizers.Tokenizer.from_file(str(path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return lambda texts: [
            len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)
        ]

    def encode_passages(
        self,
        parts: Sequence[Sequence[str]],
        progress: ProgressCallback | None = None,
        step: int = 32,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit vectors of passages given as their parts (heading, sentences), and of each
        part: one row per passage, and per passage an array with one row per part.

        Each distinct part is run through the model once, on its own; a part's vector is
        exactly what the model's `encode` gives it. A passage's vector is the mean of all its parts'
        token vectors: the model's own mean pooling, without attention across sentences.
        That costs one pass over the text instead of two (passages, then sentences again),
        and text that repeats (a heading over many passages, boilerplate) is embedded once.
        """
        import numpy as np

        unique = list(dict.fromkeys(p for group in parts for p in group))
        # Sums of token vectors, not means: normalising removes the token count anyway.
        sums = np.zeros((len(unique), self.dimension), dtype=np.float32)
        order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
        builder = self._builder
        for begin in range(0, len(order), step):
            rows = order[begin : begin + step]
            texts = [unique[i] for i in rows]
            longest = self.count_tokens([texts[-1]])[0] + 2
            # Attention holds batch × length² scores per head: long texts go in smaller
            # batches, so a build's peak memory does not depend on its longest sentences.
            batch = max(1, min(self.batch_size, TOKENS_PER_BATCH // longest))
            if builder is not None:
                for b in range(0, len(rows), batch):
                    sums[rows[b : b + batch]] = builder.token_sums(texts[b : b + batch])
            else:
                tokens = self.model.encode(
                    texts,
                    batch_size=batch,
                    output_value="token_embeddings",
                    show_progress_bar=False,
                )
                for i, token_vectors in zip(rows, tokens, strict=True):
                    sums[i] = token_vectors.float().sum(dim=0).cpu().numpy()
                del tokens
            release_freed_memory()  # or the build's memory grows with the corpus (see there)
            if progress:
                progress(len(rows))
        row_of = {text: i for i, text in enumerate(unique)}
        passages = np.zeros((len(parts), self.dimension), dtype=np.float32)
        part_vectors = []
        for j, group in enumerate(parts):
            block = sums[[row_of[p] for p in group]]
            passages[j] = block.sum(axis=0)
            part_vectors.append(_normalized(block))
        return _normalized(passages), part_vectors

    @functools.cached_property
    def _queries(self) -> OnnxEncoder | None:
        """The torch-free encoder for questions and words (bot.core.index.onnx_encoder), exported
        from this model on first use; None where it does not apply (int8, a GPU) or the
        export cannot be made here (then sentence-transformers encodes, with equal vectors)."""
        from bot.core.index.onnx_encoder import (
            INT8_FILE,
            MODEL_FILE,
            OnnxEncoder,
            cache_dir,
            export,
            quantize,
        )

        if self.backend != DEFAULT_BACKEND or self.device != "cpu":
            return None
        model_dir = resolve_model(self.model_name)
        folder = cache_dir(model_dir)
        int8 = self.settings.query_precision == "int8"
        try:
            if not (folder / MODEL_FILE).is_file():
                export(model_dir, folder)
            if int8 and not (folder / INT8_FILE).is_file():
                quantize(folder)
        except ImportError:
            return None
        return OnnxEncoder(folder, model_file=INT8_FILE if int8 else MODEL_FILE)

    @functools.cached_property
    def _builder(self) -> OnnxEncoder | None:
        """What a build embeds with: the fp32 export of the model through ONNX Runtime, so a
        build need not hold torch (about 0.3 GB) once the export exists; its vectors are the
        model's own (the same export answers questions). None where the query path has no
        export: sentence-transformers embeds."""
        from bot.core.index.onnx_encoder import MODEL_FILE, OnnxEncoder

        queries = self._queries
        if queries is None:
            return None
        if queries.model_file == MODEL_FILE:
            return queries
        return OnnxEncoder(queries.folder, model_file=MODEL_FILE)

    def prepare_queries(self) -> dict[str, str] | None:
        """Make the query encoder now (while torch is loaded anyway, during a build), so
        that answering later never needs torch; what it is, for the manifest."""
        encoder = self._queries
        if encoder is None:
            return None
        return {"runtime": "onnxruntime", **encoder.identity()}

    def _encode_short(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of short texts (questions, words): through ONNX Runtime when it can."""
        encoder = self._queries
        if encoder is not None:
            import numpy as np

            return np.concatenate(
                [encoder.encode(texts[i : i + 128]) for i in range(0, len(texts), 128)]
            )
        return self.model.encode(
            texts,
            batch_size=max(self.batch_size, 128),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype("float32")

    def encode_words(self, words: Sequence[str]) -> np.ndarray:
        """Unit vectors of single words, one row per word, cached for the process."""
        import numpy as np

        new = sorted({w for w in words if w not in self._word_vectors})
        if new:
            vectors = self._encode_short(new)
            self._word_vectors.update(zip(new, vectors, strict=True))
        if not words:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._word_vectors[w] for w in words])

    def encode_query(self, text: str) -> np.ndarray:
        return self._encode_short([text])


def _normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
