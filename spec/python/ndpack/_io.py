"""Transports: byte sources that ``open`` reads ranges from, and atomic file replacement.

A source has ``size``, ``location`` and ``read(offset, length)``; the format code (reference.py)
never does I/O itself, it is given bytes. A local path is memory-mapped, so ranges are zero-copy
views; anything with ``://`` goes through fsspec (HTTP ``Range`` requests, ``s3://`` with s3fs...).
"""

from __future__ import annotations

import mmap
import os
import secrets
import stat

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
            raise NdpackError("CLOSED", f"{self.location}: the reader is closed")
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


#: What a temporary name adds to the final name: a dot before, ``.<12 hex digits>.tmp`` after.
TEMPORARY_NAME_EXTRA = 1 + 1 + 12 + 4
#: Temporary names may always be this long (bytes): far below any file system's limit.
TEMPORARY_NAME_ALWAYS_FITS = 64


def temporary_name(name: str) -> str:
    """``.<name>.<12 random hex digits>.tmp``, ``<name>`` cut (between characters) so that the
    whole is no longer than ``name`` itself when ``name`` is longer than 64 bytes: a final name the
    file system accepts always has a temporary name it accepts (as TypeScript's
    ``temporaryName``)."""
    budget = max(len(os.fsencode(name)), TEMPORARY_NAME_ALWAYS_FITS) - TEMPORARY_NAME_EXTRA
    prefix = []
    for character in name:
        budget -= len(os.fsencode(character))
        if budget < 0:
            break
        prefix.append(character)
    return f".{''.join(prefix)}.{secrets.token_hex(6)}.tmp"


def check_target(target, follow_symlinks: bool = False) -> tuple[str, int | None]:
    """Where a write to ``target`` lands, and the permission bits of the file it replaces (None for
    a new file), by the TypeScript writer's rule (``checkTarget`` in src/node/io.ts): the path must
    name a regular file or nothing. A symbolic link is refused unless ``follow_symlinks``, and then
    the file it points to must be regular; directories, devices, FIFOs and sockets are always
    refused (NOT_REGULAR_FILE). Only the permission bits (0o777) of a replaced file are kept."""
    shown = os.fspath(target)
    if isinstance(shown, bytes):
        shown = os.fsdecode(shown)
    if shown.endswith(("/", os.sep)):
        raise NdpackError("NOT_REGULAR_FILE", f"{shown} ends with a path separator, so it names a "
                          "directory: ndpack writes only regular files")
    path = os.path.abspath(shown)
    info = _lstat(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        if not follow_symlinks:
            raise NdpackError("NOT_REGULAR_FILE", f"{shown} is a symbolic link: ndpack does not "
                              "write through links unless asked (follow_symlinks=True)")
        path = os.path.realpath(path)
        if not os.path.exists(path):  # a dangling link, or a loop
            raise NdpackError("NOT_REGULAR_FILE", f"{shown} is a symbolic link to a file that "
                              "cannot be reached")
        info = _lstat(path)
    if info is None:
        return path, None
    if not stat.S_ISREG(info.st_mode):
        raise NdpackError("NOT_REGULAR_FILE", f"{shown} is not a regular file (a directory, "
                          "device, FIFO or socket): ndpack writes only regular files")
    return path, stat.S_IMODE(info.st_mode) & 0o777


def _lstat(path: str):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


class AtomicFile:
    """A file written under a temporary name in the target's folder and renamed over the target
    by ``commit``: a reader sees the old file or the complete new one, never a part.

    The target must be a regular file or absent (``check_target``: NOT_REGULAR_FILE for a
    symbolic link unless ``follow_symlinks``, which replaces the file it points to). A replaced
    file's permission bits are kept; a new file gets 0o666 less the umask, as ``open`` gives it.
    ``commit(rename=True)`` flushes, fsyncs, renames and fsyncs the folder; ``commit(rename=False)``
    stops after the fsync, for set writers that rename many files at once (``rename_into_place``).
    ``abort`` removes the temporary file. As a context manager it aborts on an exception."""

    def __init__(self, path, *, follow_symlinks: bool = False):
        self.path, mode = check_target(path, follow_symlinks)
        self.folder = os.path.dirname(self.path)
        self.temp = os.path.join(self.folder, temporary_name(os.path.basename(self.path)))
        # 0o666 minus the umask, as for any new file (mkstemp would make it 0o600).
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the replaced file's bits, which the umask may have cut
        except BaseException:
            os.close(fd)
            os.unlink(self.temp)
            raise
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
