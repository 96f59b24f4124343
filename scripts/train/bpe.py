"""bpe.py — byte-level BPE (GPT-2 style) with the qwen2 pre-tokenizer split.

Trains a vocabulary on a corpus and encodes/decodes text exactly as the C
engine will with the resulting GGUF metadata (tokenizer.ggml.model "gpt2",
tokenizer.ggml.pre "qwen2"):

  1. special tokens are cut out first (longest match wins);
  2. the rest is split by the qwen2 pre-tokenizer regex
       (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}
       | ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
     Python's `re` has no \\p{L}, so pre_split() walks the alternatives by
     hand with unicodedata categories (L* = letter, N* = number), keeping the
     regex's leftmost-alternative and greedy/backtracking semantics;
  3. each piece's UTF-8 bytes are mapped to printable characters with GPT-2's
     byte-to-unicode table, then merged by rank.

Vocabulary layout: ids 0..255 the single bytes (by byte value), then merges
in the order learned, then control tokens (type 3), user-defined tokens
(type 4) and, if needed to reach the requested size, unused padding control
tokens "<|pad_N|>". Token strings are stored in byte-mapped form; special
tokens as their literal text, as llama.cpp's GGUF files do.
"""

import heapq
import json
import unicodedata

TT_NORMAL, TT_CONTROL, TT_USER_DEFINED = 1, 3, 4


# ---------------------------------------------------------------------------
# GPT-2 byte <-> printable unicode mapping.

