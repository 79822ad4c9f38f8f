"""An xarray backend: ``xr.open_dataset("file.ndp", engine="ndpack")`` (also a set's index or a URL).

Each array becomes a lazily loaded variable with dimensions ``<name>_0``, ``<name>_1``... (ndpack
files do not name dimensions); the file's metadata becomes the dataset's ``attrs``. Indexing reads
only the rows it needs (``Reader.read_rows``), after the array's CRC-32 has been checked once (on its
first access: one pass over its bytes), so damaged bytes raise ``NdpackError`` (CHECKSUM) rather
than becoming values. ``backend_kwargs`` (``storage_options``, ``retries``, ``timeout``,
``raw_bits``, limits) go to ``ndpack.open``."""

from __future__ import annotations

import threading

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from . import open as open_ndpack


class NdpackBackendArray(BackendArray):
    """One array of an open reader, read by rows once verified."""

    def __init__(self, reader, name: str):
        self.reader, self.name = reader, name
        info = reader.info(name)
        self.shape = info.shape
        self.dtype = (reader.read_rows(name, 0, 0) if info.shape else reader.read(name)).dtype
        self._verified = False
        self._lock = threading.Lock()

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape,
                                                  indexing.IndexingSupport.BASIC, self._read)

    def _verify_once(self) -> None:
        with self._lock:
            if not self._verified:
                self.reader.read(self.name)  # verify=True: CHECKSUM on damaged bytes
                self._verified = True

    def _read(self, key: tuple) -> np.ndarray:
        self._verify_once()
        if not self.shape:
            return np.asarray(self.reader.read(self.name))
        first, rest = key[0], key[1:]
        if isinstance(first, slice):
            start, stop, step = first.indices(self.shape[0])
            if step != 1:
                return np.asarray(self.reader.read(self.name)[(first,) + rest])
            rows = self.reader.read_rows(self.name, start, stop)
            return np.asarray(rows[(slice(None),) + rest])
        return np.asarray(self.reader.read_rows(self.name, first, first + 1)[(0,) + rest])


class NdpackBackendEntrypoint(BackendEntrypoint):
    """``engine="ndpack"`` for ``xarray.open_dataset``."""

    description = "Named n-dimensional arrays in ndpack files and sets (.ndp, *.index.json)"
    open_dataset_parameters = ("filename_or_obj", "drop_variables")
    url = "https://github.com/ndpack/ndpack"

    def open_dataset(self, filename_or_obj, *, drop_variables=None, **backend_kwargs):
        reader = open_ndpack(filename_or_obj, **backend_kwargs)
        drop = set(drop_variables or ())
        variables = {}
        for name in reader:
            if name in drop:
                continue
            array = NdpackBackendArray(reader, name)
            dims = [f"{name}_{axis}" for axis in range(len(array.shape))]
            variables[name] = xr.Variable(dims, indexing.LazilyIndexedArray(array))
        dataset = xr.Dataset(variables, attrs=dict(reader.metadata))
        dataset.set_close(reader.close)
        return dataset

    def guess_can_open(self, filename_or_obj) -> bool:
        try:
            name = str(filename_or_obj)
        except Exception:  # noqa: BLE001 (xarray asks every backend about any object)
            return False
        return name.endswith((".ndp", ".ndp.index.json"))


__all__ = ["NdpackBackendEntrypoint", "NdpackBackendArray"]
