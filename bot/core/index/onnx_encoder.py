"""Encoding without PyTorch: the embedding model exported once to ONNX, run with ONNX
Runtime, tokenised with `tokenizers`, pooled and normalised in numpy.

Answering a question needs one small transformer pass; importing torch and
sentence-transformers for it costs seconds and hundreds of megabytes. The export is made from
the same weights (fp32), so a vector matches sentence-transformers' (cosine 1.0 to six
decimals). Builds embed through it too once it exists (`token_sums`); the first build makes
it, once per model, into the user's cache, which is the one time torch loads.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.memory import release_freed_memory

if TYPE_CHECKING:
    import numpy as np

MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"  # the same, weights quantised to int8 (dynamic quantisation)
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 256  # what sentence-transformers reads of a text with this model


def cache_dir(model_dir: str) -> Path:
    """Where the export of the model in `model_dir` lives: keyed by where its weights are,
    their size and modification time (hashing 90 MB of weights would cost every start a
    quarter of a second), so new or changed weights get an export of their own."""
    weights = Path(model_dir) / "model.safetensors"
    stat = weights.stat() if weights.is_file() else None
    identity = f"{Path(model_dir).resolve()}\0{stat.st_size if stat else ''}\0"
    identity += str(stat.st_mtime_ns if stat else "")
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "qabot" / "onnx" / key


def export(model_dir: str, out: Path) -> None:
    """Export the transformer in `model_dir` to ONNX (needs torch, transformers and onnx:
    the building side has them). Written aside and renamed, so a reader never sees half."""
    import shutil
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # loading weights is not the user's business
    transformers_logging.set_verbosity_error()

    class _Hidden(torch.nn.Module):  # ONNX wants positional inputs and one output
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = AutoModel.from_pretrained(model_dir).eval()
    sample = AutoTokenizer.from_pretrained(model_dir)(["a sample query"], return_tensors="pt")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{MODEL_FILE}.{os.getpid()}.tmp"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings():
        # The exporter narrates its tracing (deprecations, tracer notes): nothing a user acts on.
        warnings.simplefilter("ignore")
        _export(torch, _Hidden(model), sample, names, tmp)
    shutil.copyfile(Path(model_dir) / TOKENIZER_FILE, out / TOKENIZER_FILE)
    os.replace(tmp, out / MODEL_FILE)


def _export(torch: Any, model: Any, sample: Any, names: list[str], path: Path) -> None:
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    torch.onnx.export(
        model,
        tuple(sample[name] for name in names),
        str(path),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )


def quantize(folder: Path) -> None:
    """The int8 variant of an export, beside it (written aside and renamed)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs advice on a pre-processing step that matters for convolutions, not this model.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        tmp = folder / f".{INT8_FILE}.{os.getpid()}.tmp"
        quantize_dynamic(str(folder / MODEL_FILE), str(tmp), weight_type=QuantType.QInt8)
        os.replace(tmp, folder / INT8_FILE)
    finally:
        root.setLevel(level)


class OnnxEncoder:
    """Unit vectors of texts from an exported model; thread-safe."""

    def __init__(self, folder: Path, threads: int = 0, model_file: str = MODEL_FILE):
        self.folder = folder
        self.threads = threads  # 0: ONNX Runtime's choice
        self.model_file = model_file

    def identity(self) -> dict[str, str]:
        """The model file and its digest, so an index can say which export it was built with."""
        from bot.core.index.integrity import file_sha256

        path = self.folder / self.model_file
        return {"file": str(path), "sha256": file_sha256(path)}

    @functools.cached_property
    def _session(self) -> tuple[Any, Any]:
        import onnxruntime
        import tokenizers

        options = onnxruntime.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        session = onnxruntime.InferenceSession(
            str(self.folder / self.model_file), options, providers=["CPUExecutionProvider"]
        )
        release_freed_memory()
        tokenizer = tokenizers.Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding()
        return session, tokenizer

    def token_sums(self, texts: Sequence[str]) -> np.ndarray:
        """The sum of each text's token vectors (padding left out): what a build pools a
        passage's vector from, as sentence-transformers' token embeddings summed."""
        import numpy as np

        session, tokenizer = self._session
        encoded = tokenizer.encode_batch(list(texts))
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        hidden = session.run(None, feeds)[0]
        return (hidden * mask[..., None]).sum(axis=1).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        session, tokenizer = self._session
        encoded = tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        types = np.array([e.type_ids for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = session.run(None, feeds)[0]
        # The model's own pooling: the mean of the token vectors, padding left out.
        summed = (hidden * mask[..., None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
