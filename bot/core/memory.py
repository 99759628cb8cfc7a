"""Handing freed memory back to the system.

glibc keeps the pages a program frees for its own reuse. Two of qabot's steps free a lot at
once and never need it again in that shape: building an ONNX Runtime session (it copies
the model file's weights, then frees the copy) and each batch of token vectors while
building an index (PyTorch's intermediate tensors vary in size with every batch, so freed
blocks fragment instead of being reused). Without this, a build's resident memory grows
with the corpus and a long-running bot holds tens of megabytes it does not use.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_freed_memory() -> None:
    """Return freed heap pages to the system; a no-op where there is no glibc."""
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):  # not glibc: no malloc_trim
            libc.malloc_trim(0)