def byte_to_unicode():
    """Printable bytes map to themselves; the others to U+0100 upwards, in order."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1))
            + list(range(0xAE, 0xFF + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_ENC = byte_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}


# ---------------------------------------------------------------------------
# qwen2 pre-tokenizer.

def _is_l(c):
    return unicodedata.category(c)[0] == "L"


def _is_n(c):
    return unicodedata.category(c)[0] == "N"


def _is_s(c):
    # \s in PCRE2/Unicode mode: White_Space; str.isspace() agrees on the
    # characters that matter here (ASCII whitespace, NBSP, U+2000.. spaces).
    return c.isspace()


_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")


def pre_split(text):
    """Split text into pre-tokens like the qwen2 regex (see module doc)."""
    out, i, n = [], 0, len(text)
    while i < n:
        j = _match_at(text, i, n)
        out.append(text[i:j])
        i = j
    return out


def _match_at(t, i, n):
    c = t[i]
    # 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if c == "'":
        for suf in _CONTRACTIONS:
            if t[i + 1:i + 1 + len(suf)].lower() == suf:
                return i + 1 + len(suf)
    # 2. [^\r\n\p{L}\p{N}]?\p{L}+
    j = -1
    if _is_l(c):
        j = i
    elif c not in "\r\n" and not _is_n(c) and i + 1 < n and _is_l(t[i + 1]):
        j = i + 1
    if j >= 0:
        while j < n and _is_l(t[j]):
            j += 1
        return j
    # 3. \p{N}
    if _is_n(c):
        return i + 1
    # 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    j = i + 1 if (c == " " and i + 1 < n) else i
    if j < n and not (_is_s(t[j]) or _is_l(t[j]) or _is_n(t[j])):
        while j < n and not (_is_s(t[j]) or _is_l(t[j]) or _is_n(t[j])):
            j += 1
        while j < n and t[j] in "\r\n":
            j += 1
        return j
    # Only whitespace remains possible from here.
    end = i
    while end < n and _is_s(t[end]):
        end += 1
    # 5. \s*[\r\n]+ : up to and including the last newline of the run.
    last_nl = -1
    for k in range(i, end):
        if t[k] in "\r\n":
            last_nl = k
    if last_nl >= 0:
        return last_nl + 1
    # 6. \s+(?!\S) : the whole run at the end of text, else all but its last char.
    if end == n:
        return end
    if end - i >= 2:
        return end - 1
    # 7. \s+
    return end


# ---------------------------------------------------------------------------
# Training.

def _split_specials(text, specials):
    """[(piece, is_special)], cutting out special tokens, longest first."""
    if not specials:
        return [(text, False)]
    order = sorted(specials, key=len, reverse=True)
    first = {sp[0] for sp in specials}
    out, i, start = [], 0, 0
    while i < len(text):
        if text[i] in first:
            hit = next((s for s in order if text.startswith(s, i)), None)
            if hit:
                if start < i:
                    out.append((text[start:i], False))
                out.append((hit, True))
                i += len(hit)
                start = i
                continue
        i += 1
    if start < len(text):
        out.append((text[start:], False))
    return out


def count_words(texts_with_weights, specials):
    counts = {}
    for text, w in texts_with_weights:
        for piece, sp in _split_specials(text, specials):
            if sp:
                continue
            for word in pre_split(piece):
                key = "".join(BYTE_ENC[b] for b in word.encode("utf-8"))
                counts[key] = counts.get(key, 0) + w
    return counts


def _wordish(sym):
    """True when every byte of a symbol is an ASCII letter or digit or part of
    a UTF-8 sequence (letters beyond ASCII)."""
    return all(b >= 0x80 or chr(b).isalnum() for b in (BYTE_DEC[c] for c in sym))


def train(word_counts, n_merges, word_pieces_only=False):
    """Learn up to n_merges merges; returns [(a, b)] in rank order.

    Ties in pair frequency break on the pair's strings, so the result depends
    only on the counts. With word_pieces_only, a merge never joins letters or
    digits to a space or punctuation: the qwen2 pre-tokens " paris" and
    "\"paris" then share the pieces of "paris", so a value the user said is
    the same tokens when a model copies it into a JSON string (a small model
    learns to copy identical tokens; mapping " par" to "\"par" it must learn
    per token).
    """
    words = [list(w) for w in word_counts]
    freq = [word_counts[w] for w in word_counts]
    pairs, where = {}, {}
    for wi, syms in enumerate(words):
        _add_pairs(syms, freq[wi], wi, pairs, where)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -negc or negc == 0:
            continue
        if -negc < 2:
            break
        if word_pieces_only and _wordish(pair[0]) != _wordish(pair[1]):
            continue
        merges.append(pair)
        merged = pair[0] + pair[1]
        touched = set()
        for wi in list(where.get(pair, ())):
            syms = words[wi]
            _add_pairs(syms, -freq[wi], wi, pairs, where, touched)
            words[wi] = syms = _merge(syms, pair, merged)
            _add_pairs(syms, freq[wi], wi, pairs, where, touched)
        for p in touched:
            if pairs.get(p, 0) > 0:
                heapq.heappush(heap, (-pairs[p], p))
    return merges


def _add_pairs(syms, f, wi, pairs, where, touched=None):
    for k in range(len(syms) - 1):
        p = (syms[k], syms[k + 1])
        pairs[p] = pairs.get(p, 0) + f
        if f > 0:
            where.setdefault(p, set()).add(wi)
        elif pairs[p] <= 0:
            pairs.pop(p)
        if touched is not None:
            touched.add(p)
    if f < 0:
        for k in range(len(syms) - 1):
            p = (syms[k], syms[k + 1])
            if p not in pairs and p in where:
                where[p].discard(wi)


def _merge(syms, pair, merged):
    out, k = [], 0
    while k < len(syms):
        if k + 1 < len(syms) and syms[k] == pair[0] and syms[k + 1] == pair[1]:
            out.append(merged)
            k += 2
        else:
            out.append(syms[k])
            k += 1
    return out


# ---------------------------------------------------------------------------
# The tokenizer object.

class Tokenizer:
    def __init__(self, tokens, types, merges):
        self.tokens = tokens          # id -> string (byte-mapped or literal special)
        self.types = types            # id -> TT_*
        self.merges = merges          # ["a b", ...] in rank order
        self.rank = {tuple(m.split(" ")): r for r, m in enumerate(merges)}
        self.id = {t: i for i, t in enumerate(tokens)}
        self.specials = [t for t, ty in zip(tokens, types) if ty in (TT_CONTROL, TT_USER_DEFINED)
                         and not t.startswith("<|pad_")]
        self._cache = {}

    @classmethod
    def build(cls, merges, controls, user_defined, vocab_size):
        tokens = [BYTE_ENC[b] for b in range(256)] + [a + b for a, b in merges]
        types = [TT_NORMAL] * len(tokens)
        for t in controls:
            tokens.append(t)
            types.append(TT_CONTROL)
        for t in user_defined:
            tokens.append(t)
            types.append(TT_USER_DEFINED)
        k = 0
        while len(tokens) < vocab_size:
            tokens.append("<|pad_%d|>" % k)
            types.append(TT_CONTROL)
            k += 1
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate token strings in vocabulary")
        return cls(tokens, types, ["%s %s" % m for m in merges])

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"tokens": self.tokens, "types": self.types, "merges": self.merges}, f)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            d = json.load(f)
        return cls(d["tokens"], d["types"], d["merges"])

    def _bpe(self, word):
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        syms = list(word)
        while len(syms) > 1:
            best, bi = None, -1
            for k in range(len(syms) - 1):
                r = self.rank.get((syms[k], syms[k + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, k
            if best is None:
                break
            syms = _merge(syms, (syms[bi], syms[bi + 1]), syms[bi] + syms[bi + 1])
        ids = [self.id[s] for s in syms]
        self._cache[word] = ids
        return ids

    def encode(self, text, special=True):
        out = []
        for piece, sp in _split_specials(text, self.specials if special else []):
            if sp:
                out.append(self.id[piece])
                continue
            for word in pre_split(piece):
                out.extend(self._bpe("".join(BYTE_ENC[b] for b in word.encode("utf-8"))))
        return out

    def decode(self, ids):
        buf = bytearray()
        for i in ids:
            t = self.tokens[i]
            if self.types[i] == TT_NORMAL:
                buf.extend(BYTE_DEC[c] for c in t)
            else:
                buf.extend(t.encode("utf-8"))
        return buf.decode("utf-8", errors="replace")
