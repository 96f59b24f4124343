#!/usr/bin/python3
"""gguf_writer.py — write GGUF v3 files from numpy (test models, training
exports, crafted files for tests).

Usage as a library (callers put scripts/ on sys.path):

    from gguf_writer import GGUFWriter
    w = GGUFWriter("out.gguf", "llama")          # general.architecture
    w.add_kv("llama.block_count", 2)             # int -> u32
    w.add_kv("tokenizer.ggml.tokens", ["a", "b"])
    w.add_tensor("token_embd.weight", emb, "Q8_0")  # emb: (n_vocab, n_embd)
    w.write()

Layout written (all little-endian; engine/gguf.c documents the same):
    magic "GGUF", u32 version 3, u64 n_tensors, u64 n_kv
    kvs in insertion order, tensor infos in insertion order,
    padding to the alignment, then each tensor's data at its offset (a
    multiple of the alignment, relative to the data section), each padded
    to the alignment as ggml does.

Shapes: a numpy array of shape (rows, cols) is stored with ne[0] = cols,
ne[1] = rows (ggml order, innermost first), i.e. ne = reversed(shape).

Value types for add_kv: 'u8' 'i8' 'u16' 'i16' 'u32' 'i32' 'f32' 'bool'
'str' 'u64' 'i64' 'f64', or ('arr', element type) for arrays. Without one,
the type is inferred:
    bool -> bool;  str/bytes -> str;  float -> f32
    int  -> u32 if 0 <= v < 2^32, i32 if -2^31 <= v < 0, else u64 (v >= 2^32)
            or i64 (v < -2^31) — the types llama.cpp's metadata uses
    list/tuple of bool -> arr bool; of str -> arr str; of ints -> arr i32
            (arr i64 if any value needs it); of numbers with a float ->
            arr f32; an empty list needs an explicit vtype
    numpy arrays: the matching element type, except float64 -> f32 and
            int64 -> i32 when every value fits (what lists do)

Tensors: add_tensor(name, array, type_name) with type_name 'F32', 'F16'
(numpy conversions here) or 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K'
(scripts/quants.py's quantize(type_name, a2d) -> bytes). add_tensor_raw()
takes bytes, ne and a type id as they are, for tests that craft odd files.

Run as a script, `gguf_writer.py --sample PATH` writes the small sample file
tests/engine/test_gguf.c checks (see write_sample()).
"""

import os
import struct
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import gguf_reader  # noqa: E402  (type table shared with the reader)

GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32
MAX_NAME_BYTES = 127          # engine/gguf.c's limit for tensor names

# value type name -> GGUF id
VTYPES = {
    "u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6,
    "bool": 7, "str": 8, "arr": 9, "u64": 10, "i64": 11, "f64": 12,
}
# numeric value type -> little-endian numpy dtype
_NP = {
    "u8": "<u1", "i8": "<i1", "u16": "<u2", "i16": "<i2", "u32": "<u4",
    "i32": "<i4", "f32": "<f4", "bool": "<u1", "u64": "<u8", "i64": "<i8",
    "f64": "<f8",
}
# numpy dtype -> value type for numpy arrays given to add_kv
_FROM_NP = {
    np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8",
    np.dtype(np.uint16): "u16", np.dtype(np.int16): "i16",
    np.dtype(np.uint32): "u32", np.dtype(np.int32): "i32",
    np.dtype(np.uint64): "u64", np.dtype(np.float32): "f32",
    np.dtype(np.float64): "f32", np.dtype(np.bool_): "bool",
}

# Tensor types add_tensor can encode.
TENSOR_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K")


def _type_info(type_name):
    """(type id, elements per block, bytes per block) of a tensor type."""
    tid = gguf_reader.GGML_TYPE_ID[type_name]
    _, blck, size = gguf_reader.GGML_TYPES[tid]
    return tid, blck, size


# ---------------------------------------------------------------------------
# Values.

