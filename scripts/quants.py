#!/usr/bin/python3
"""quants.py — numpy quantizers and dequantizers for the GGUF tensor types
Hearth runs: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K.

The block layouts are byte-for-byte ggml's (the same structs as
engine/engine_int.h) and the quantization rules are those of ggml's reference
quantizers, the same as engine/quant.c: Q8_0 d = amax/127 with round half away
from zero, Q4_0 d = max/-8 for the signed max-abs element, Q4_K/Q5_K a
weighted least-squares scale+min per 32-element sub-block quantized to 6 bits,
Q6_K a symmetric x^2-weighted fit per 16 elements with int8 scales. The
arithmetic is float32 in the C code's order (sums included), so the bytes
match engine_quant_row() unless the C compiler fuses a multiply-add;
dequantize() is exactly the format's math in float32.

Everything is vectorized over blocks (matrices of millions of elements); the
only Python loops run over the handful of candidate grid widths.

API (used by scripts/gguf_writer.py):
    quantize(type_name, a)          a: float32 (rows, row_len) -> bytes
                                    (1-D = one row; N-D = rows of shape[-1])
    dequantize(type_name, raw, shape) -> float32 array of shape
    TYPES[type_name] = (ggml type id, elements per block, bytes per block)

Command line:
    quants.py fixture OUT   write the cross-language fixture read by
                            tests/engine/test_quant_numpy.c (format below)
"""
import struct
import sys

import numpy as np

QK_K = 256

# name: (ggml type id, elements per block, bytes per block)
TYPES = {
    'F32': (0, 1, 4),
    'F16': (1, 1, 2),
    'Q4_0': (2, 32, 18),
    'Q8_0': (8, 32, 34),
    'Q4_K': (12, QK_K, 144),
    'Q5_K': (13, QK_K, 176),
    'Q6_K': (14, QK_K, 210),
    'BF16': (30, 1, 2),
}

# Block structs, packed little-endian exactly as ggml lays them out.
_BLOCK = {
    'Q4_0': np.dtype([('d', '<f2'), ('qs', 'u1', 16)]),
    'Q8_0': np.dtype([('d', '<f2'), ('qs', 'i1', 32)]),
    'Q4_K': np.dtype([('d', '<f2'), ('dmin', '<f2'), ('scales', 'u1', 12),
                      ('qs', 'u1', 128)]),
    'Q5_K': np.dtype([('d', '<f2'), ('dmin', '<f2'), ('scales', 'u1', 12),
                      ('qh', 'u1', 32), ('qs', 'u1', 128)]),
    'Q6_K': np.dtype([('ql', 'u1', 128), ('qh', 'u1', 64),
                      ('scales', 'i1', 16), ('d', '<f2')]),
}
for _name, _dt in _BLOCK.items():
    assert _dt.itemsize == TYPES[_name][2], _name

F32 = np.float32


# ---------------------------------------------------------------------------
# Scalar types.

def _f32_to_bf16(x):
    """Round-to-nearest-even float32 -> bfloat16 bits; NaN stays NaN."""
    u = np.ascontiguousarray(x, dtype='<f4').view('<u4').astype(np.uint64)
    rounded = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = (u & 0x7fffffff) > 0x7f800000
    quiet = ((u >> 16) | 0x40).astype(np.uint16)
    return np.where(nan, quiet, rounded).astype('<u2')


def _bf16_to_f32(h):
    return (h.astype(np.uint32) << 16).view('<f4')


def _to_half(x):
    """float32 -> float16, round to nearest even (overflow -> inf)."""
    with np.errstate(over='ignore'):
        return np.asarray(x, dtype=F32).astype('<f2')


# ---------------------------------------------------------------------------
# Helpers shared by the block quantizers.

def _signed_absmax(x):
    """Per row of x (N, n): the first element of largest magnitude."""
    idx = np.argmax(np.abs(x), axis=1)
    return np.take_along_axis(x, idx[:, None], axis=1)[:, 0]


