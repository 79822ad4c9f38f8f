"""Dask arrays over ndpack files and sets: ``from_ndpack`` reads, ``to_ndpack`` writes.

>>> import ndpack.dask
>>> x = ndpack.dask.from_ndpack("https://host/set.ndp.index.json", "embeddings", chunks="64MiB")
>>> x.mean(axis=0).compute()                 # chunks read in parallel, one ranged read each
>>> ndpack.dask.to_ndpack({"y": x * 2}, "out.ndp")

Arrays are chunked along their first axis, whole rows per chunk, each chunk one ranged read
(``Reader.read_rows``); a set's arrays are read from their shards. Nothing is read until the graph
runs, and then only what the computation needs.

Damaged data never comes back as numbers: a part of a record cannot be checked against the record's
CRC-32, so with ``verify=True`` (the default) the graph also computes each chunk's CRC-32 (in
parallel, one task per chunk), combines them into the record's (``crc32_combine``) and compares it
with the stored one, and checks the padding after the record, in one task per array, on which
every chunk of that array depends. A corrupt chunk therefore fails the computation with
``NdpackError`` code CHECKSUM (damaged padding: BAD_PADDING) before any chunk of that array is
handed on. The price is a second read of each byte and its CRC-32 (a local file's read into
memory each thread reuses, ``Reader.payload_crc32``), once per computation.
``verify=False`` skips both, for files checked otherwise (``ndpack verify``). Bytes changed after
the CRC tasks ran are not handed on either: every read checks the file against its identity when
opened (FILE_CHANGED), a local file's too.
Compressed and F-order arrays are one chunk, read whole and verified by ``Reader.read`` when the
graph runs (building the graph reads the header only: dtypes and shapes come from it).

``mmap=True`` (local files only) hands out each chunk as a read-only view of a memory map of its
file (``Reader.map_rows``), as ``da.from_array(np.load(path, mmap_mode="r"))`` would, and computes
the CRC-32 tasks over the same map: nothing is copied, so a reduction over files in the page cache
runs at the speed of the memory, where reads copy every byte twice with ``verify=True`` (about
half the throughput on this project's machines). Its price is np.memmap's: a file truncated
while the graph runs kills the process (SIGBUS), and one rewritten in place shows its new bytes
after the check (FILE_CHANGED is checked when each task starts, not while its chunk is used).
Damage at rest is still found, the same CHECKSUM before any chunk is handed on. Each process maps
each file once, for as long as it keeps the file's reader.

The graph holds no open files: each task names its file, and each process (thread pool,
multiprocessing workers, or ``distributed`` workers) opens it once and caches the reader (those of
the ``READERS_KEPT`` files read last: a file dropped is opened again when read again). So the
same graph runs on a cluster:

>>> from dask.distributed import Client
>>> client = Client("scheduler-address:8786")   # then compute() as usual
>>> ndpack.dask.from_ndpack("s3://bucket/set.ndp.index.json", "embeddings").sum().compute()

where every worker can reach the location: a URL (fsspec, with ``storage_options``), or a path
on a file system that every worker mounts at the same place (a relative path is made absolute
when the file is opened: a worker's own working directory does not matter)."""

from __future__ import annotations

import json
import numbers
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

try:
    import dask
    import dask.array as da
    import dask.utils
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as ex:  # as for URLs without fsspec: say which extra brings it
    raise ImportError(f"ndpack.dask needs dask's arrays ({ex}): pip install 'ndpack[dask]'") from ex
import numpy as np

from . import open as open_ndpack
from . import reference
from ._crc32 import crc32_combine
from ._formats import open_file
from ._io import shown_url
from ._reader import Reader, array_dtype, check_mmap, check_verify
from ._sets import SetReader, SetWriter
from ._writer import Place, Writer, write_rows_at
from .reference import NdpackError

__all__ = ["from_ndpack", "to_ndpack", "crc32_combine"]

# --------------------------------------------------------------------------------------------------
# Tasks: each names its file; each process opens a file once (thread-safe cache).
# --------------------------------------------------------------------------------------------------

#: Readers open in this process, by file key, most recently used last: at most READERS_KEPT. The
#: least recently used beyond it is dropped and closed, once no task reads with it (a reader given
#: to from_ndpack is dropped only: it is its owner's to close).
_READERS: OrderedDict[str, _Cached] = OrderedDict()
_READERS_LOCK = threading.Lock()  # guards _READERS and every _Cached; held for no I/O
READERS_KEPT = 64