def _int_vtype(v):
    if 0 <= v < 1 << 32:
        return "u32"
    if -(1 << 31) <= v < 0:
        return "i32"
    return "u64" if v > 0 else "i64"


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _infer_array(values):
    if isinstance(values, np.ndarray):
        if values.dtype == np.int64:
            values = list(values)            # fall through to the list rule
        elif values.dtype in _FROM_NP:
            return ("arr", _FROM_NP[values.dtype])
        else:
            raise ValueError("no GGUF type for numpy dtype %s" % values.dtype)
    if len(values) == 0:
        raise ValueError("empty array: pass vtype=('arr', type)")
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return ("arr", "bool")
    if all(isinstance(v, (str, bytes)) for v in values):
        return ("arr", "str")
    if all(_is_int(v) for v in values):
        fits = all(-(1 << 31) <= int(v) < 1 << 31 for v in values)
        return ("arr", "i32" if fits else "i64")
    if all(_is_int(v) or isinstance(v, (float, np.floating)) for v in values):
        return ("arr", "f32")
    raise ValueError("cannot infer an array type for %r" % (values[:4],))


def infer_vtype(value):
    """The value type add_kv uses when none is given (module docstring)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if _is_int(value):
        return _int_vtype(int(value))
    if isinstance(value, (float, np.floating)):
        return "f32"
    if isinstance(value, (str, bytes)):
        return "str"
    if isinstance(value, (list, tuple, np.ndarray)):
        return _infer_array(value)
    raise ValueError("cannot infer a GGUF type for %r" % (value,))


def _enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _enc_numbers(vt, values):
    """Packed little-endian numbers, refusing values the type cannot hold."""
    if vt == "bool":
        arr = np.asarray(values)
        if arr.dtype != np.bool_ and not np.isin(arr, (0, 1)).all():
            raise ValueError("bool values must be True/False or 0/1")
        return arr.astype("<u1").tobytes()
    dt = np.dtype(_NP[vt])
    if dt.kind in "iu":
        ints = []
        for v in np.asarray(values, dtype=object).ravel():
            if isinstance(v, (float, np.floating)) and v != int(v):
                raise ValueError("%r is not an integer" % (v,))
            ints.append(int(v))
        info = np.iinfo(dt)
        bad = [v for v in ints if not info.min <= v <= info.max]
        if bad:
            raise ValueError("%d does not fit %s" % (bad[0], vt))
        return np.array(ints, dtype=object).astype(dt).tobytes()
    return np.asarray(values, dtype=np.float64).astype(dt).tobytes()


def encode_value(vtype, value):
    """(GGUF type id, bytes of the value) for a value of vtype."""
    if isinstance(vtype, tuple):
        if len(vtype) != 2 or vtype[0] != "arr" or vtype[1] not in VTYPES \
                or vtype[1] == "arr":
            raise ValueError("bad array vtype %r (nested arrays are not "
                             "supported)" % (vtype,))
        et = vtype[1]
        head = struct.pack("<IQ", VTYPES[et], len(value))
        if et == "str":
            return VTYPES["arr"], head + b"".join(_enc_str(s) for s in value)
        return VTYPES["arr"], head + _enc_numbers(et, list(value))
    if vtype not in VTYPES or vtype == "arr":
        raise ValueError("unknown vtype %r" % (vtype,))
    if vtype == "str":
        if not isinstance(value, (str, bytes)):
            raise ValueError("str value expected, got %r" % (value,))
        return VTYPES["str"], _enc_str(value)
    return VTYPES[vtype], _enc_numbers(vtype, [value])


# ---------------------------------------------------------------------------
# Tensors.

def encode_tensor(type_name, a2d):
    """Bytes of a (rows, row_len) float32 matrix in type_name."""
    if type_name == "F32":
        return a2d.astype("<f4").tobytes()
    if type_name == "F16":
        return a2d.astype("<f2").tobytes()
    import quants  # scripts/quants.py: the reference quantizers
    return bytes(quants.quantize(type_name, a2d))


class GGUFWriter:
    """Collects kvs and tensors, then write() produces the file."""

    def __init__(self, path, arch, alignment=DEFAULT_ALIGNMENT):
        if alignment <= 0 or alignment & (alignment - 1) or alignment >= 1 << 32:
            raise ValueError("alignment %r is not a power of two" % alignment)
        self.path = path
        self.alignment = alignment
        self._kvs = []            # (key bytes, type id, value bytes)
        self._keys = set()
        self._tensors = []        # (name bytes, ne, type id, raw, offset)
        self._names = set()
        if arch is not None:
            self.add_kv("general.architecture", arch, "str")
        if alignment != DEFAULT_ALIGNMENT:
            self.add_kv("general.alignment", alignment, "u32")

    def add_kv(self, key, value, vtype=None):
        if key in self._keys:
            raise ValueError("duplicate key %r" % key)
        try:
            vt_id, raw = encode_value(vtype or infer_vtype(value), value)
        except (ValueError, TypeError, OverflowError) as e:
            raise ValueError("key %r: %s" % (key, e)) from None
        self._keys.add(key)
        self._kvs.append((key.encode("utf-8"), vt_id, raw))

    def add_tensor(self, name, array, type_name="F32"):
        """array: 1-4 dimensional, converted to float32 then type_name."""
        if type_name not in TENSOR_TYPES:
            raise ValueError("tensor %r: unsupported type %r" % (name, type_name))
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        if not 1 <= a.ndim <= 4 or a.size == 0:
            raise ValueError("tensor %r: shape %s (need 1-4 non-empty dims)"
                             % (name, a.shape))
        tid, blck, size = _type_info(type_name)
        if a.shape[-1] % blck:
            raise ValueError("tensor %r: row length %d is not a multiple of "
                             "the %s block size %d" % (name, a.shape[-1],
                                                       type_name, blck))
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError("tensor name %r longer than %d bytes"
                             % (name, MAX_NAME_BYTES))
        raw = encode_tensor(type_name, a.reshape(-1, a.shape[-1]))
        want = a.size // blck * size
        if len(raw) != want:
            raise ValueError("tensor %r: %s encoder gave %d bytes, expected %d"
                             % (name, type_name, len(raw), want))
        self.add_tensor_raw(name, raw, list(reversed(a.shape)), tid)

    def add_tensor_raw(self, name, raw, ne, type_id, offset=None):
        """Unchecked: raw bytes, ne (ggml order) and type id as given;
        offset (relative to the data section) overrides the layout."""
        nb = name.encode("utf-8") if isinstance(name, str) else bytes(name)
        if nb in self._names and offset is None:
            raise ValueError("duplicate tensor name %r" % (name,))
        self._names.add(nb)
        self._tensors.append((nb, [int(d) for d in ne], int(type_id),
                              bytes(raw), offset))

    def _layout(self):
        """Offsets of the tensors in the data section, in insertion order."""
        offsets, cur = [], 0
        for _, _, _, raw, off in self._tensors:
            if off is None:
                off = self._align(cur)
            offsets.append(off)
            cur = max(cur, off + len(raw))
        return offsets

    def _align(self, n):
        return (n + self.alignment - 1) // self.alignment * self.alignment

    def write(self):
        offsets = self._layout()
        out = [b"GGUF", struct.pack("<IQQ", GGUF_VERSION, len(self._tensors),
                                    len(self._kvs))]
        for key, vt_id, raw in self._kvs:
            out += [_enc_str(key), struct.pack("<I", vt_id), raw]
        for (name, ne, tid, _, _), off in zip(self._tensors, offsets):
            out += [_enc_str(name), struct.pack("<I", len(ne)),
                    struct.pack("<%dQ" % len(ne), *ne),
                    struct.pack("<IQ", tid, off)]
        head = b"".join(out)
        data_start = self._align(len(head))
        with open(self.path, "wb") as f:
            f.write(head + b"\0" * (data_start - len(head)))
            end = 0
            order = sorted(range(len(offsets)), key=lambda i: offsets[i])
            for i in order:
                raw = self._tensors[i][3]
                f.seek(data_start + offsets[i])
                f.write(raw)
                end = max(end, offsets[i] + len(raw))
            if self._tensors:   # ggml pads the last tensor too
                f.seek(data_start + end)
                f.write(b"\0" * (self._align(end) - end))


# ---------------------------------------------------------------------------
# The sample file checked by tests/engine/test_gguf.c.

def write_sample(path):
    w = GGUFWriter(path, "llama")
    w.add_kv("sample.u32", 7)
    w.add_kv("sample.i32", -3)
    w.add_kv("sample.f32", 0.25)
    w.add_kv("sample.bool", True)
    w.add_kv("sample.u64", 1 << 40)
    w.add_kv("sample.str", "h\u00e9llo")
    w.add_kv("sample.tokens", ["a", "b", "<|im_end|>"])
    w.add_kv("sample.scores", [0.0, -1.5, 2.0])
    w.add_kv("sample.ids", [1, -2, 3])
    w.add_tensor("sample.f32", np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5)
    w.add_tensor("sample.f16", np.array([1, -2, 0.5, 65504], np.float32), "F16")
    w.write()


def _main(argv):
    if len(argv) == 3 and argv[1] == "--sample":
        write_sample(argv[2])
        return 0
    sys.stderr.write("usage: %s --sample OUT.gguf\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
