"""Transports: byte sources that ``open`` reads ranges from, and atomic file replacement.

A source has ``size``, ``location`` and ``read(offset, length)``; the format code (reference.py)
never does I/O itself, it is given bytes. A local path is memory-mapped, so ranges are zero-copy
views; anything with ``://`` goes through fsspec (HTTP ``Range`` requests, ``s3://`` with s3fs...).
"""

from __future__ import annotations

import mmap
import os
import secrets

from .reference import NdpackError


def is_url(location) -> bool:
    return isinstance(location, str) and "://" in location


class FileSource:
    """A local file, memory-mapped read-only: ``read`` returns views of the map (no copy)."""

    def __init__(self, path):
        self.location = os.fspath(path)
        with open(self.location, "rb") as fh:
            self.size = os.fstat(fh.fileno()).st_size
            # An empty file cannot be mapped; the format code reports it as BAD_MAGIC/TRUNCATED.
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if self.size else None
        self._view = memoryview(self._map) if self._map is not None else memoryview(b"")

    def read(self, offset: int, length: int) -> memoryview:
        if self._view is None:
            raise ValueError("I/O operation on a closed ndpack reader")
        return self._view[offset : offset + length]

    def close(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # arrays still view it: it is freed with the last of them
            self._map = None


class FsspecSource:
    """Any fsspec URL. Each ``read`` is one ranged request (``cat_file`` with start and end), so
    only the header and the records asked for cross the network."""

    def __init__(self, url: str, storage_options: dict | None = None):
        try:
            import fsspec
        except ImportError:
            raise NdpackError("INVALID_ARGUMENT", f"reading {url} needs fsspec: "
                              "pip install 'ndpack[remote]'") from None
        self.location = url
        self._fs, self._path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.size = self._call(self._fs.size, self._path)
        if self.size is None:
            raise NdpackError("IO_ERROR", f"{url}: the server does not give the file's size")

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        data = self._call(self._fs.cat_file, self._path, start=offset, end=offset + length)
        if len(data) > length:  # a whole file where a range was asked for
            raise NdpackError("HTTP_ERROR", f"{self.location}: the server ignores Range requests")
        if len(data) != length:  # the file is shorter than when it was opened
            raise NdpackError("FILE_CHANGED", f"{self.location}: asked for {length} bytes at "
                              f"{offset}, got {len(data)}")
        return data

    def _call(self, method, *args, **kwargs):
        """A filesystem call; its failures other than a missing file (FileNotFoundError, as for a
        local path) become HTTP_ERROR (a response status) or IO_ERROR, with the cause chained."""
        try:
            return method(*args, **kwargs)
        except (FileNotFoundError, NdpackError):
            raise
        except Exception as ex:  # noqa: BLE001 (aiohttp's, botocore's...: each filesystem its own)
            status = getattr(ex, "status", None)
            raise NdpackError("HTTP_ERROR" if status else "IO_ERROR",
                              f"{self.location}: {ex}") from ex

    def close(self) -> None:
        pass


def open_source(location, storage_options: dict | None = None):
    """The source for a path or URL."""
    if is_url(location):
        return FsspecSource(location, storage_options)
    if storage_options:
        raise NdpackError("INVALID_ARGUMENT", "storage_options apply to URLs only")
    return FileSource(location)


def fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under a temporary name in the target's folder and renamed over the target
    by ``commit``: a reader sees the old file or the complete new one, never a part.

    ``commit(rename=True)`` flushes, fsyncs, renames and fsyncs the folder; ``commit(rename=False)``
    stops after the fsync, for set writers that rename many files at once (``rename_into_place``).
    ``abort`` removes the temporary file. As a context manager it aborts on an exception."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        self.folder = os.path.dirname(self.path)
        base = os.path.basename(self.path)
        self.temp = os.path.join(self.folder, f".{base}.{secrets.token_hex(4)}.tmp")
        # 0o666 minus the umask, as for any new file (mkstemp would make it 0o600).
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        self.file = os.fdopen(fd, "wb")

    def write(self, data) -> None:
        self.file.write(data)

    def commit(self, rename: bool = True) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if rename:
            self.rename_into_place()
            fsync_dir(self.folder)

    def rename_into_place(self) -> None:
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is not None:
            self.abort()
