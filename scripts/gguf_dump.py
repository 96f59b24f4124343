#!/usr/bin/python3
"""gguf_dump.py — print a GGUF file's metadata and tensor directory.

    gguf_dump.py FILE.gguf [-n N]

Shows the version, every key with its value type and value (arrays as their
element type, count and first N items, default 8; long strings cut), then
every tensor with its type, ne (ggml order, innermost first), offset in the
data section and byte size. Parsing is scripts/gguf_reader.py's; this is the
developer's view of it, handy to check what scripts/gguf_writer.py wrote.
"""

import os
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import gguf_reader  # noqa: E402

VT_NAMES = {
    0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32",
    7: "bool", 8: "str", 9: "arr", 10: "u64", 11: "i64", 12: "f64",
}
# numpy dtype of an array gguf_reader returned -> GGUF element type name
_ARR_NAMES = {
    "uint8": "u8", "int8": "i8", "uint16": "u16", "int16": "i16",
    "uint32": "u32", "int32": "i32", "float32": "f32", "bool": "bool",
    "uint64": "u64", "int64": "i64", "float64": "f64",
}
MAX_STR = 120


def _short(v):
    r = repr(v)
    return r if len(r) <= MAX_STR else r[:MAX_STR] + "...'"


def format_kv(key, vt, value, n_items=8):
    """One line describing a kv, e.g. "k: arr[str] x 3 = ['a', 'b', 'c']"."""
    if vt != gguf_reader.VT_ARRAY:
        return "%s: %s = %s" % (key, VT_NAMES.get(vt, "?"), _short(value))
    if isinstance(value, np.ndarray):
        et = _ARR_NAMES.get(value.dtype.name, value.dtype.name)
        items = [x.item() for x in value[:n_items]]
    else:
        et = "str"
        items = list(value[:n_items])
    more = ", ..." if len(value) > n_items else ""
    return "%s: arr[%s] x %d = [%s%s]" % (
        key, et, len(value), ", ".join(_short(x) for x in items), more)


def dump(path, n_items=8, out=sys.stdout):
    g = gguf_reader.GGUFFile(path)
    out.write("%s: GGUF v%d, %d kvs, %d tensors, data section at %d\n"
              % (path, g.version, len(g.kv), len(g.tensors), g.data_offset))
    for key, value in g.kv.items():
        out.write("  " + format_kv(key, g.kv_types[key], value, n_items) + "\n")
    for t in g.tensors.values():
        out.write("  %-40s %-6s ne=%-20s offset=%-10d bytes=%d\n"
                  % (t.name, t.type_name, t.ne, t.offset, len(t.raw)))


def _main(argv):
    args = argv[1:]
    n_items = 8
    if "-n" in args:
        i = args.index("-n")
        n_items = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    try:
        dump(args[0], n_items)
    except (OSError, gguf_reader.GGUFError) as e:
        sys.stderr.write("gguf_dump: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
