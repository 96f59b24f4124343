"""gguf_reader.py — a minimal GGUF v2/v3 reader for the project's scripts.

Reads what scripts/gguf_writer.py writes (and what llama.cpp's converters
write): the header, every metadata key/value (scalars, strings, arrays of
scalars or strings) and the tensor directory. Tensor bytes are handed out as
memoryview slices of one read-only numpy memmap of the file; turning them into
floats is scripts/quants.py's job (dequantize(type_name, raw, shape)).

Layout (all little-endian), as the GGUF specification defines it:
    magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
    n_kv x  { string key, u32 value_type, value }
    n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
    padding to general.alignment (default 32), then the data section;
    each tensor's offset is relative to the start of the data section.
    string = u64 length + bytes (UTF-8, no NUL)
    array  = u32 element type, u64 count, elements

A tensor with ne = [in, out] is a row-major (out, in) matrix: ne[0] is the
innermost (fastest varying) dimension, so numpy shape = reversed(ne).

Used by scripts/reference.py and scripts/make_test_model.py; runs under
/usr/bin/python3 with numpy only.
"""

import struct
import sys

import numpy as np

# ---------------------------------------------------------------------------
# Value and tensor type tables (GGUF specification / ggml.h).

VT_UINT8, VT_INT8, VT_UINT16, VT_INT16, VT_UINT32, VT_INT32 = 0, 1, 2, 3, 4, 5
VT_FLOAT32, VT_BOOL, VT_STRING, VT_ARRAY = 6, 7, 8, 9
VT_UINT64, VT_INT64, VT_FLOAT64 = 10, 11, 12

# struct format of each scalar value type
_SCALAR_FMT = {
    VT_UINT8: "<B", VT_INT8: "<b", VT_UINT16: "<H", VT_INT16: "<h",
    VT_UINT32: "<I", VT_INT32: "<i", VT_FLOAT32: "<f", VT_BOOL: "<?",
    VT_UINT64: "<Q", VT_INT64: "<q", VT_FLOAT64: "<d",
}
# numpy dtype of each scalar value type, for fast array reads
_SCALAR_NP = {
    VT_UINT8: "<u1", VT_INT8: "<i1", VT_UINT16: "<u2", VT_INT16: "<i2",
    VT_UINT32: "<u4", VT_INT32: "<i4", VT_FLOAT32: "<f4", VT_BOOL: "<u1",
    VT_UINT64: "<u8", VT_INT64: "<i8", VT_FLOAT64: "<f8",
}

# ggml type id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    30: ("BF16", 1, 2),
}
GGML_TYPE_ID = {v[0]: k for k, v in GGML_TYPES.items()}


class GGUFError(Exception):
    pass


class Tensor:
    """One entry of the tensor directory plus its raw bytes."""

    def __init__(self, name, ne, type_id, offset, raw):
        self.name = name
        self.ne = list(ne)                 # ggml order, ne[0] innermost
        self.type_id = type_id
        self.type_name = GGML_TYPES[type_id][0]
        self.offset = offset
        self.raw = raw                     # bytes-like, exactly nbytes

    @property
    def shape(self):
        """numpy shape (outermost first)."""
        return tuple(reversed(self.ne))

    def __repr__(self):
        return "Tensor(%s, ne=%s, %s)" % (self.name, self.ne, self.type_name)


def tensor_nbytes(type_id, ne):
    name, blck, size = GGML_TYPES[type_id]
    if ne[0] % blck:
        raise GGUFError("row length %d not a multiple of %s block %d"
                        % (ne[0], name, blck))
    n = 1
    for d in ne:
        n *= d
    return n // blck * size


# ---------------------------------------------------------------------------
# Parsing.

class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise GGUFError("truncated file at offset %d (need %d bytes)"
                            % (self.pos, n))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, vt):
        fmt = _SCALAR_FMT[vt]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def u32(self):
        return self.scalar(VT_UINT32)

    def u64(self):
        return self.scalar(VT_UINT64)

    def string(self):
        n = self.u64()
        return bytes(self.take(n)).decode("utf-8", errors="surrogateescape")

    def value(self, vt):
        if vt == VT_STRING:
            return self.string()
        if vt == VT_ARRAY:
            et = self.u32()
            n = self.u64()
            if et == VT_STRING:
                return [self.string() for _ in range(n)]
            if et == VT_ARRAY:
                raise GGUFError("nested arrays are not supported")
            dt = np.dtype(_SCALAR_NP[et])
            arr = np.frombuffer(self.take(n * dt.itemsize), dtype=dt)
            return arr.astype(bool) if et == VT_BOOL else arr.copy()
        if vt not in _SCALAR_FMT:
            raise GGUFError("unknown value type %d at offset %d"
                            % (vt, self.pos))
        return self.scalar(vt)


class GGUFFile:
    """A parsed GGUF file: .version, .kv (dict, insertion ordered),
    .kv_types (key -> value type), .tensors (dict name -> Tensor)."""

    def __init__(self, path):
        self.path = path
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        buf = memoryview(self._map)
        cur = _Cursor(buf)
        if bytes(cur.take(4)) != b"GGUF":
            raise GGUFError("%s: bad magic" % path)
        self.version = cur.u32()
        if self.version not in (2, 3):
            raise GGUFError("%s: unsupported GGUF version %d"
                            % (path, self.version))
        n_tensors = cur.u64()
        n_kv = cur.u64()
        self.kv = {}
        self.kv_types = {}
        for _ in range(n_kv):
            key = cur.string()
            vt = cur.u32()
            self.kv[key] = cur.value(vt)
            self.kv_types[key] = vt
        infos = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.u32()
            ne = [cur.u64() for _ in range(n_dims)]
            type_id = cur.u32()
            offset = cur.u64()
            if type_id not in GGML_TYPES:
                raise GGUFError("%s: tensor %s has unknown type %d"
                                % (path, name, type_id))
            infos.append((name, ne, type_id, offset))
        align = int(self.kv.get("general.alignment", 32))
        self.data_offset = (cur.pos + align - 1) // align * align
        self.tensors = {}
        for name, ne, type_id, offset in infos:
            nbytes = tensor_nbytes(type_id, ne)
            start = self.data_offset + offset
            if start + nbytes > len(buf):
                raise GGUFError("%s: tensor %s data [%d, %d) past end %d"
                                % (path, name, start, start + nbytes,
                                   len(buf)))
            self.tensors[name] = Tensor(name, ne, type_id, offset,
                                        buf[start:start + nbytes])

    def get(self, key, default=None):
        return self.kv.get(key, default)


def read(path):
    return GGUFFile(path)


def _main(argv):
    """Dump a file's metadata and tensor directory (debugging aid)."""
    g = GGUFFile(argv[1])
    print("GGUF v%d, %d kv, %d tensors" % (g.version, len(g.kv),
                                          len(g.tensors)))
    for k, v in g.kv.items():
        if isinstance(v, (list, np.ndarray)) and len(v) > 8:
            v = "[%s, ... %d items]" % (", ".join(repr(x) for x in v[:8]),
                                        len(v))
        print("  %s = %s" % (k, v))
    for t in g.tensors.values():
        print("  %-32s %-6s ne=%s" % (t.name, t.type_name, t.ne))


if __name__ == "__main__":
    _main(sys.argv)