class _Cached:
    """A reader of the cache and the tasks reading with it."""

    __slots__ = ("reader", "owned", "users", "dropped")

    def __init__(self, reader: Reader, owned: bool):
        self.reader = reader
        self.owned = owned  # opened by this module, so closed by it
        self.users = 0  # tasks reading with it (_File.reader)
        self.dropped = False  # out of the cache: closed when its last task is done


def _cache(key: str, reader: Reader, owned: bool, use: bool) -> _Cached:
    """The cache's reader of ``key``, made the most recently used: ``reader``, unless the cache
    holds an open one already (then ``reader`` is closed, if owned: two tasks opened the file at
    once, or from_ndpack opened a file the cache has). ``use``: a task reads with it until
    ``_release``. Readers are closed outside the lock: closing is I/O too."""
    with _READERS_LOCK:
        entry = _READERS.get(key)
        spare = None
        if entry is None or entry.reader.closed:  # closed: a reader given to from_ndpack, since
            entry = _READERS[key] = _Cached(reader, owned)
        elif owned and reader is not entry.reader:
            spare = reader
        _READERS.move_to_end(key)
        entry.users += use
        idle = []
        while len(_READERS) > READERS_KEPT:
            _, old = _READERS.popitem(last=False)
            old.dropped = True
            if old.owned and old.users == 0:
                idle.append(old.reader)
    for r in ([spare] if spare is not None else []) + idle:
        r.close()
    return entry


def _release(entry: _Cached) -> None:
    """A task is done reading with ``entry``'s reader: closed if it was its last and the cache
    dropped it meanwhile."""
    with _READERS_LOCK:
        entry.users -= 1
        last = entry.dropped and entry.owned and entry.users == 0
    if last:
        entry.reader.close()


class _File:
    """A picklable handle on one file: its location, reader class and options, and a key that
    changes when the file does: its identity when the reader opened it (for a URL its size and
    ETag or Last-Modified, or what fsspec's ``info()`` gives; for a local file its size,
    modification time and inode). A task that opens the file again and finds another identity
    fails with FILE_CHANGED; the cached reader's own reads fail so (conditional requests, or its
    identity checked after each read) if the file changes under it."""

    __slots__ = ("location", "options", "reader_class", "key")

    def __init__(self, reader: Reader, options: dict, owned: bool):
        self.location = reader._open_args[0]  # a path made absolute, for a process elsewhere
        self.options = options
        self.reader_class = type(reader)  # Reader, NpyReader, NpzReader, a set's SafetensorsReader...
        self.key = self._key_of(reader)
        _cache(self.key, reader, owned, use=False)

    def _key_of(self, reader: Reader) -> str:
        return tokenize(self.location, json.dumps(self.options, sort_keys=True, default=repr),
                        reader._source.identity)

    def __getstate__(self):
        return self.location, self.options, self.reader_class, self.key

    def __setstate__(self, state):
        self.location, self.options, self.reader_class, self.key = state

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """The file's reader, for one task: the cache closes none while a task reads with it."""
        with _READERS_LOCK:
            entry = _READERS.get(self.key)
            if entry is not None and not entry.reader.closed:
                _READERS.move_to_end(self.key)
                entry.users += 1
            else:
                entry = None
        if entry is None:
            # Opened outside the lock (a URL's open is requests, retried), so that one slow open
            # holds up no task of another file; _cache keeps one of two opened at once.
            reader = open_file(self.location, reader_class=self.reader_class, **self.options)
            if self._key_of(reader) != self.key:
                reader.close()
                raise NdpackError("FILE_CHANGED", f"{shown_url(self.location)}: the file changed since "
                                  "the graph was built")
            entry = _cache(self.key, reader, owned=True, use=True)
        try:
            yield entry.reader
        finally:
            _release(entry)


def _chunk_crc(file: _File, name: str, start: int, stop: int, mapped: bool = False) -> tuple:
    """The CRC-32 of bytes ``[start, stop)`` of ``name``'s payload (``mapped``: of the file's
    memory map) and their length."""
    with file.reader() as reader:
        return reader.payload_crc32(name, start, stop, mapped=mapped), stop - start


