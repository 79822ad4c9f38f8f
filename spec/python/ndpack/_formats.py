"""The file formats ``ndpack.open`` reads, as TypeScript's format table does
(src/formats/index.ts): each format's reader class, tried in order on the file's first bytes."""

from __future__ import annotations

from urllib.parse import urlsplit

from . import reference
from ._io import is_url, open_source, shown_url
from ._npy import NpyReader
from ._npz import NpzReader
from ._reader import FILE_OPEN_OPTIONS, FIRST_READ, Reader, close_quietly, read_exactly
from ._safetensors import SafetensorsReader
from .reference import NdpackError

#: The reader classes of the formats read lazily, in the order their ``sniff`` is tried.
FILE_READERS = (Reader, NpyReader, NpzReader, SafetensorsReader)


def open_file(location, *, storage_options=None, retries=None, timeout=None, reader_class=None,
              **options):
    """A lazy reader of the file at a path or URL: ``reader_class``, or by default the class
    ``format_reader`` tells from the file's first bytes (read once: the reader parses its header
    from them) and its name."""
    # The options first, as the reader checks them: a misspelt one costs no read (no request).
    reference._check_limits({k: v for k, v in options.items()
                             if k not in ("raw_bits", "void_dtype")}, "open", FILE_OPEN_OPTIONS)
    source = open_source(location, storage_options, retries=retries, timeout=timeout)
    first_bytes = None
    if reader_class is None:
        try:
            size = source.size
            first_bytes = read_exactly(source, 0, min(size, FIRST_READ), size, location)
            reader_class = format_reader(location, first_bytes, size)
        except BaseException:
            close_quietly(source)
            raise
    return reader_class(source, storage_options=storage_options, retries=retries,
                        timeout=timeout, first_bytes=first_bytes, **options)


def format_reader(location, first_bytes, size: int) -> type[Reader]:
    """The reader class of a file: the one of ``FILE_READERS`` whose ``sniff`` accepts its first
    bytes; else the one its name's extension (a URL's path's, not its query's) names, whose checks
    then say what is wrong; else BAD_MAGIC."""
    found = sniffed_reader(first_bytes, size)
    if found is not None:
        return found
    name = urlsplit(location).path if is_url(location) else str(location)
    found = next((c for c in FILE_READERS if name.lower().endswith(c.extensions)), None)
    if found is None:
        raise NdpackError("BAD_MAGIC", f"{shown_url(location)} is not an ndpack, .npy, .npz or .safetensors "
                          f"file (it begins with {bytes(first_bytes[:8])!r})")
    return found


def sniffed_reader(first_bytes, size: int) -> type[Reader] | None:
    """The reader class of ``FILE_READERS`` whose ``sniff`` accepts a file of ``size`` bytes
    beginning with ``first_bytes`` (its first ``FIRST_READ``, or all of a shorter file), or None."""
    return next((c for c in FILE_READERS if c.sniff(first_bytes, size)), None)


def reopen_file(location, options, reader_class):
    """``open_file`` with the format known (a reader unpickled in a Dask worker)."""
    return open_file(location, reader_class=reader_class, **options)
