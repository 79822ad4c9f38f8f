"""The file formats ``ndpack.open`` reads, as TypeScript's format table does
(src/formats/index.ts): each format's reader class, tried in order on the file's first bytes."""

from __future__ import annotations

from ._io import open_source
from ._reader import FIRST_READ, Reader, close_quietly, read_exactly
from ._safetensors import SafetensorsReader
from .reference import NdpackError

#: The reader classes of the formats read lazily, in the order their ``sniff`` is tried.
FILE_READERS = (Reader, SafetensorsReader)

#: Formats ``ndpack.open`` recognizes but does not read (TypeScript's does): their first bytes, and
#: what reads them.
_NOT_READ = ((b"\x93NUMPY", ".npy", "numpy.load"), (b"PK\x03\x04", ".npz (or another zip)",
                                                     "numpy.load, or TypeScript's ndpack.open"))


def open_file(location, *, storage_options=None, retries=None, timeout=None, reader_class=None,
              **options):
    """A lazy reader of the file at a path or URL: ``reader_class``, or by default the one of
    ``FILE_READERS`` whose ``sniff`` accepts the file's first bytes (read once: the reader parses
    its header from them), else the one its name's extension names (a damaged file then gets that
    format's error, as in TypeScript). Any other file is BAD_MAGIC."""
    source = open_source(location, storage_options, retries=retries, timeout=timeout)
    first_bytes = None
    if reader_class is None:
        try:
            size = source.size
            first_bytes = read_exactly(source, 0, min(size, FIRST_READ), size, location)
            reader_class = next((c for c in FILE_READERS if c.sniff(first_bytes, size)), None) \
                or next((c for c in FILE_READERS if str(location).lower().endswith(c.extensions)),
                        None)
            if reader_class is None:
                raise _unknown_format(location, bytes(first_bytes[:8]))
        except BaseException:
            close_quietly(source)
            raise
    return reader_class(source, storage_options=storage_options, retries=retries,
                        timeout=timeout, first_bytes=first_bytes, **options)


def reopen_file(location, options, reader_class):
    """``open_file`` with the format known (a reader unpickled in a Dask worker)."""
    return open_file(location, reader_class=reader_class, **options)


def _unknown_format(location, head: bytes) -> NdpackError:
    for magic, kind, reads_it in _NOT_READ:
        if head.startswith(magic):
            return NdpackError("BAD_MAGIC", f"{location} is a {kind} file: ndpack for Python reads "
                               f".ndp and .safetensors files ({reads_it} reads it)")
    return NdpackError("BAD_MAGIC", f"{location} is neither an ndpack nor a .safetensors file "
                       f"(it begins with {head!r})")
