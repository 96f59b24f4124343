#!/usr/bin/python3
"""test_gguf_writer.py — scripts/gguf_writer.py, checked against a file
assembled by hand here and read back with scripts/gguf_reader.py (written
independently of the writer) and scripts/gguf_dump.py.

Run by meson (tests/engine/meson.build) with /usr/bin/python3.
"""

import io
import os
import shutil
import struct
import sys
import tempfile
import unittest

import numpy as np

SRC = os.environ.get("HEARTH_SRC",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "..", ".."))
sys.path.insert(0, os.path.join(SRC, "scripts"))

import gguf_dump    # noqa: E402
import gguf_reader  # noqa: E402
from gguf_writer import GGUFWriter, infer_vtype  # noqa: E402


def s(b):
    """GGUF string: u64 length + bytes."""
    return struct.pack("<Q", len(b)) + b


class WriterTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test_gguf_writer_")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_bytes_exact(self):
        # One u8 kv and one F32 tensor [1.0], default alignment 32, laid
        # out by hand from the GGUF specification.
        p = self.path("tiny.gguf")
        w = GGUFWriter(p, None)
        w.add_kv("k", 5, "u8")
        w.add_tensor("t", np.array([1.0], np.float32))
        w.write()
        head = (b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
                + s(b"k") + struct.pack("<IB", 0, 5)
                + s(b"t") + struct.pack("<IQIQ", 1, 1, 0, 0))
        self.assertEqual(len(head), 71)   # 24 header + 14 kv + 33 info
        want = head + b"\0" * (96 - 71) + struct.pack("<f", 1.0) + b"\0" * 28
        with open(p, "rb") as f:
            self.assertEqual(f.read(), want)

    def test_all_kv_types_round_trip(self):
        p = self.path("kvs.gguf")
        w = GGUFWriter(p, "qwen2")
        explicit = [
            ("v.u8", 255, "u8"), ("v.i8", -128, "i8"), ("v.u16", 65535, "u16"),
            ("v.i16", -32768, "i16"), ("v.u32", 4000000000, "u32"),
            ("v.i32", -2000000000, "i32"), ("v.f32", 1.5, "f32"),
            ("v.bool", False, "bool"), ("v.str", "h\u00e9llo", "str"),
            ("v.u64", 1 << 63, "u64"), ("v.i64", -(1 << 62), "i64"),
            ("v.f64", 0.1, "f64"),
        ]
        for key, value, vt in explicit:
            w.add_kv(key, value, vt)
        arrays = [
            ("a.u8", [0, 255], "u8"), ("a.i8", [-1, 1], "i8"),
            ("a.u16", [7], "u16"), ("a.i16", [-7], "i16"),
            ("a.u32", [1, 2, 3], "u32"), ("a.i32", [-1, 0, 1], "i32"),
            ("a.f32", [0.5, -0.25], "f32"), ("a.bool", [True, False], "bool"),
            ("a.str", ["x", "", "\u2581the"], "str"),
            ("a.u64", [1 << 63], "u64"), ("a.i64", [-(1 << 40)], "i64"),
            ("a.f64", [3.25], "f64"), ("a.empty", [], "i32"),
        ]
        for key, value, et in arrays:
            w.add_kv(key, value, ("arr", et))
        w.write()

        g = gguf_reader.GGUFFile(p)
        self.assertEqual(g.version, 3)
        self.assertEqual(g.kv["general.architecture"], "qwen2")
        for key, value, vt in explicit:
            self.assertEqual(g.kv_types[key], gguf_reader.__dict__[
                "VT_" + {"u8": "UINT8", "i8": "INT8", "u16": "UINT16",
                         "i16": "INT16", "u32": "UINT32", "i32": "INT32",
                         "f32": "FLOAT32", "bool": "BOOL", "str": "STRING",
                         "u64": "UINT64", "i64": "INT64",
                         "f64": "FLOAT64"}[vt]], key)
            if vt == "f32":
                self.assertEqual(g.kv[key], np.float32(value))
            else:
                self.assertEqual(g.kv[key], value, key)
        for key, value, et in arrays:
            self.assertEqual(g.kv_types[key], gguf_reader.VT_ARRAY)
            got = g.kv[key]
            if et == "str":
                self.assertEqual(got, value)
            else:
                self.assertEqual(gguf_dump._ARR_NAMES[got.dtype.name], et)
                self.assertEqual(list(got), value, key)

    def test_inference(self):
        # The documented defaults (gguf_writer module docstring).
        self.assertEqual(infer_vtype(5), "u32")
        self.assertEqual(infer_vtype((1 << 32) - 1), "u32")
        self.assertEqual(infer_vtype(1 << 32), "u64")
        self.assertEqual(infer_vtype(-5), "i32")
        self.assertEqual(infer_vtype(-(1 << 31) - 1), "i64")
        self.assertEqual(infer_vtype(True), "bool")
        self.assertEqual(infer_vtype(1.5), "f32")
        self.assertEqual(infer_vtype(np.float32(1.5)), "f32")
        self.assertEqual(infer_vtype("x"), "str")
        self.assertEqual(infer_vtype(["a", "b"]), ("arr", "str"))
        self.assertEqual(infer_vtype([1, -2]), ("arr", "i32"))
        self.assertEqual(infer_vtype([1, 1 << 40]), ("arr", "i64"))
        self.assertEqual(infer_vtype([1, 2.5]), ("arr", "f32"))
        self.assertEqual(infer_vtype([True, False]), ("arr", "bool"))
        self.assertEqual(infer_vtype(np.zeros(3, np.float32)), ("arr", "f32"))
        self.assertEqual(infer_vtype(np.zeros(3, np.int64)), ("arr", "i32"))
        self.assertEqual(infer_vtype(np.zeros(3, np.uint8)), ("arr", "u8"))

    def test_refusals(self):
        w = GGUFWriter(self.path("bad.gguf"), "llama")
        with self.assertRaises(ValueError):
            w.add_kv("general.architecture", "x")      # duplicate
        with self.assertRaises(ValueError):
            w.add_kv("k", 300, "u8")                    # does not fit
        with self.assertRaises(ValueError):
            w.add_kv("k", -1, "u32")
        with self.assertRaises(ValueError):
            w.add_kv("k", [1, 300], ("arr", "u8"))
        with self.assertRaises(ValueError):
            w.add_kv("k", 2.5, "i32")                   # not an integer
        with self.assertRaises(ValueError):
            w.add_kv("k", [])                           # needs a vtype
        with self.assertRaises(ValueError):
            w.add_kv("k", [[1]], ("arr", "arr"))        # nested
        with self.assertRaises(ValueError):
            w.add_tensor("t", np.zeros((2, 33)), "Q8_0")  # 33 % 32
        with self.assertRaises(ValueError):
            w.add_tensor("t", np.zeros(4), "Q2_K")      # not writable
        with self.assertRaises(ValueError):
            w.add_tensor("t" * 128, np.zeros(4))        # name > 127 bytes
        w.add_tensor("t", np.zeros(4))
        with self.assertRaises(ValueError):
            w.add_tensor("t", np.zeros(4))              # duplicate name
        with self.assertRaises(ValueError):
            GGUFWriter(self.path("x.gguf"), "llama", alignment=48)

    def test_tensors_and_alignment(self):
        p = self.path("tensors.gguf")
        w = GGUFWriter(p, "llama", alignment=64)
        a = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
        b = np.array([1.0, -2.0, 0.5, 65504.0, 1e-3], np.float32)
        c = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
        w.add_tensor("a", a)
        w.add_tensor("b", b, "F16")
        w.add_tensor("c", c)
        w.add_tensor_raw("raw", b"\x01\x02\x03\x04", [1], 0)  # one F32
        w.write()

        g = gguf_reader.GGUFFile(p)
        self.assertEqual(g.kv["general.alignment"], 64)
        self.assertEqual(g.data_offset % 64, 0)
        ta, tb, tc = g.tensors["a"], g.tensors["b"], g.tensors["c"]
        self.assertEqual(ta.ne, [4, 3])                 # reversed shape
        self.assertEqual(tc.ne, [4, 3, 2])
        self.assertEqual(tb.type_name, "F16")
        for t in g.tensors.values():
            self.assertEqual(t.offset % 64, 0, t.name)
        np.testing.assert_array_equal(
            np.frombuffer(ta.raw, "<f4").reshape(ta.shape), a)
        np.testing.assert_array_equal(
            np.frombuffer(tc.raw, "<f4").reshape(tc.shape), c)
        # F16 is numpy's round-to-nearest-even conversion
        np.testing.assert_array_equal(np.frombuffer(tb.raw, "<f2"),
                                      b.astype(np.float16))
        with open(p, "rb") as f:
            data = f.read()
        self.assertEqual(len(data) % 64, 0)              # last tensor padded
        # a (48 B) at 0, b (10 B) at 64, c (96 B) at 128, raw at 256
        self.assertEqual([g.tensors[n].offset for n in ("a", "b", "c", "raw")],
                         [0, 64, 128, 256])
        raw_off = g.data_offset + 256
        self.assertEqual(data[raw_off:raw_off + 4], b"\x01\x02\x03\x04")

    def test_quantized_if_available(self):
        try:
            import quants
        except ImportError:
            self.skipTest("scripts/quants.py not present")
        p = self.path("q.gguf")
        rng = np.random.default_rng(1)
        m = rng.standard_normal((2, 256)).astype(np.float32)
        w = GGUFWriter(p, "llama")
        for tn in ("BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"):
            w.add_tensor("w." + tn, m, tn)
        w.write()
        g = gguf_reader.GGUFFile(p)
        for tn in ("BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"):
            t = g.tensors["w." + tn]
            self.assertEqual(t.type_name, tn)
            back = quants.dequantize(tn, bytes(t.raw), t.shape)
            # Loose bound: every format keeps at least ~3 bits per weight
            # of a unit-variance row; this checks layout, not accuracy.
            self.assertLess(float(np.abs(back - m).max()), 1.0, tn)

    def test_sample_and_dump(self):
        p = self.path("sample.gguf")
        import gguf_writer
        gguf_writer.write_sample(p)
        out = io.StringIO()
        gguf_dump.dump(p, 2, out)
        text = out.getvalue()
        self.assertIn("GGUF v3, 10 kvs, 2 tensors", text)
        self.assertIn("sample.tokens: arr[str] x 3 = ['a', 'b', ...]", text)
        self.assertIn("sample.u64: u64 = 1099511627776", text)
        self.assertIn("sample.f16", text)


if __name__ == "__main__":
    unittest.main()
