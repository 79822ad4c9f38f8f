"""Unit tests of the Python API of the reference (ndpack/reference.py) (standard library unittest; numpy only).

Run: python3 spec/python/test_ndpack.py   (test/python-reference.test.ts runs it too)
The byte-level rules are tested by the golden fixtures (conformance.py) and by the cross-language
property test; this file covers what is particular to the Python API: views and copies, byte order,
ml_dtypes or raw bits, the writer's inputs and refusals, limits and hostile headers.
"""

import io
import math
import os
import struct
import sys
import tempfile
import time
import unittest
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ndpack import reference as ndpack  # noqa: E402
from ndpack.reference import NdpackError  # noqa: E402

try:
    import ml_dtypes
except ImportError:  # the raw-bits paths are still tested
    ml_dtypes = None


def file_with_header(header: bytes, data: bytes = b"", *, minor: int = 0, alignment: int = 8) -> bytes:
    """A file with the given header text and data section (correct header length and CRC)."""
    fixed = struct.pack("<HHI", 1, minor, len(header))
    crc = zlib.crc32(header, zlib.crc32(fixed))
    start = (20 + len(header) + alignment - 1) // alignment * alignment
    return ndpack.MAGIC + fixed + struct.pack("<I", crc) + header + bytes(start - 20 - len(header)) + data