def _check_record(file: _File, name: str, parts: list) -> None:
    """Section 9 step 22 for ``name``: its payload's CRC-32, combined from its chunks' ``parts``,
    against the stored one (CHECKSUM), and the padding after it (BAD_PADDING)."""
    crc = 0
    for part_crc, length in parts:
        crc = crc32_combine(crc, part_crc, length)
    with file.reader() as reader:
        reader.check_payload_crc32(name, crc)


def _read_rows(file: _File, name: str, start: int, stop: int, _checked_first=None) -> np.ndarray:
    with file.reader() as reader:
        # Checked by the array's check task (all rows of a one-chunk array too).
        return reader.read_rows(name, start, stop, verify=False)


def _map_rows(file: _File, name: str, start: int, stop: int, _checked_first=None) -> np.ndarray:
    with file.reader() as reader:
        return reader.map_rows(name, start, stop)  # checked by the array's check task


def _read_whole(file: _File, name: str, verify: bool) -> np.ndarray:
    with file.reader() as reader:
        return reader.read(name, verify=verify)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def _is_count(value) -> bool:
    """An int, numpy's integers too (np.diff of row bounds), as Dask takes them; not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _per_axis(shape: tuple, chunks, invalid) -> tuple:
    """``chunks`` as one entry per axis of ``shape`` (None: the whole axis), read as
    ``dask.array.core.normalize_chunks`` reads them, but for one value (an int, a str, -1 or None),
    which is the first axis's (Dask would give an int or a str to every axis; ndpack keeps the
    others whole), and a tuple shorter than the axes, whose axes after it are whole."""
    ndim = len(shape)
    if chunks is None or isinstance(chunks, str) or _is_count(chunks):
        return (chunks,) + (None,) * (ndim - 1)
    if isinstance(chunks, dict):
        return tuple(chunks.get(axis) for axis in range(ndim))  # as Dask: other keys are ignored
    if not isinstance(chunks, (tuple, list)):
        raise invalid("not an int, a str, None, a dict or a tuple")
    if ndim == 1 and len(chunks) > 1 and all(isinstance(c, (numbers.Number, str)) for c in chunks):
        return (tuple(chunks),)  # as Dask: on one axis, a tuple of ints is each chunk's rows
    if len(chunks) > ndim:
        raise invalid(f"{len(chunks)} entries for an array of shape {shape}")
    return tuple(chunks) + (None,) * (ndim - len(chunks))


def _chunk_bytes(size: str, invalid) -> int:
    """The bytes per chunk that ``size`` asks for: a byte size ("64MiB"), or "auto" for Dask's
    array.chunk-size."""
    try:
        return dask.utils.parse_bytes(dask.config.get("array.chunk-size") if size == "auto"
                                      else size)
    except ValueError:
        raise invalid(f"{size!r} is not a byte size") from None


def _row_chunks(shape: tuple, row_bytes: int, chunks) -> tuple[int, ...]:
    """The rows of each chunk of an array of ``shape`` (one axis or more), whose rows are
    ``row_bytes`` long, from ``chunks`` in any of Dask's forms, resolved by Dask's
    ``normalize_chunks`` with Dask's meaning, but for ndpack's: one int is rows per chunk, and a
    byte size or "auto" sizes chunks by whole rows (``_per_axis``). A form that would split another
    axis than the first, or that Dask refuses (row counts that do not add up), is
    INVALID_ARGUMENT."""
    def invalid(why: str) -> NdpackError:
        return NdpackError("INVALID_ARGUMENT", f"chunks {chunks!r}: {why} (chunks split the first "
                           "axis only: rows per chunk as an int, a byte size such as '64MiB' or "
                           "'auto', -1 or None for one chunk, or Dask's forms such as {0: 1000}, "
                           "(1000, -1) or explicit row counts ((400, 601), -1))")

    def entry(axis: int, value):
        """An axis's entry as normalize_chunks takes it: a str resolved, and the kinds that Dask
        would misread (a bool, a float, 0) refused."""
        if isinstance(value, str):
            size = _chunk_bytes(value, invalid)
            # The first axis: as many whole rows as fit, at least one. Another: whole, as a size
            # leaves the chunks' shape to them.
            return max(1, size // max(row_bytes, 1)) if axis == 0 else -1
        if value is None or (_is_count(value) and (value > 0 or value == -1)):
            return value
        if isinstance(value, (tuple, list)) and all(_is_count(c) and c >= 0 for c in value):
            return tuple(value)
        raise invalid(f"axis {axis}'s {value!r} is not a positive int, -1, None, a str or a "
                      "tuple of counts")

    per_axis = _per_axis(shape, chunks, invalid)
    try:
        normalized = normalize_chunks(tuple(entry(axis, value) for axis, value in
                                            enumerate(per_axis)), shape)
    except (ValueError, TypeError) as ex:  # row counts that do not add up to the rows
        raise invalid(str(ex)) from None
    for axis, blocks in enumerate(normalized[1:], 1):
        if len(blocks) > 1:
            raise NdpackError(
                "INVALID_ARGUMENT", f"chunks {chunks!r} split axis {axis} into {len(blocks)} "
                "blocks, but from_ndpack's chunks split only the first axis (each chunk is one "
                f"ranged read of whole rows): ask for the rows only (chunks={{0: "
                f"{per_axis[0]!r}}}, or explicit row counts such as ((400, 601), -1)), then "
                f".rechunk({chunks!r}) the array for the same blocks")
    return tuple(int(rows) for rows in normalized[0])


def _array(reader: Reader, options: dict, owned: bool, name: str, chunks, verify: bool,
           mapped: bool) -> da.Array:
    e = reader.info(name)
    file = _File(reader, options, owned)
    dtype = array_dtype(reader, e)
    rest = tuple((d,) for d in e.shape[1:])
    zeros = (0,) * max(len(e.shape) - 1, 0)
    row_bytes = e.nbytes // e.shape[0] if e.shape and e.shape[0] else 0
    # Checked for an array read whole too: chunks that are refused for one layout are for all.
    rows = _row_chunks(e.shape, row_bytes, chunks) if e.shape else ()
    # The rows, not the chunks asked for: "auto" gives other rows under another array.chunk-size,
    # and two arrays of one name and other chunks computed together would share their chunks' keys.
    token = tokenize(file.key, name, rows, verify, mapped)
    out = f"ndpack-{name}-{token}"
    whole = not e.shape or e.codec != "none" or (e.order == "F" and len(e.shape) > 1)
    if whole:  # one chunk, read and verified whole
        graph = {(out,) + (0,) * len(e.shape): (_read_whole, file, name, verify)}
        return da.Array(HighLevelGraph.from_collections(out, graph, dependencies=()), out,
                        chunks=tuple((d,) for d in e.shape), dtype=dtype)
    bounds = np.concatenate([[0], np.cumsum(rows)]).astype(int).tolist()
    graph: dict = {}
    check = None
    if verify:
        # Keys of this call's own: a check is never taken from another computation's results (a
        # file rewritten since, with the same size within its clock's resolution, or on a server
        # that gives no validator, keeps its identity; its CRC-32 does not). The chunks' keys
        # stay the same for the same file.
        unique = f"{token}-{secrets.token_hex(8)}"
        crc, check = f"ndpack-crc-{name}-{unique}", f"ndpack-check-{name}-{unique}"
        chunks_crc = range(len(rows)) if reader.checksum == "crc32" else ()
        for i in chunks_crc:
            graph[(crc, i)] = (_chunk_crc, file, name, bounds[i] * row_bytes,
                               bounds[i + 1] * row_bytes, mapped)
        graph[check] = (_check_record, file, name, [(crc, i) for i in chunks_crc])
    read_rows = _map_rows if mapped else _read_rows
    for i in range(len(rows)):
        graph[(out, i) + zeros] = (read_rows, file, name, bounds[i], bounds[i + 1], check)
    return da.Array(HighLevelGraph.from_collections(out, graph, dependencies=()), out,
                    chunks=(rows,) + rest, dtype=dtype)


#: The options of ``from_ndpack`` besides the limits.
FROM_NDPACK_OPTIONS = ("chunks", "verify", "mmap", "storage_options", "retries", "timeout",
                       "raw_bits")


def from_ndpack(source, name=None, *, chunks="auto", verify: bool = True, mmap: bool = False,
                storage_options=None, retries=None, timeout=None, raw_bits: bool = False,
                **limits):
    """Dask arrays over the arrays of an ndpack file or set (a path, a URL, or a reader from
    ``ndpack.open``): one ``dask.array.Array`` when ``name`` is a str, else a dict of them (every
    array when ``name`` is None, or those of a list of names).

    ``chunks`` cut the first axis only, each chunk being one ranged read of whole rows, and take
    the forms of ``da.from_array``'s (``dask.array.core.normalize_chunks`` resolves them), with
    Dask's meaning: ``-1`` or None (one chunk), a dict (``{0: 1000}``; an axis not in it whole),
    one entry per axis (``(1000, -1)``, ``(500, None)``, ``("64MiB", -1)``; fewer entries than
    axes: the others whole), or each chunk's rows (``((400, 601), -1)``, or ``((400, 601),)``; on
    a 1-D array ``(400, 601)`` too, as Dask reads a tuple of ints there). Two differences: one
    int is rows per chunk (Dask would cut every axis so; ndpack keeps the others whole), and a
    byte size per chunk ("64MiB"; "auto", the default, is Dask's ``array.chunk-size``) gives as
    many whole rows as fit, at least one, where Dask would shape chunks across the axes. A form
    that would cut another axis (``(1000, 5)`` on an array of 17 columns), row counts that do not
    add up to the rows, and any other kind are INVALID_ARGUMENT: read whole rows, then
    ``.rechunk(...)`` for blocks across the other axes. Checked for a compressed or F-order array
    too, which is one chunk all the same (a 0-d array is one chunk whatever they are).
    ``verify`` and ``mmap`` (local files only: INVALID_ARGUMENT for a URL): see the module
    documentation. ``storage_options``, ``retries``, ``timeout``, ``raw_bits`` and limits are
    ``ndpack.open``'s; a reader brings its own (INVALID_ARGUMENT when they are given with it),
    which every task that opens the file again uses."""
    reference._check_limits(limits, "from_ndpack", FROM_NDPACK_OPTIONS)
    check_verify(verify)
    check_mmap(mmap)
    if isinstance(source, (Reader, SetReader)):
        if (storage_options is not None or retries is not None or timeout is not None
                or raw_bits or limits):
            raise NdpackError("INVALID_ARGUMENT", "storage_options, retries, timeout, raw_bits "
                              "and limits are the reader's: give them to ndpack.open, not with a "
                              "reader")
        reader, owned = source, False
    else:
        reader = open_ndpack(source, storage_options=storage_options, retries=retries,
                             timeout=timeout, raw_bits=raw_bits, **limits)
        owned = True  # the cache closes its files (a set's shards) once it drops them
    names = [name] if isinstance(name, str) else list(reader) if name is None else list(name)
    arrays = {}
    try:
        for n in names:
            file_reader = reader.reader_of(n) if isinstance(reader, SetReader) else reader
            file_reader.info(n)  # NOT_FOUND before any graph is built
            check_mmap(mmap, file_reader)
            # Each task reopens the file (in another process, or once the cache dropped it) with
            # the options of the reader it was built from, so every scheduler reads the same arrays.
            options = dict(file_reader._open_args[1])
            arrays[n] = _array(file_reader, options, owned, n, chunks, verify, mmap)
    except BaseException:
        # A reader opened here that no array was built over is closed here: the cache never
        # took it, so it stayed open for as long as the error (whose traceback holds it) lived.
        if owned and not arrays:
            reader.close()
        raise
    return arrays[name] if isinstance(name, str) else arrays


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

def _write_block(block: np.ndarray, place: Place, block_info: dict) -> np.ndarray:
    """Write one block of whole rows at its place (``write_rows_at``): where it starts in the
    payload, its CRC-32 and its length, as a block of ``to_ndpack``'s array of parts."""
    first_row = block_info[0]["array-location"][0][0] if block.ndim else 0
    return np.array(write_rows_at(place, first_row, block), dtype=np.int64)


def _parts(a: da.Array, place: Place, token: str) -> da.Array:
    """The array of ``a``'s parts written at ``place``: ``(offset, CRC-32, length)`` per block,
    each block written by the task that computes it (a block is not sent elsewhere to be written,
    and a blockwise computation before it is fused with it)."""
    # The place in a partial: an argument of its own would be read as Dask's task syntax.
    write = partial(_write_block, place=place)
    return a.map_blocks(write, chunks=((3,) * a.numblocks[0],) if a.ndim else ((3,),),
                        drop_axis=list(range(1, a.ndim)), new_axis=None if a.ndim else [0],
                        name=f"ndpack-write-{place.entry['name']}-{token}",
                        meta=np.empty((0,), np.int64))


def _complete(writer: Writer | SetWriter, parts: dict) -> None:
    """Store the CRC-32s made of the parts', then make the file or set durable and put it in place
    (``close``); a failure aborts the writer, its temporary files removed."""
    with writer:
        writer.complete({name: [tuple(part) for part in blocks.reshape(-1, 3).tolist()]
                         for name, blocks in parts.items()})


#: The options of ``to_ndpack``.
TO_NDPACK_OPTIONS = ("metadata", "max_shard_size", "compute", "compute_options", "alignment",
                     "byte_order", "checksum")


def to_ndpack(arrays, target, *, metadata=None, max_shard_size=None, compute: bool = True,
              compute_options=None, **file_options):
    """Write ``arrays`` (a dict of names to Dask or NumPy arrays) to ``target``, a file path, or a
    set's index path (``*.index.json``: shards of at most ``max_shard_size`` bytes), as
    ``dask.array.store`` writes to its targets: each block by the task that computes it, in
    parallel, in any order.

    The file is declared first (names, dtypes, shapes: sizes are known before any block is
    computed): a temporary file of its final size is created next to the target (each shard's,
    for a set), and ``Writer.reserve`` gives each array's place in it. Each block of whole rows is
    then written at its place, with its CRC-32, by the task computing it. Then an array's CRC-32s
    are combined into its record's (``crc32_combine``, ``Writer.complete``, which refuses blocks
    that do not tile the array: WRITE_SIZE) and the file is renamed into place (``Writer.close``;
    a set's index is written last, ``SetWriter.close``): the file appears atomically, only
    complete. Memory holds the blocks being computed and written, as Dask
    schedules them. Checks of ``from_ndpack`` arrays run once, in the same computation.

    ``compute=False`` returns a ``dask.delayed.Delayed`` instead, which does all of that when
    computed (its last task completes the file), with other computations in one ``dask.compute``
    if asked; as any ``Delayed`` made of arrays, it computes their blocks for itself (persist an
    input that other computations share). The temporary files exist from this call on: a
    computation that fails or is never run leaves them, named ``.<name>.<12 hex digits>.tmp``.
    Otherwise the writes are computed at once, with ``compute_options`` (``scheduler=...``,
    ``pool=...``) for ``dask.compute``, and a failure removes the temporary files. Tasks write by
    path: on a cluster, the target's folder must be shared by every worker, at the same path. Other
    options (``alignment``, ``byte_order``, ``checksum``) are ``save``'s."""
    if not isinstance(arrays, dict):
        raise NdpackError("INVALID_ARGUMENT", "arrays must be a dict of names to arrays")
    reference.check_flag(compute, "compute")
    reference._check_option_names(file_options, TO_NDPACK_OPTIONS, "to_ndpack")
    prepared = {}
    for name, a in arrays.items():
        a = da.asarray(a)
        if any(np.isnan(d) for d in a.shape):
            raise NdpackError("INVALID_ARGUMENT", f"array {name!r} has unknown dimensions "
                              "(compute_chunk_sizes() first)", array=name)
        if a.ndim > 1:
            a = a.rechunk({axis: -1 for axis in range(1, a.ndim)})  # whole rows per block
        prepared[name] = a
    # The dtype of data, not of a declaration: INVALID_ARGUMENT, as save says it.
    declared = [(name, reference._ndpack_dtype(a.dtype, name), a.shape)
                for name, a in prepared.items()]
    target = os.fsdecode(target)  # a bytes path too, as save takes it
    if target.endswith(".index.json"):
        set_options = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
        writer = SetWriter(target, declared, metadata=metadata, **set_options, **file_options)
    else:
        writer = Writer(target, declared, metadata=metadata, **file_options)
    token = tokenize(target, secrets.token_hex(8))
    try:
        parts = {place.entry["name"]: _parts(prepared[place.entry["name"]], place, token)
                 for place in writer.reserve()}
        if not compute:  # the writer travels to the task completing it
            return dask.delayed(_complete, pure=False)(writer, parts,
                                                       dask_key_name=f"ndpack-complete-{token}")
        (parts,) = dask.compute(parts, **(compute_options or {}))
    except BaseException:
        writer.abort()  # its temporary files removed
        raise
    _complete(writer, parts)
    return None
