"""An xarray backend: ``xr.open_dataset("file.ndp", engine="ndpack")`` (also a set's index or a URL).
Without ``engine=``, xarray picks it for a path with one of the formats' extensions, or a local
file whose first bytes are one of the formats' (``guess_can_open``), whatever its name.

Each array becomes a lazily loaded variable with dimensions ``<name>_0``, ``<name>_1``... (ndpack
files do not name dimensions; ``_dim`` is appended to one that is another array's name, which
xarray would make a coordinate); the file's metadata becomes the dataset's ``attrs``. Opening reads
the header only (dtypes and shapes come from it). Indexing reads only the rows it needs
(``Reader.read_rows``), after the array's record has been checked once (on its first access: its
CRC-32 and padding, one pass over its stored bytes, nothing decompressed), so damaged bytes raise
``NdpackError`` (CHECKSUM) rather than becoming values. ``backend_kwargs`` (``storage_options``,
``retries``, ``timeout``, ``raw_bits``, limits) go to ``ndpack.open``, but ``mmap``: with
``mmap=True`` (local files only, as ``ndpack.dask.from_ndpack``'s), the rows an index asks for are
a read-only view of a memory map of the file (``Reader.map_rows``), as xarray's scipy backend
gives with its own ``mmap``, after the same check of the whole record on first access; a
compressed or F-order array is still read. Its price is ``np.memmap``'s: see ``ndpack.dask``.
``drop_variables`` is a name or a list of names. xarray's CF decoding options (``decode_times``,
``mask_and_scale``, ...: ``CF_DECODERS``) are taken and change nothing: an ndpack array carries no
CF attributes (``units``, ``_FillValue``, ``scale_factor``) to decode it by."""

from __future__ import annotations

import io
import os
import secrets
import stat
import threading
from collections import OrderedDict

import numpy as np

try:
    import xarray as xr
    from xarray.backends import BackendArray, BackendEntrypoint
    from xarray.core import indexing
except ImportError as ex:  # as ndpack.dask: say which extra brings it
    raise ImportError(f"ndpack.xarray needs xarray ({ex}): pip install 'ndpack[xarray]'") from ex

from . import open as open_ndpack
from ._formats import sniffed_reader
from ._io import is_url, shown_url
from ._reader import FIRST_READ, _rows_in_place, array_dtype, check_mmap
from ._sets import SetReader
from .reference import NdpackError


#: Arrays this process has verified, by dataset (a token of each ``open_dataset``) and name, the
#: most recently used last: on Dask's processes scheduler every chunk task unpickles its own copy
#: of an array, which would check the whole array again for each chunk (quadratic in the chunks).
#: A process trusts an array it has checked for the same dataset, as one array object shared by
#: threads does; a dataset opened again checks again (a file's identity cannot tell a rewrite
#: within the clock's resolution, which the CRC-32 catches).
_VERIFIED: OrderedDict[tuple, None] = OrderedDict()
_VERIFIED_KEPT = 4096
_VERIFIED_LOCK = threading.Lock()


class NdpackBackendArray(BackendArray):
    """One array of an open reader, read by rows once verified."""

    def __init__(self, reader, name: str, dataset: str, mmap: bool = False):
        self.reader, self.name, self._dataset, self._mmap = reader, name, dataset, mmap
        # The reader of the file holding it (a set's shard: opened, its header only, to know it).
        self._file = reader.reader_of(name) if isinstance(reader, SetReader) else reader
        check_mmap(mmap, self._file)
        self._info = self._file.info(name)
        # Rows of an array stored whole in place are views of the map; the others are read.
        self._rows = reader.map_rows if mmap and _rows_in_place(self._info) else reader.read_rows
        self.shape = self._info.shape
        self.dtype = array_dtype(self._file, self._info)
        self._verified = False
        self._lock = threading.Lock()

    def __getstate__(self):
        # The reader travels as the arguments that open it again (Reader.__reduce__, SetReader's),
        # the lock not at all (Dask's processes scheduler, distributed); the file's identity with
        # it, so that the copy reads the file this array describes, or fails.
        return (self.reader, self.name, self._dataset, self._mmap, self._file._source.identity,
                self._verified)

    def __setstate__(self, state):
        reader, name, dataset, mmap, identity, verified = state
        file = reader.reader_of(name) if isinstance(reader, SetReader) else reader
        if file._source.identity != identity:
            raise NdpackError("FILE_CHANGED", f"{shown_url(file.location)}: the file changed since the "
                              f"dataset was opened ({identity} then, {file._source.identity} now)",
                              array=name)
        self.__init__(reader, name, dataset, mmap)
        self._verified = verified  # checked in this file, the same (its identity) as here

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape,
                                                  indexing.IndexingSupport.BASIC, self._read)

    def _verify_once(self) -> None:
        with self._lock:
            if self._verified:
                return
            self._file._check_open()
            key = (self._dataset, self.name)
            with _VERIFIED_LOCK:
                if key in _VERIFIED:
                    _VERIFIED.move_to_end(key)
                    self._verified = True
                    return
            # As Reader.verify: CHECKSUM or BAD_PADDING on damaged bytes, nothing decoded.
            self._file._verify_record(self._info)
            self._verified = True
            with _VERIFIED_LOCK:
                _VERIFIED[key] = None
                while len(_VERIFIED) > _VERIFIED_KEPT:
                    _VERIFIED.popitem(last=False)

    def _read(self, key: tuple) -> np.ndarray:
        self._verify_once()
        if not self.shape:
            return np.asarray(self.reader.read(self.name))
        first, rest = key[0], key[1:]
        if isinstance(first, slice):
            # The rows from the first to the last asked for, then every step-th (backwards for a
            # negative step, which starts at the last of them), not the whole array.
            rows = range(*first.indices(self.shape[0]))
            low, high = (min(rows[0], rows[-1]), max(rows[0], rows[-1]) + 1) if rows else (0, 0)
            span = self._rows(self.name, low, high)
            return np.asarray(span[(slice(None, None, rows.step),) + rest])
        return np.asarray(self._rows(self.name, first, first + 1)[(0,) + rest])


