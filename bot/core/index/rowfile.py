"""A float32 matrix in a .npy file, written and read a row block at a time with pwrite and
pread.

A build writes hundreds of megabytes of sentence vectors and reads back the previous
build's. Through a memory-mapped file every page written or read would count in the build's
resident memory until the kernel wrote it back; through pwrite/pread the pages live in the
system's file cache, which gives them back under pressure, and the build's own memory stays
what it holds. The file is an ordinary .npy: loading an index maps it as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_DTYPE = "<f4"


class RowWriter:
    """A new (rows, columns) float32 .npy file; assign rows or row ranges, then close."""

    def __init__(self, path: Path, shape: tuple[int, int]):
        import numpy as np

        self._fh = open(path, "wb")  # noqa: SIM115 (closed by close(), in the caller's finally)
        header = {"descr": _DTYPE, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self._fh, header)
        self._fh.flush()
        self._start = self._fh.tell()
        self._row_bytes = shape[1] * 4
        self._fh.truncate(self._start + shape[0] * self._row_bytes)

    def __setitem__(self, rows: int | slice, values: Any) -> None:
        import numpy as np

        first = rows if isinstance(rows, int) else rows.start
        data = np.ascontiguousarray(values, dtype=_DTYPE).tobytes()
        os.pwrite(self._fh.fileno(), data, self._start + first * self._row_bytes)

    def close(self) -> None:
        self._fh.close()


class RowReader:
    """Rows of an existing float32 .npy matrix, read one at a time or a block (a slice of
    consecutive rows) at a time."""

    def __init__(self, path: Path):
        import numpy as np

        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(fh)
            start = fh.tell()
        if fortran or dtype != np.dtype(_DTYPE) or len(shape) != 2:
            raise ValueError(f"{path.name} is not a float32 matrix")
        self.shape = shape
        self._fd = os.open(path, os.O_RDONLY)
        self._start = start
        self._row_bytes = shape[1] * 4

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: int | slice) -> Any:
        import numpy as np

        if isinstance(rows, slice):
            first, stop, step = rows.indices(len(self))
            if step != 1:  # one pread reads consecutive rows; a stride would be read wrong
                raise ValueError("rows are read one at a time or in consecutive blocks")
            count = max(0, stop - first)
        else:
            first, count = rows, 1
        size = count * self._row_bytes
        data = os.pread(self._fd, size, self._start + first * self._row_bytes)
        if len(data) != size:
            raise ValueError("the file is shorter than its header says")
        block = np.frombuffer(data, dtype=_DTYPE)
        return block.reshape(count, self.shape[1]) if isinstance(rows, slice) else block

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