def _round_half_away(v):
    """C roundf(): half away from zero (exact in float64 for float32 v)."""
    v = v.astype(np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _seqsum(v):
    """Row sums of v (N, n) accumulated left to right in float32, the
    order of the C loops (numpy's pairwise sum would differ in the last
    bits, and the K-quant fits choose between close candidates)."""
    return np.cumsum(v, axis=1, dtype=F32)[:, -1]


def _rint_clip(v, lo, hi):
    """nearest integer (ties even, ggml's nearest_int) clamped to [lo, hi]."""
    return np.clip(np.rint(v), lo, hi).astype(np.int32)


# ---------------------------------------------------------------------------
# Q8_0 and Q4_0.

def _quant_q8_0(x):
    x = x.reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = (amax / F32(127)).astype(F32)
    with np.errstate(divide='ignore'):
        inv = np.where(d != 0, F32(1) / np.where(d != 0, d, 1), 0).astype(F32)
    blk = np.zeros(len(x), _BLOCK['Q8_0'])
    blk['d'] = _to_half(d)
    q = _round_half_away(x * inv[:, None])
    blk['qs'] = np.clip(q, -127, 127).astype(np.int8)
    return blk


def _dequant_q8_0(blk):
    d = blk['d'].astype(F32)
    return (d[:, None] * blk['qs'].astype(F32)).reshape(-1)


def _quant_q4_0(x):
    x = x.reshape(-1, 32)
    d = (_signed_absmax(x) / F32(-8)).astype(F32)
    inv = np.where(d != 0, F32(1) / np.where(d != 0, d, 1), 0).astype(F32)
    q = np.clip(np.floor(x * inv[:, None] + F32(8.5)), 0, 15).astype(np.uint8)
    blk = np.zeros(len(x), _BLOCK['Q4_0'])
    blk['d'] = _to_half(d)
    # byte j: element j in the low nibble, element j+16 in the high one
    blk['qs'] = q[:, :16] | (q[:, 16:] << 4)
    return blk


def _dequant_q4_0(blk):
    d = blk['d'].astype(F32)
    qs = blk['qs']
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(F32) - F32(8)
    return (d[:, None] * q).reshape(-1)


# ---------------------------------------------------------------------------
# Q4_K and Q5_K: 8 sub-blocks of 32 per 256, 6-bit scale and min each.

def _fit_scale_min(x, w, nmax, rmin, nstep):
    """Weighted LSQ fit x ~ scale*L + min (min <= 0, L in 0..nmax) per row
    of x (N, 32) — ggml's make_qkx2_quants. Returns (scale, -min, L)."""
    lo = np.minimum(x.min(axis=1), 0).astype(F32)
    hi = x.max(axis=1)
    flat = hi == lo
    rng = np.where(flat, F32(1), hi - lo).astype(F32)
    sum_w = _seqsum(w)
    sum_x = _seqsum(w * x)

    def levels(iscale):
        return _rint_clip(iscale[:, None] * (x - lo[:, None]), 0, nmax)

    def error(L, s, m):
        diff = s[:, None] * L.astype(F32) + m[:, None] - x
        return _seqsum(w * diff * diff)

    iscale = (F32(nmax) / rng).astype(F32)
    scale = (F32(1) / iscale).astype(F32)
    mn = lo.copy()
    L = levels(iscale)
    best = error(L, scale, mn)
    for step in range(nstep + 1):
        width = F32(rmin) + F32(0.1) * F32(step) + F32(nmax)
        La = levels((width / rng).astype(F32))
        Lf = La.astype(F32)
        sum_l = _seqsum(w * Lf)
        sum_l2 = _seqsum(w * Lf * Lf)
        sum_xl = _seqsum(w * Lf * x)
        det = sum_w * sum_l2 - sum_l * sum_l
        ok = det > 0
        det = np.where(ok, det, F32(1))
        s = (sum_w * sum_xl - sum_x * sum_l) / det
        m = (sum_l2 * sum_x - sum_l * sum_xl) / det
        pos = m > 0  # the model needs min <= 0: refit the scale alone
        m = np.where(pos, F32(0), m).astype(F32)
        s = np.where(pos, sum_xl / np.where(sum_l2 > 0, sum_l2, F32(1)),
                     s).astype(F32)
        err = error(La, s, m)
        better = ok & (err < best)
        L = np.where(better[:, None], La, L)
        best = np.where(better, err, best)
        scale = np.where(better, s, scale)
        mn = np.where(better, m, mn)
    scale = np.where(flat, F32(0), scale).astype(F32)
    mn = np.where(flat, lo, mn).astype(F32)
    L = np.where(flat[:, None], 0, L)
    return scale, -mn, L


def _pack_k4_scales(ls, lm):
    """6-bit scales/mins (nb, 8) -> the 12 packed bytes (nb, 12)."""
    s = np.zeros((len(ls), 12), np.uint8)
    s[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    s[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (ls[:, 4:8] & 15) | ((lm[:, 4:8] & 15) << 4)
    return s


def _unpack_k4_scales(s):
    """12 packed bytes (nb, 12) -> scales, mins (nb, 8) as uint8."""
    sc = np.empty((len(s), 8), np.uint8)
    mn = np.empty((len(s), 8), np.uint8)
    sc[:, 0:4] = s[:, 0:4] & 63
    mn[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _quant_k4(x, nmax, rmin, nstep, blk):
    """Fill d, dmin, scales of Q4_K/Q5_K blocks; return levels (nb, 256)."""
    x = x.reshape(-1, QK_K)
    nb = len(x)
    xs = x.reshape(-1, 32)
    av = np.sqrt(_seqsum(xs * xs) / F32(32)).astype(F32)
    w = (av[:, None] + np.abs(xs)).astype(F32)
    sc, mn, L = _fit_scale_min(xs, w, nmax, rmin, nstep)
    sc, mn, L = sc.reshape(nb, 8), mn.reshape(nb, 8), L.reshape(nb, QK_K)
    # > 0 or +0 (never -0, which an all-zero sub-block's min is)
    max_sc = np.where(sc.max(axis=1) > 0, sc.max(axis=1), F32(0))
    max_mn = np.where(mn.max(axis=1) > 0, mn.max(axis=1), F32(0))
    with np.errstate(divide='ignore'):
        inv_sc = np.where(max_sc > 0, F32(63) / max_sc, 0).astype(F32)
        inv_mn = np.where(max_mn > 0, F32(63) / max_mn, 0).astype(F32)
    ls = _rint_clip(inv_sc[:, None] * sc, 0, 63).astype(np.uint8)
    lm = _rint_clip(inv_mn[:, None] * mn, 0, 63).astype(np.uint8)
    blk['scales'] = _pack_k4_scales(ls, lm)
    blk['d'] = _to_half(max_sc / F32(63))
    blk['dmin'] = _to_half(max_mn / F32(63))
    # levels against the rounded scales that dequantization will use
    ds = blk['d'].astype(F32)[:, None] * ls.astype(F32)
    dm = blk['dmin'].astype(F32)[:, None] * lm.astype(F32)
    x3 = x.reshape(nb, 8, 32)
    with np.errstate(divide='ignore', invalid='ignore'):
        Lr = _rint_clip((x3 + dm[:, :, None]) /
                        np.where(ds != 0, ds, F32(1))[:, :, None], 0, nmax)
    L = np.where((ds != 0)[:, :, None], Lr, L.reshape(nb, 8, 32))
    return L.reshape(nb, QK_K).astype(np.uint8)


def _quant_q4_k(x):
    blk = np.zeros(x.size // QK_K, _BLOCK['Q4_K'])
    L = _quant_k4(x, 15, -1.0, 20, blk).reshape(-1, 4, 2, 32)
    # each 32 bytes: 64 elements, first 32 low nibbles, next 32 high
    blk['qs'] = (L[:, :, 0] | (L[:, :, 1] << 4)).reshape(-1, 128)
    return blk


_Q5_SHIFT = (2 * np.arange(4)[:, None] + np.arange(2)[None, :])[None, :, :,
                                                                None]


def _quant_q5_k(x):
    blk = np.zeros(x.size // QK_K, _BLOCK['Q5_K'])
    L = _quant_k4(x, 31, -0.5, 15, blk).reshape(-1, 4, 2, 32)
    low = L & 15
    blk['qs'] = (low[:, :, 0] | (low[:, :, 1] << 4)).reshape(-1, 128)
    # qh[l] bit 2c: element 64c+l, bit 2c+1: element 64c+32+l
    hb = (L >> 4).astype(np.uint8) << _Q5_SHIFT.astype(np.uint8)
    blk['qh'] = np.bitwise_or.reduce(hb.reshape(-1, 8, 32), axis=1)
    return blk


def _dequant_k4(blk, with_qh):
    nb = len(blk)
    sc, mn = _unpack_k4_scales(blk['scales'])
    qs = blk['qs'].reshape(nb, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).astype(np.int32)
    if with_qh:
        q = q + ((blk['qh'][:, None, None, :] >> _Q5_SHIFT[0]) & 1) * 16
    q = q.reshape(nb, 8, 32).astype(F32)
    d1 = blk['d'].astype(F32)[:, None] * sc.astype(F32)
    m1 = blk['dmin'].astype(F32)[:, None] * mn.astype(F32)
    return (d1[:, :, None] * q - m1[:, :, None]).reshape(-1)


# ---------------------------------------------------------------------------
# Q6_K: 16 sub-blocks of 16 per 256, int8 scales, 6-bit q.

def _fit_scale_sym(x, nmax):
    """x^2-weighted symmetric fit per row of x (N, 16) — ggml's
    make_qx_quants(rmse_type 1). Returns (scale, L in 0..2*nmax-1)."""
    mx = _signed_absmax(x)
    tiny = np.abs(mx) < F32(1e-15)
    mx = np.where(tiny, F32(1), mx).astype(F32)
    w = x * x

    def fit(iscale):
        lv = _rint_clip(iscale[:, None] * x, -nmax, nmax - 1)
        lf = lv.astype(F32)
        return lv, _seqsum(w * x * lf), _seqsum(w * lf * lf)

    L, sumlx, suml2 = fit((F32(-nmax) / mx).astype(F32))
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1),
                     0).astype(F32)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = (-(F32(nmax) + F32(0.1) * F32(step)) / mx).astype(F32)
        lv, sx, s2 = fit(iscale)
        better = (s2 > 0) & (sx * sx > best * s2)
        s = sx / np.where(s2 > 0, s2, F32(1))
        L = np.where(better[:, None], lv, L)
        scale = np.where(better, s, scale).astype(F32)
        best = np.where(better, s * sx, best).astype(F32)
    scale = np.where(tiny, F32(0), scale).astype(F32)
    L = np.where(tiny[:, None], 0, L)
    return scale, L + nmax


def _quant_q6_k(x):
    x = x.reshape(-1, QK_K)
    nb = len(x)
    sc, L = _fit_scale_sym(x.reshape(-1, 16), 32)
    sc, L = sc.reshape(nb, 16), L.reshape(nb, 16, 16)
    max_sc = _signed_absmax(sc)
    zero = np.abs(max_sc) < F32(1e-15)
    iscale = (F32(-128) / np.where(zero, F32(1), max_sc)).astype(F32)
    blk = np.zeros(nb, _BLOCK['Q6_K'])
    blk['d'] = np.where(zero, 0, _to_half(F32(1) / iscale))
    scales = _rint_clip(iscale[:, None] * sc, -128, 127)
    scales = np.where(zero[:, None], 0, scales)
    blk['scales'] = scales.astype(np.int8)
    ds = blk['d'].astype(F32)[:, None] * scales.astype(F32)
    with np.errstate(divide='ignore', invalid='ignore'):
        Lr = _rint_clip(x.reshape(nb, 16, 16) /
                        np.where(ds != 0, ds, F32(1))[:, :, None], -32, 31) + 32
    L = np.where((ds != 0)[:, :, None], Lr, L)
    L = np.where(zero[:, None, None], 0, L).astype(np.uint8)
    # per 128-element half: quarters k=0..3 of 32 elements
    q = L.reshape(nb, 2, 4, 32)
    ql = np.concatenate([(q[:, :, 0] & 15) | ((q[:, :, 2] & 15) << 4),
                         (q[:, :, 1] & 15) | ((q[:, :, 3] & 15) << 4)], axis=2)
    qh = ((q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) |
          ((q[:, :, 2] >> 4) << 4) | ((q[:, :, 3] >> 4) << 6))
    blk['ql'] = ql.reshape(nb, 128)
    blk['qh'] = qh.reshape(nb, 64)
    return blk


def _dequant_q6_k(blk):
    nb = len(blk)
    ql = blk['ql'].reshape(nb, 2, 64).astype(np.int32)
    qh = blk['qh'].reshape(nb, 2, 32).astype(np.int32)
    lo, hi = ql[:, :, :32], ql[:, :, 32:]
    q = np.stack([(lo & 15) | ((qh & 3) << 4),
                  (hi & 15) | (((qh >> 2) & 3) << 4),
                  (lo >> 4) | (((qh >> 4) & 3) << 4),
                  (hi >> 4) | (((qh >> 6) & 3) << 4)], axis=2)
    q = q.reshape(nb, 16, 16).astype(F32) - F32(32)
    ds = blk['d'].astype(F32)[:, None] * blk['scales'].astype(F32)
    return (ds[:, :, None] * q).reshape(-1)


# ---------------------------------------------------------------------------
# Public API.

_QUANT = {'Q8_0': _quant_q8_0, 'Q4_0': _quant_q4_0, 'Q4_K': _quant_q4_k,
          'Q5_K': _quant_q5_k, 'Q6_K': _quant_q6_k}
_DEQUANT = {'Q8_0': _dequant_q8_0, 'Q4_0': _dequant_q4_0,
            'Q4_K': lambda b: _dequant_k4(b, False),
            'Q5_K': lambda b: _dequant_k4(b, True),
            'Q6_K': _dequant_q6_k}


def _check(type_name, row_len):
    if type_name not in TYPES:
        raise ValueError('quants: unsupported type %r (have %s)' %
                         (type_name, ', '.join(TYPES)))
    blck = TYPES[type_name][1]
    if row_len % blck:
        raise ValueError('quants: %s needs rows of a multiple of %d elements,'
                         ' got %d' % (type_name, blck, row_len))


def quantize(type_name, a):
    """Quantize a float32 matrix (rows, row_len) to type_name's raw bytes,
    rows back to back as GGUF stores them. A 1-D array is one row; more
    dimensions are rows of the last one (GGUF's ne[0] innermost)."""
    a = np.ascontiguousarray(a, dtype=F32)
    if a.ndim < 1:
        raise ValueError('quants: expected an array with a row dimension,'
                         ' got shape %s' % (a.shape,))
    _check(type_name, a.shape[-1])
    flat = a.reshape(-1)
    if type_name == 'F32':
        return flat.astype('<f4').tobytes()
    if type_name == 'F16':
        return _to_half(flat).tobytes()
    if type_name == 'BF16':
        return _f32_to_bf16(flat).tobytes()
    return _QUANT[type_name](flat).tobytes()


def dequantize(type_name, raw, shape):
    """Decode raw bytes of type_name into a float32 array of shape."""
    shape = tuple(int(s) for s in shape)
    _check(type_name, shape[-1] if shape else 1)
    n = int(np.prod(shape))
    _, blck, size = TYPES[type_name]
    if len(raw) != n // blck * size:
        raise ValueError('quants: %s of shape %s needs %d bytes, got %d' %
                         (type_name, shape, n // blck * size, len(raw)))
    if type_name == 'F32':
        out = np.frombuffer(raw, '<f4').astype(F32)
    elif type_name == 'F16':
        out = np.frombuffer(raw, '<f2').astype(F32)
    elif type_name == 'BF16':
        out = _bf16_to_f32(np.frombuffer(raw, '<u2'))
    else:
        out = _DEQUANT[type_name](np.frombuffer(raw, _BLOCK[type_name]))
    return out.astype(F32).reshape(shape)


# ---------------------------------------------------------------------------
# Cross-language fixture.
#
# Little-endian: b'HQFX', u32 version (1), u32 rows, u32 cols, u32 n_types,
# f32 input[rows*cols]; then per type: char name[8] (NUL-padded), u32 ggml
# type id, u64 n_raw, raw[n_raw], f32 dequantized[rows*cols].

FIXTURE_MAGIC = b'HQFX'
FIXTURE_VERSION = 1


def fixture_matrix():
    """A fixed matrix covering the interesting block shapes."""
    rng = np.random.default_rng(20240607)
    rows, cols = 8, 2048
    a = rng.standard_normal((rows, cols)).astype(F32)
    a[1] *= F32(0.02)                            # typical weight magnitudes
    a[2] = rng.uniform(0.0, 3.0, cols)           # all positive: min = 0 fits
    a[3, :32] = 0                                # an all-zero 32-block
    a[3, 100] = 40.0                             # an outlier
    a[4, :256] = 0                               # an all-zero super-block
    a[5] *= F32(1e-6)                            # fp16 subnormal scales
    a[6] = -np.abs(a[6])                         # all negative
    a[7] = np.round(a[7] * 4) / 4                # many exact ties
    return a


def write_fixture(path):
    a = fixture_matrix()
    rows, cols = a.shape
    with open(path, 'wb') as f:
        f.write(FIXTURE_MAGIC)
        f.write(struct.pack('<IIII', FIXTURE_VERSION, rows, cols, len(TYPES)))
        f.write(a.astype('<f4').tobytes())
        for name, (tid, _, _) in TYPES.items():
            raw = quantize(name, a)
            f.write(name.encode().ljust(8, b'\0'))
            f.write(struct.pack('<IQ', tid, len(raw)))
            f.write(raw)
            f.write(dequantize(name, raw, a.shape).astype('<f4').tobytes())


def main(argv):
    if len(argv) == 3 and argv[1] == 'fixture':
        write_fixture(argv[2])
        return 0
    sys.stderr.write('usage: quants.py fixture OUT\n')
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