class Reading(unittest.TestCase):
    def setUp(self):
        self.a = np.arange(12, dtype="<f4").reshape(3, 4)
        self.data = ndpack.dumps({"a": self.a, "b": np.array([1, -2], dtype="<i2")},
                                 metadata={"k": "v"})

    def test_views_are_zero_copy_and_read_only(self):
        f = ndpack.loads(self.data)
        x = f["a"]
        self.assertTrue(np.shares_memory(x, np.frombuffer(self.data, np.uint8)))
        self.assertFalse(x.flags.writeable)
        np.testing.assert_array_equal(x, self.a)
        self.assertEqual(f.info("a").start % 64, 0)
        self.assertEqual(f.names, ["a", "b"])
        self.assertEqual(f.metadata, {"k": "v"})
        self.assertEqual(f.version, (1, 0))
        self.assertEqual(len(f), 2)
        self.assertEqual(list(f.keys()), ["a", "b"])

    def test_writable_buffer_gives_writable_views(self):
        buf = bytearray(self.data)
        x = ndpack.loads(buf)["a"]
        self.assertTrue(x.flags.writeable)
        x[0, 0] = 42
        self.assertEqual(ndpack.loads(buf)["a"][0, 0], 42)

    def test_copy_option(self):
        f = ndpack.loads(self.data)
        c = f.read("a", copy=True)
        self.assertFalse(np.shares_memory(c, np.frombuffer(self.data, np.uint8)))
        self.assertTrue(c.flags.writeable and c.flags.owndata)
        v = ndpack.loads(self.data, copy=False)["a"]
        self.assertTrue(np.shares_memory(v, np.frombuffer(self.data, np.uint8)))
        comp = ndpack.dumps({"z": np.zeros(1000, "f8")}, codec="deflate")
        self.assertEqual(ndpack.loads(comp).info("z").codec, "deflate")
        with self.assertRaises(NdpackError) as cm:
            ndpack.loads(comp, copy=False)["z"]
        self.assertEqual(cm.exception.code, "COPY_REQUIRED")
        z = ndpack.loads(comp)["z"]
        self.assertTrue(z.flags.writeable)
        np.testing.assert_array_equal(z, np.zeros(1000))

    def test_big_endian_is_a_view_with_a_non_native_dtype(self):
        data = ndpack.dumps({"a": self.a, "c": np.array([1 + 2j, -0.5j], "c16")}, byte_order="big")
        f = ndpack.loads(data)
        x = f["a"]
        self.assertEqual(x.dtype, np.dtype(">f4"))
        self.assertTrue(np.shares_memory(x, np.frombuffer(data, np.uint8)))
        np.testing.assert_array_equal(x, self.a)
        n = f.read("a", copy=True)
        self.assertTrue(n.dtype.isnative)
        np.testing.assert_array_equal(n, self.a)
        self.assertEqual(f["c"].dtype, np.dtype(">c16"))
        np.testing.assert_array_equal(f["c"], [1 + 2j, -0.5j])

    def test_fortran_order(self):
        a = np.asfortranarray(np.arange(24, dtype="i4").reshape(2, 3, 4))
        data = ndpack.dumps({"a": a})
        f = ndpack.loads(data)
        self.assertEqual(f.info("a").order, "F")
        self.assertTrue(f["a"].flags.f_contiguous)
        np.testing.assert_array_equal(f["a"], a)
        # Asked for C: the same values, stored in C order.
        g = ndpack.loads(ndpack.dumps({"a": a}, order="C"))
        self.assertEqual(g.info("a").order, "C")
        np.testing.assert_array_equal(g["a"], a)

    def test_scalar_zero_size_bool(self):
        data = ndpack.dumps({"s": np.float64(2.5), "e": np.zeros((0, 3), "u2"),
                             "t": np.array([True, False])})
        f = ndpack.loads(data)
        self.assertEqual(f["s"].shape, ())
        self.assertEqual(f["s"][()], 2.5)
        self.assertEqual(f["e"].shape, (0, 3))
        self.assertEqual(f["t"].dtype, np.bool_)
        self.assertEqual(f.info("e").nbytes, 0)

    def test_not_found_is_a_key_error(self):
        f = ndpack.loads(self.data)
        with self.assertRaises(KeyError):
            f["nope"]
        with self.assertRaises(NdpackError) as cm:
            f.info("nope")
        self.assertEqual(cm.exception.code, "NOT_FOUND")
        self.assertIsNone(f.get("nope"))
        self.assertNotIn("nope", f)
        self.assertIn("a", f)

    def test_path_and_mmap(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.ndp")
            ndpack.save(p, {"a": self.a})
            np.testing.assert_array_equal(ndpack.load(p)["a"], self.a)
            f = ndpack.load(p, mmap=True)
            x = f["a"]
            np.testing.assert_array_equal(x, self.a)
            self.assertFalse(x.flags.writeable)
            f.close()  # a live view keeps the map alive
            np.testing.assert_array_equal(x, self.a)
            with self.assertRaises(NdpackError) as closed:
                f["a"]
            self.assertEqual(closed.exception.code, "CLOSED")
            del x
            with ndpack.load(p, mmap=True) as g:
                self.assertEqual(g.names, ["a"])
            open(p, "wb").close()
            with self.assertRaises(NdpackError) as cm:
                ndpack.load(p, mmap=True)
            self.assertEqual(cm.exception.code, "TRUNCATED")
        bio = io.BytesIO()
        ndpack.save(bio, {"a": self.a})
        self.assertEqual(bio.getvalue(), ndpack.dumps({"a": self.a}))

    def test_verify(self):
        data = bytearray(ndpack.dumps({"a": self.a, "b": np.arange(3, dtype="u1")}))
        f = ndpack.loads(bytes(data))
        data[f.info("a").start] ^= 1
        rep = ndpack.verify(bytes(data))
        self.assertFalse(rep["ok"])
        self.assertIsNone(rep["error"])
        self.assertEqual([(a["name"], a["ok"]) for a in rep["arrays"]], [("a", False), ("b", True)])
        self.assertEqual(rep["arrays"][0]["error"]["code"], "CHECKSUM")
        with self.assertRaises(NdpackError) as cm:
            ndpack.loads(bytes(data), verify=True)
        self.assertEqual((cm.exception.code, cm.exception.array), ("CHECKSUM", "a"))
        ndpack.loads(bytes(data))["b"]  # the other array reads
        self.assertEqual(ndpack.verify(b"nope")["error"]["code"], "BAD_MAGIC")


class Dtypes(unittest.TestCase):
    bits = np.array([0x3F80, 0xC049, 0x7FC0], "<u2")  # bfloat16 1, -3.140625, NaN

    def test_raw_bits(self):
        data = ndpack.dumps({"b": {"data": self.bits, "dtype": "bfloat16"},
                             "f": {"data": np.array([0x38, 0x7F], "u1"), "dtype": "float8_e4m3fn"}})
        f = ndpack.loads(data, raw_bits=True)
        self.assertEqual(f.info("b").dtype, "bfloat16")
        self.assertEqual(f["b"].dtype, np.dtype("<u2"))
        np.testing.assert_array_equal(f["b"], self.bits)
        self.assertEqual(f["f"].dtype, np.dtype("u1"))
        big = ndpack.loads(ndpack.dumps({"b": {"data": self.bits, "dtype": "bfloat16"}},
                                        byte_order="big"), raw_bits=True)["b"]
        self.assertEqual(big.dtype, np.dtype(">u2"))
        np.testing.assert_array_equal(big, self.bits)

    @unittest.skipIf(ml_dtypes is None, "ml_dtypes is not installed (raw bits are tested above)")
    def test_ml_dtypes(self):
        bf = np.dtype(ml_dtypes.bfloat16)
        x = self.bits.view(bf)
        data = ndpack.dumps({"b": x, "e": np.array([1, -2], ml_dtypes.float8_e5m2)})
        f = ndpack.loads(data)
        self.assertEqual(f["b"].dtype, bf)
        self.assertTrue(np.shares_memory(f["b"], np.frombuffer(data, np.uint8)))
        self.assertEqual(f["b"].astype(np.float32)[1], -3.140625)
        self.assertEqual(f.info("e").dtype, "float8_e5m2")
        self.assertEqual(f["e"].astype(np.float32).tolist(), [1, -2])
        big = ndpack.dumps({"b": x}, byte_order="big")
        g = ndpack.loads(big)
        self.assertEqual(g["b"].dtype, bf)  # byte order forces a copy here
        np.testing.assert_array_equal(g["b"].view("u2"), self.bits)
        with self.assertRaises(NdpackError) as cm:
            g.read("b", copy=False)
        self.assertEqual(cm.exception.code, "COPY_REQUIRED")
        self.assertEqual(data, ndpack.dumps({"b": {"data": self.bits, "dtype": "bfloat16"},
                                             "e": np.array([1, -2], ml_dtypes.float8_e5m2)}))

    def test_every_numpy_dtype_round_trips(self):
        rng = np.random.default_rng(1)
        for name, (size, _, base, ml) in ndpack.DTYPES.items():
            if ml:
                continue
            raw = rng.integers(0, 256, size * 6, dtype=np.uint8)
            if name == "bool":
                raw &= 1
            a = raw.view("<" + base if size > 1 else base).reshape(2, 3)
            for order in ("C", "F"):
                for bo in ("little", "big"):
                    for codec in ndpack.CODECS:
                        data = ndpack.dumps({"x": {"data": a, "order": order, "codec": codec}},
                                            byte_order=bo)
                        y = ndpack.loads(data)["x"]
                        self.assertEqual(ndpack.loads(data).info("x").dtype, name)
                        self.assertEqual(y.astype(y.dtype.newbyteorder("<")).tobytes(),
                                         a.tobytes(), (name, order, bo, codec))

    def test_non_native_and_strided_input(self):
        a = np.arange(20, dtype=">i4").reshape(4, 5)[::2, 1::2]
        f = ndpack.loads(ndpack.dumps({"a": a}))
        self.assertEqual(f.info("a").byte_order, "little")
        np.testing.assert_array_equal(f["a"], a)


class Writing(unittest.TestCase):
    def meta(self, m) -> str:
        data = ndpack.dumps({}, metadata=m)
        h = int.from_bytes(data[12:16], "little")
        text = data[20 : 20 + h].decode()
        return text[text.index('"metadata":') + 11 : text.rindex(',"arrays":')]

    def test_numbers_as_ecmascript_writes_them(self):
        cases = {1e-7: "1e-7", 1e21: "1e+21", 1e16: "10000000000000000", 2.0: "2", -0.0: "-0",
                 5e-324: "5e-324", 0.1: "0.1", 123e-20: "1.23e-18", 1.5e300: "1.5e+300",
                 2.0**60: "1.152921504606847e+18", float(2**53): "9007199254740992",
                 -(2.0**53): "-9007199254740992", 1e-6: "0.000001", 1.7976931348623157e308:
                 "1.7976931348623157e+308", 9007199254740991.0: "9007199254740991"}
        for v, want in cases.items():
            got = ndpack.js_number(v)
            if abs(v) > 2**53 - 1 and float(v).is_integer():
                want = want if "e" in want else None
            if want is not None:
                self.assertEqual(got, want, v)
        self.assertEqual(ndpack.js_number(2.0**53), "9.007199254740992e+15")
        self.assertEqual(self.meta({"i": 2**60, "n": -(2**53 - 1), "z": -0.0, "t": True,
                                    "u": None, "np": np.float32(0.5), "l": (1, [2])}),
                         '{"i":1.152921504606847e+18,"n":-9007199254740991,"z":-0,"t":true,'
                         '"u":null,"np":0.5,"l":[1,[2]]}')

    def test_strings_as_json_stringify_escapes_them(self):
        s = 'q" b\\ /\b\f\n\r\t\x01\x1f\x7f\u2028é😀'
        esc = 'q\\" b\\\\ /\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\u2028é😀'
        self.assertEqual(self.meta({s: s}), '{"%s":"%s"}' % (esc, esc))

    def test_metadata_round_trip_keeps_order_and_negative_zero(self):
        m = {"b": 1, "10": [-0.0, 0.0, 1.0, 1e-7], "": {"__proto__": {}}}
        data = ndpack.dumps({}, metadata=m)
        back = ndpack.loads(data).metadata
        self.assertEqual(list(back), ["b", "10", ""])
        self.assertEqual(math.copysign(1, back["10"][0]), -1)
        self.assertEqual(ndpack.dumps({}, metadata=back), data)

    def test_refusals(self):
        bad = [
            ({"a": np.zeros(2)}, {"alignment": 4}),
            ({"a": np.zeros(2)}, {"alignment": 48}),
            ({"a": np.zeros(2)}, {"byte_order": "middle"}),
            ({"a": np.zeros(2)}, {"checksum": "md5"}),
            ({"a": np.zeros(2)}, {"codec": "zstd"}),
            ({"a": np.zeros(2)}, {"compression_level": 10}),
            ({"": np.zeros(2)}, {}),
            ({"\ud800": np.zeros(2)}, {}),
            ({"a": np.array(["x"])}, {}),
            ({"a": np.array([object()])}, {}),
            ({"a": np.zeros(2, "M8[s]")}, {}),
            ({"a": {"data": np.zeros(2, "f8"), "dtype": "complex64"}}, {}),
            ({"a": {"data": np.zeros(2), "shape": [2]}}, {}),
            ({"a": {"data": np.array([0, 2], "u1"), "dtype": "bool"}}, {}),
            ({}, {"metadata": {"x": float("nan")}}),
            ({}, {"metadata": {"x": float("inf")}}),
            ({}, {"metadata": {"x": 2**60 + 1}}),
            ({}, {"metadata": {1: 2}}),
            ({}, {"metadata": {"x": "\udc00"}}),
            ({}, {"metadata": {"x": {1, 2}}}),
            ({}, {"metadata": [1]}),
        ]
        if hasattr(np, "longdouble") and np.dtype(np.longdouble).itemsize > 8:
            bad.append(({"a": np.zeros(2, np.longdouble)}, {}))
        for arrays, opts in bad:
            with self.assertRaises(NdpackError, msg=repr((arrays, opts))) as cm:
                ndpack.dumps(arrays, **opts)
            self.assertEqual(cm.exception.code, "INVALID_ARGUMENT", repr((arrays, opts)))
        # As the TypeScript writer: a name given twice, and one longer than readers accept by default;
        # an array's unknown dtype or codec.
        for arrays, code in [([("a", np.zeros(2)), ("a", np.zeros(2))], "DUPLICATE_NAME"),
                             ({"a": {"data": np.zeros(2, "f4"), "dtype": "float128"}}, "UNKNOWN_DTYPE"),
                             ({"a": {"data": np.zeros(2, "f4"), "codec": "zstd"}}, "UNSUPPORTED_CODEC"),
                             ({"n" * 4097: np.zeros(2)}, "LIMIT_EXCEEDED")]:
            with self.assertRaises(NdpackError) as cm:
                ndpack.dumps(arrays)
            self.assertEqual(cm.exception.code, code)

    def test_raw_storage_when_compression_does_not_help(self):
        noise = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8)
        f = ndpack.loads(ndpack.dumps({"n": noise, "z": np.zeros(1000, "u1")}, codec="deflate"))
        self.assertEqual(f.info("n").codec, "none")
        self.assertEqual(f.info("z").codec, "deflate")
        e = ndpack.loads(ndpack.dumps({"e": np.zeros(0, "f4")}, codec="shuffle+deflate"))
        self.assertEqual(e.info("e").codec, "none")


