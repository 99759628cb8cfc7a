"""Questions are encoded through ONNX Runtime, without torch, into the same vectors
sentence-transformers gives them."""

from __future__ import annotations

import numpy as np

from bot.core.index.model import resolve_model
from bot.core.index.onnx_encoder import MODEL_FILE, cache_dir
from bot.tools.corpus import load_corpus
from tests.conftest import REPO, heavy_imports

QUESTIONS = sorted(
    {
        item.question
        for entry in load_corpus(REPO / "eval" / "corpus.yaml", ["train", "dev"])
        for item in [*entry.qa_set.questions, *(t for c in entry.qa_set.conversations for t in c)]
    }
)


def test_query_vectors_match_sentence_transformers(embedder):
    assert embedder._queries is not None, "the default backend encodes questions with ONNX"
    onnx = np.concatenate([embedder.encode_query(q) for q in QUESTIONS[:300]])
    reference = embedder.model.encode(QUESTIONS[:300], normalize_embeddings=True)
    cosines = (onnx * reference).sum(axis=1)
    assert len(QUESTIONS) > 1000 and cosines.min() >= 0.9999, cosines.min()


def test_word_vectors_match_and_batches_do_not_change_them(embedder):
    words = ["licence", "ambassador", "glob", "extension", "Sophia", "a", "unconscionable"]
    onnx = embedder.encode_words(words)
    reference = embedder.model.encode(words, normalize_embeddings=True)
    assert ((onnx * reference).sum(axis=1) >= 0.9999).all()
    one_by_one = np.concatenate([embedder._queries.encode([w]) for w in words])
    assert np.allclose(one_by_one, onnx, atol=1e-5)


def test_the_export_is_made_once_per_model(embedder):
    folder = cache_dir(resolve_model(embedder.model_name))
    assert (folder / MODEL_FILE).is_file()
    assert folder == cache_dir(resolve_model("all-MiniLM-L6-v2"))  # one per weights file


def test_the_index_records_the_export_it_was_built_with(article_index_dir, embedder):
    import hashlib

    from bot.core.index.snapshot import read_manifest

    recorded = read_manifest(article_index_dir).query_encoder
    folder = cache_dir(resolve_model(embedder.model_name))
    assert recorded["runtime"] == "onnxruntime"
    assert recorded["file"] == str(folder / MODEL_FILE)
    assert recorded["sha256"] == hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()


def test_asking_imports_no_torch(article_index_dir):
    heavy = {"torch", "transformers", "sentence_transformers"}
    index = ["--index-dir", str(article_index_dir)]
    assert heavy_imports([*index, "ask", "Who is Lu Kang?"], heavy) == set()
    # the REPL's answers too, a follow-up included
    questions = "Who is Koichi Nakano?\nWhich university is he at?\n"
    assert heavy_imports([*index, "repl"], heavy, stdin=questions) == set()


def test_int8_queries_stay_close_to_fp32(embedder):
    from bot.core.index.embedding import Embedder
    from bot.core.settings import EmbedderSettings

    int8 = Embedder(EmbedderSettings(query_precision="int8"))
    questions = QUESTIONS[:100]
    low = np.concatenate([int8.encode_query(q) for q in questions])
    full = np.concatenate([embedder.encode_query(q) for q in questions])
    cosines = (low * full).sum(axis=1)
    # measured: mean 0.967, min 0.942 (quantised weights move every vector a little)
    assert cosines.min() > 0.9 and cosines.mean() > 0.95, (cosines.min(), cosines.mean())
    assert int8.name == embedder.name  # the index's passages are the same: not stale
