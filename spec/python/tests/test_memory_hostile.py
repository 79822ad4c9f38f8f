"""Memory against hostile inputs: a file of a few kilobytes that declares gigabytes must cost a
reader what it holds and what really decodes from it, never what it declares. Each read runs in a
child process whose peak resident memory (``VmHWM``) is reported back; the bound asserted
(256 MiB) is far above what a correct read takes (about 40 MiB) and far below what the bad
behaviour took (over 1 GiB), so that a busy machine cannot make the test flaky."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import ndpack

GIB = 1 << 30
#: Peak resident memory a child may reach reading a hostile file of a few kilobytes.
MAX_PEAK_MIB = 256

#: Reads ``path`` with ``op``, then prints the error code (None when it succeeds) and the peak RSS.
CHILD = textwrap.dedent("""
    import json, resource, sys
    import ndpack
    import ndpack.dask
    op, path, address_space_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if address_space_mib:
        # What this process has mapped already, plus the room given: a bigger allocation fails.
        with open("/proc/self/status") as status:
            size_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
        room = (size_kib << 10) + (address_space_mib << 20)
        resource.setrlimit(resource.RLIMIT_AS, (room, room))
    code = None
    try:
        if op == "loads":
            with open(path, "rb") as fh:
                file = ndpack.loads(fh.read())
            [file[name] for name in file]
        elif op == "load":
            file = ndpack.load(path)
            [file[name] for name in file]
        elif op == "open":
            with ndpack.open(path) as reader:
                [reader.read(name) for name in reader]
        elif op == "dask":
            ndpack.dask.from_ndpack(path, "a").compute(scheduler="synchronous")
        elif op == "read_messages":
            with open(path, "rb") as fh:
                for message in ndpack.read_messages(fh):
                    [message[name] for name in message]
    except ndpack.NdpackError as error:
        code = error.code
    # VmHWM, the peak of this process's own memory: ru_maxrss would count the parent's at fork.
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"code": code, "peak_mib": peak_kib // 1024}))
""")


def read_in_child(op: str, path, address_space_mib: int = 0) -> dict:
    """The error code and peak RSS (MiB) of a child reading ``path`` with ``op``; with
    ``address_space_mib``, the child may map only that much more than it has once imported."""
    done = subprocess.run([sys.executable, "-c", CHILD, op, str(path), str(address_space_mib)],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def deflated(data: bytes) -> bytes:
    """``data`` as one raw DEFLATE stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def ndpack_file(arrays: list[dict], data: bytes) -> bytes:
    """An ndpack file of the given array entries and data section, alignment 64, no checksums."""
    header = json.dumps({"alignment": 64, "checksum": "none", "dataLength": len(data),
                         "metadata": {}, "arrays": arrays}, separators=(",", ":")).encode()
    versions_and_length = struct.pack("<HHI", 1, 0, len(header))
    head = (b"\x89NDP\r\n\x1a\n" + versions_and_length
            + struct.pack("<I", zlib.crc32(versions_and_length + header)) + header)
    return head + bytes(-len(head) % 64) + data


def stored_zip(name: str, compressed: bytes, declared_size: int, crc: int) -> bytes:
    """A zip of one deflated member whose headers declare ``declared_size`` uncompressed bytes."""
    name_bytes = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(compressed),
                        declared_size, len(name_bytes), 0) + name_bytes + compressed
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                          len(compressed), declared_size, len(name_bytes), 0, 0, 0, 0, 0,
                          0) + name_bytes
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def npy_header(length: int) -> bytes:
    """A version 1.0 .npy header of a uint8 vector of ``length`` elements."""
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d,), }" % length
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1")


# 1 MiB of zeros deflate to about 1 KiB: the payload decodes to 1 MiB, its shape declares 1 GiB.
SHORT_PAYLOAD = deflated(bytes(1 << 20))


@pytest.fixture(scope="module")
def short_deflate(tmp_path_factory):
    """An ndpack file of about 1 KiB: one deflated array whose shape declares 1 GiB (within
    max_decoded_bytes) and whose stream decodes to 1 MiB."""
    path = tmp_path_factory.mktemp("memory") / "short-deflate.ndp"
    entry = {"name": "a", "dtype": "uint8", "shape": [GIB], "order": "C", "byteOrder": "little",
             "codec": "deflate", "offset": 0, "byteLength": len(SHORT_PAYLOAD)}
    path.write_bytes(ndpack_file([entry], SHORT_PAYLOAD))
    return path