def _dimension(name: str, axis: int, names: set) -> str:
    """The dimension ``<name>_<axis>``, with ``_dim`` appended until it is no array's name (xarray
    would make that array its coordinate). Distinct arrays' dimensions stay distinct: stripped of
    the ``_dim`` suffixes, each is its own ``<name>_<axis>``, which ends in a digit."""
    dim = f"{name}_{axis}"
    while dim in names:
        dim += "_dim"
    return dim


#: The CF decoding options that ``xr.open_dataset`` hands every backend when its caller gives them
#: (``decode_times=False``...): the backend's own, so that they do not reach ``ndpack.open``,
#: which knows no such option (INVALID_ARGUMENT).
CF_DECODERS = ("mask_and_scale", "decode_times", "decode_timedelta", "concat_characters",
               "use_cftime", "decode_coords")


#: The file name endings that ``guess_can_open`` takes without reading the file.
EXTENSIONS = (".ndp", ".ndpack", ".npy", ".npz", ".safetensors", ".ndp.index.json",
              ".safetensors.index.json")


class NdpackBackendEntrypoint(BackendEntrypoint):
    """``engine="ndpack"`` for ``xarray.open_dataset``."""

    description = ("Named n-dimensional arrays in ndpack, .npy, .npz and .safetensors files and "
                   "sets (.ndp, .npy, .npz, .safetensors, *.index.json)")
    open_dataset_parameters = ("filename_or_obj", "drop_variables") + CF_DECODERS
    url = "https://github.com/ndpack/ndpack"

    def open_dataset(self, filename_or_obj, *, drop_variables=None, mmap=False,
                     mask_and_scale=None, decode_times=None, decode_timedelta=None,
                     concat_characters=None, use_cftime=None, decode_coords=None,
                     **backend_kwargs):
        """The dataset of ``filename_or_obj``'s arrays: see the module documentation."""
        check_mmap(mmap)
        reader = open_ndpack(filename_or_obj, **backend_kwargs)
        try:
            # One name as a str, as xarray's own backends take it (not its characters).
            drop = ({drop_variables} if isinstance(drop_variables, str)
                    else set(drop_variables or ()))
            names = set(reader)
            dataset = secrets.token_hex(16)  # this opening's arrays, in any process (_VERIFIED)
            variables = {}
            for name in reader:
                if name in drop:
                    continue
                array = NdpackBackendArray(reader, name, dataset, mmap)  # a set's shard opened here
                dims = [_dimension(name, axis, names) for axis in range(len(array.shape))]
                variables[name] = xr.Variable(dims, indexing.LazilyIndexedArray(array))
            dataset = xr.Dataset(variables, attrs=dict(reader.metadata))
        except BaseException:
            # No dataset will close the reader (a set's shards opened so far): closed here, not
            # left open for as long as the error (whose traceback holds it) lives.
            reader.close()
            raise
        dataset.set_close(reader.close)
        return dataset

    def guess_can_open(self, filename_or_obj) -> bool:
        """Whether ``xr.open_dataset`` without ``engine=`` should open ``filename_or_obj`` with
        this backend: a path or URL with one of the formats' extensions, or, whatever its name, a
        local file or a seekable binary file object whose first bytes are one of the formats'
        (told as ``ndpack.open`` tells them, ``sniffed_reader``), as xarray's netCDF backends
        read a file's magic number; a file object is left at its position (``open_dataset`` itself
        takes a path or URL: INVALID_ARGUMENT for a file object, which says so). A URL's bytes are
        not asked for. Never raises: xarray asks every backend about any object (a directory, a
        missing path, bytes...), and an object this cannot read is not this backend's."""
        try:
            if isinstance(filename_or_obj, (str, os.PathLike)):
                name = os.fsdecode(filename_or_obj)
                if name.endswith(EXTENSIONS):
                    return True
                return not is_url(name) and _sniffed_path(name)
            return _sniffed_file_object(filename_or_obj)
        except Exception:  # noqa: BLE001 (any object: see above)
            return False


def _sniffed_path(path: str) -> bool:
    """Whether the regular file at ``path`` begins with one of the formats' bytes (anything else,
    a FIFO too, is not opened: opening one would wait for a writer)."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        return False
    with open(path, "rb") as file:
        return sniffed_reader(file.read(min(info.st_size, FIRST_READ)), info.st_size) is not None


def _sniffed_file_object(file) -> bool:
    """Whether a seekable file object begins with one of the formats' bytes, read from its start
    and then put back where it was (an object that cannot seek is not read: its bytes would be
    gone for the backend that opens it)."""
    if not (callable(getattr(file, "read", None)) and file.seekable()):
        return False
    position = file.tell()
    try:
        size = file.seek(0, io.SEEK_END)
        file.seek(0)
        first_bytes = file.read(min(size, FIRST_READ))
    finally:
        file.seek(position)
    return isinstance(first_bytes, bytes) and sniffed_reader(first_bytes, size) is not None


__all__ = ["NdpackBackendEntrypoint", "NdpackBackendArray"]