class Limits(unittest.TestCase):
    def test_limit_options(self):
        data = ndpack.dumps({"abc": np.zeros((2, 2, 2), "f8"), "b": np.zeros(3)},
                            metadata={"x": [[1]]})
        for opts in ({"max_arrays": 1}, {"max_name_bytes": 2}, {"max_dims": 2},
                     {"max_depth": 3}):
            with self.assertRaises(NdpackError, msg=repr(opts)) as cm:
                ndpack.loads(data, **opts)
            self.assertEqual(cm.exception.code, "LIMIT_EXCEEDED")
        with self.assertRaises(NdpackError) as cm:
            ndpack.loads(data, max_header_bytes=10)
        self.assertEqual(cm.exception.code, "HEADER_TOO_LARGE")
        ndpack.loads(data, max_depth=4)
        comp = ndpack.dumps({"z": np.zeros(1000, "f8")}, codec="deflate")
        f = ndpack.loads(comp, max_decoded_bytes=7999)
        with self.assertRaises(NdpackError) as cm:
            f["z"]
        self.assertEqual((cm.exception.code, cm.exception.array), ("LIMIT_EXCEEDED", "z"))
        for bad in ({"max_depth": 0}, {"max_depth": 1001}, {"max_arrays": -1}, {"copy": "yes"}):
            with self.assertRaises(NdpackError) as cm:
                ndpack.loads(data, **bad)
            self.assertEqual(cm.exception.code, "INVALID_ARGUMENT")

    def test_hostile_headers_fail_fast_and_never_crash(self):
        cases = [
            (b'{"metadata":' + b"[" * 5_000_000, "LIMIT_EXCEEDED"),
            (b'{"metadata":{"a":' * 200_000, "LIMIT_EXCEEDED"),
            (b'{"metadata":{"a":1' + b"0" * 100_000 + b"}}", "BAD_NUMBER"),
            (b'{"metadata":{"a":1e' + b"9" * 100_000 + b"}}", "BAD_NUMBER"),
            (b'{"a":"' + b"\\ud800" * 1000 + b'"}', "HEADER_INVALID"),
            (b'{"a":1,"a":2' + b"\xff" * 10, "HEADER_INVALID"),  # UTF-8 is checked first
            (b'{"a":1,"a":2', "DUPLICATE_KEY"),
            (b'{"a":-01}', "HEADER_INVALID"),
            (b'{"a":-1.}', "HEADER_INVALID"),
            (b'{"a":-1}', "BAD_NUMBER"),
            (b'{"metadata":{"a":-1}, "a":NaN}', "HEADER_INVALID"),
            (b"\xef\xbb\xbf{}", "HEADER_INVALID"),
            (b"{}\n", "HEADER_INVALID"),
        ]
        for header, code in cases:
            t = time.perf_counter()
            with self.assertRaises(NdpackError, msg=header[:40]) as cm:
                ndpack.loads(file_with_header(header), max_depth=1000)
            self.assertEqual(cm.exception.code, code, header[:40])
            self.assertLess(time.perf_counter() - t, 2.0, header[:40])
        with self.assertRaises(NdpackError) as cm:
            ndpack.loads(file_with_header(b'{"metadata":' + b"[" * 65 + b"]" * 65 + b"}"))
        self.assertEqual(cm.exception.code, "LIMIT_EXCEEDED")

    def test_max_header_nodes(self):
        # A value per two bytes: cheap in bytes, costly parsed (issue 16). LIMIT_EXCEEDED by default
        # past 1,000,000 values; max_header_nodes lifts it.
        header = b'{"alignment":8,"checksum":"none","dataLength":0,"metadata":{"a":[' + b"0," * 1000000 + b'0]},"arrays":[]}'
        with self.assertRaises(NdpackError) as cm:
            ndpack.loads(file_with_header(header))
        self.assertEqual(cm.exception.code, "LIMIT_EXCEEDED")
        self.assertIn("maxHeaderNodes", str(cm.exception))
        self.assertEqual(len(ndpack.loads(file_with_header(header), max_header_nodes=1000010).metadata["a"]), 1000001)

    def test_strict_and_fast_parsers_agree(self):
        good = (b'{"alignment":8,"checksum":"none","dataLength":0,"metadata":{"a":[1,-0,0.5,'
                b'"\\u00e9\\n",{"b":null}],"c":1e-7},"arrays":[]}')
        fast = ndpack._fast_parse(good.decode(), good, 64)
        self.assertIsNotNone(fast)
        strict = ndpack._parse_strict(good.decode(), 64, 1000000)
        self.assertEqual(ndpack.canonical_header(fast), ndpack.canonical_header(strict))
        self.assertEqual(ndpack.loads(file_with_header(good)).metadata["a"][3], "é\n")
        pair = good.replace(b"\\u00e9", b"\\ud83d\\ude00")
        self.assertIsNone(ndpack._fast_parse(pair.decode(), pair, 64))  # the strict parser decides
        self.assertEqual(ndpack.loads(file_with_header(pair)).metadata["a"][3], "😀\n")

    def test_newer_minor_version_ignores_unknown_keys(self):
        header = (b'{"alignment":8,"checksum":"none","dataLength":0,"metadata":{},"arrays":[],'
                  b'"future":{"x":1}}')
        with self.assertRaises(NdpackError) as cm:
            ndpack.loads(file_with_header(header))
        self.assertEqual(cm.exception.code, "HEADER_INVALID")
        self.assertEqual(ndpack.loads(file_with_header(header, minor=3)).version, (1, 3))


if __name__ == "__main__":
    unittest.main(verbosity=1)