@pytest.mark.parametrize("op", ["loads", "load", "open", "read_messages", "dask"])
def test_a_deflated_array_declaring_a_gibibyte_costs_what_it_decodes_to(short_deflate, op):
    """The decoded payload's memory is taken as the stream decodes (it used to be a bytearray of
    the declared size, every byte of it written before inflating: 1 GiB of RSS for 1 KiB)."""
    assert short_deflate.stat().st_size < 4096
    result = read_in_child(op, short_deflate)
    assert result["code"] == "CODEC_ERROR"
    assert result["peak_mib"] < MAX_PEAK_MIB, result


@pytest.mark.parametrize("op", ["loads", "open", "read_messages"])
def test_a_declared_size_the_process_cannot_map_is_limit_exceeded(short_deflate, op):
    """Under an address-space limit (a ulimit) below the declared 1 GiB, the buffer cannot be had:
    LIMIT_EXCEEDED, as TypeScript's readers report it, not numpy's (or bytearray's) MemoryError."""
    assert read_in_child(op, short_deflate, address_space_mib=512)["code"] == "LIMIT_EXCEEDED"


def test_the_same_array_over_http(nginx, short_deflate):
    """ndpack.open of its URL (nginx) reads it the same way."""
    (nginx.root / "short-deflate.ndp").write_bytes(short_deflate.read_bytes())
    result = read_in_child("open", nginx.url("short-deflate.ndp"))
    assert result["code"] == "CODEC_ERROR"
    assert result["peak_mib"] < MAX_PEAK_MIB, result


def test_a_npz_member_declaring_a_gibibyte_costs_what_it_decodes_to(tmp_path):
    """The same for a .npz member whose zip headers declare 1 GiB and whose stream decodes to
    1 MiB (and a bit): read by ndpack.open, CODEC_ERROR after taking about that much."""
    npy = npy_header(GIB - len(npy_header(0)))
    compressed = deflated(npy + bytes(1 << 20))
    path = tmp_path / "short-member.npz"
    path.write_bytes(stored_zip("a.npy", compressed, GIB, 0))
    assert path.stat().st_size < 4096
    result = read_in_child("open", path)
    assert result["code"] == "CODEC_ERROR"
    assert result["peak_mib"] < MAX_PEAK_MIB, result


def test_a_shuffled_array_is_unshuffled_in_place(tmp_path):
    """A shuffle+deflate array of 512 MiB (zeros: a file of about 520 KiB, within
    max_decoded_bytes) costs its size once: its pieces are unshuffled as they are inflated (it
    used to be inflated whole, then copied unshuffled: twice its size, over 1 GiB)."""
    compressor, stream = zlib.compressobj(9, zlib.DEFLATED, -15), []
    stream += [compressor.compress(bytes(1 << 20)) for _ in range(512)]
    payload = b"".join(stream) + compressor.flush()
    entry = {"name": "a", "dtype": "float32", "shape": [1 << 27], "order": "C",
             "byteOrder": "little", "codec": "shuffle+deflate", "offset": 0,
             "byteLength": len(payload)}
    path = tmp_path / "shuffled.ndp"
    path.write_bytes(ndpack_file([entry], payload))
    result = read_in_child("loads", path)
    assert result["code"] is None
    assert result["peak_mib"] < 800, result  # 512 MiB once, and the interpreter's own


@pytest.mark.parametrize("codec", ["deflate", "shuffle+deflate"])
def test_a_real_decompression_still_decodes_whole(tmp_path, codec):
    """The buffer an inflated payload now lands in is the array's memory: values and
    writability as before."""
    data = np.arange(1 << 18, dtype="<u4") // 7
    path = tmp_path / "real.ndp"
    ndpack.save(path, {"a": data}, codec=codec)
    with ndpack.open(path) as reader:
        assert reader.info("a").codec == codec
        array = reader.read("a")
    np.testing.assert_array_equal(array, data)
    assert array.flags.writeable
