#!/usr/bin/python3
"""make_test_model.py — small random-weight GGUF models and their expected
outputs, for tests/engine/test_forward.c.

Each model: n_embd 256, 2 layers, 4 query heads / 2 KV heads (GQA), FFN 512,
a synthetic GPT-2-style byte-level BPE vocabulary of 320 tokens (256 byte
tokens, BPE merges learnt from a built-in paragraph, and the control tokens
<|endoftext|> <|im_start|> <|im_end|> and the user-defined <tool_call>
</tool_call>), weights N(0, 0.08) stored as one
weight type (F32 F16 BF16 Q8_0 Q4_0 Q4_K Q5_K Q6_K; 256 is a multiple of every
block size) and norm weights and biases in F32 as llama.cpp's converters keep
them. qwen3 models use head_dim 128 (attention.key_length) so that
n_head * head_dim != n_embd, as in real Qwen3 files.

Next to MODEL.gguf it writes MODEL.ref, the reference outputs computed by
scripts/reference.py on the weights as they were WRITTEN (quantized types are
dequantized first), so the only differences left for the engine are
arithmetic ones.

MODEL.ref layout (little-endian, no padding):
    char    magic[8]    "HEARTHRF"
    u32     version     1
    u32     n_vocab, n_embd, n_prompt (64), n_gen (16), n_refs (4)
    i32     prompt[n_prompt]       random token ids
    i32     gen[n_gen]             greedy continuation of the prompt
    f32     logits[n_refs][n_prompt + n_gen][n_vocab]
                rows 0..n_prompt-1: logits at each prompt position (the
                prompt evaluated as one batch); row n_prompt + i: logits
                after evaluating gen[i] (so argmax(row n_prompt-1) = gen[0],
                argmax(row n_prompt + i) = gen[i+1])
                ref k: reference.NUMERICS[k] (see reference.py):
                0 "exact"     float64 math
                1 "f16kv"     exact with an F16 KV cache
                2 "q8act"     f16kv, activations of block-quantized weights
                              rounded to int8 per block (f32 scales)
                3 "llamacpp"  f16kv with llama.cpp's CPU roundings
    f32     embd[n_prompt][n_embd] dequantized token_embd rows of the prompt
Seeds are fixed, so the files are the same on every run. The greedy tokens
are chosen with a margin: at every argmax the best logit beats the second by
at least GREEDY_MARGIN of the logit range under the exact and f16kv
numerics, so an engine within the test's tolerance cannot pick a different
token.

Usage:
    make_test_model.py --arch llama --type Q4_K --out DIR/llama-Q4_K
    make_test_model.py --all --out-dir DIR     every case of test_forward.c
        (skips models whose DIR/NAME.stamp matches the scripts; --force)
    make_test_model.py --compare DIR/NAME      per-position errors of the
        engine's logits dumped by test_forward (HEARTH_FORWARD_DUMP=DIR)
"""

import argparse
import fcntl
import hashlib
import os
import re
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

ARCHS = ("llama", "qwen2", "qwen3")
TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K")
N_PROMPT = 64
N_GEN = 16
GREEDY_MARGIN = 5e-3   # 5x the test's 1e-3 tolerance
SMOOTH_NUMERICS = ("exact", "f16kv")  # no int8 rounding of activations
WEIGHT_STD = 0.08      # logits come out with std ~1.5: healthy softmax range
REF_MAGIC = b"HEARTHRF"
REF_VERSION = 1

# GGUF general.file_type (llama_ftype) for a model stored in one type.
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K": 15,
             "Q5_K": 17, "Q6_K": 18, "BF16": 32}


# ---------------------------------------------------------------------------
# Synthetic byte-level BPE vocabulary.

_TRAIN_TEXT = (
    "The kitchen lights are on and the door is locked. Set a timer for ten "
    "minutes, then remind me to take the bread out of the oven. What is the "
    "weather like tomorrow morning? Turn the heating down to nineteen "
    "degrees in the living room. Add milk, eggs and butter to the shopping "
    "list. Play the news on the speaker in the bedroom. It is twenty past "
    "seven in the evening and the house is quiet. The thermostat reads "
    "twenty one degrees; the windows in the hallway are closed."
)


def bytes_to_unicode():
    """GPT-2's byte -> printable character table: printable Latin-1 bytes map
    to themselves, the others to U+0100 upwards in byte order."""
    bs = (list(range(ord("!"), ord("~") + 1)) +
          list(range(ord("\u00a1"), ord("\u00ac") + 1)) +
          list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def make_vocab(n_vocab=320):
    """tokens, token_type, merges, and the ids of the control tokens."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    words = {}
    for w in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+",
                        _TRAIN_TEXT):
        key = tuple(b2u[b] for b in w.encode("utf-8"))
        words[key] = words.get(key, 0) + 1
    controls = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    # Hermes tool-call tags, user-defined tokens as in Qwen2.5's vocabulary:
    # what the server's tool-call guard triggers on.
    user = ["<tool_call>", "</tool_call>"]
    controls_all = controls + user
    merges = []
    have = set(tokens)
    while len(tokens) + len(controls_all) < n_vocab:
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            raise RuntimeError("training text too short for %d tokens"
                               % n_vocab)
        # most frequent pair; ties broken by the pair itself (determinism)
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append("%s %s" % best)
        if best[0] + best[1] not in have:
            tokens.append(best[0] + best[1])
            have.add(best[0] + best[1])
        words = {_merge_word(w, best): c for w, c in words.items()}
    ids = {}
    for t in controls_all:
        ids[t] = len(tokens)
        tokens.append(t)
    types = [1] * (len(tokens) - len(controls_all)) + [3] * len(controls) + [4] * len(user)
    return tokens, types, merges, ids


def _merge_word(w, pair):
    out, i = [], 0
    while i < len(w):
        if i + 1 < len(w) and (w[i], w[i + 1]) == pair:
            out.append(w[i] + w[i + 1])
            i += 2
        else:
            out.append(w[i])
            i += 1
    return tuple(out)


CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'"
    " + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


# ---------------------------------------------------------------------------
# Weights.

class Spec:
    """What one test model looks like."""

    def __init__(self, arch, wtype, tied=False, rope_freqs=False,
                 rope_linear=0.0, seed=0):
        self.arch, self.wtype, self.tied = arch, wtype, tied
        self.rope_freqs, self.rope_linear, self.seed = (rope_freqs,
                                                        rope_linear, seed)
        self.n_embd, self.n_layer, self.n_ff = 256, 2, 512
        self.n_head, self.n_head_kv = 4, 2
        self.head_dim = 128 if arch == "qwen3" else self.n_embd // self.n_head
        self.n_ctx_train = 256
        self.eps = 1e-6 if arch != "llama" else 1e-5
        # qwen2/qwen3 files carry freq_base 1e6; llama the default 1e4
        self.rope_base = 10000.0 if arch == "llama" else 1000000.0


def make_weights(spec, n_vocab):
    """name -> (float32 array in numpy shape, GGUF type name to store)."""
    rng = np.random.default_rng(spec.seed)
    out = {}

    def add(name, shape, wtype, std, mean=0.0):
        out[name] = (rng.normal(mean, std, shape).astype(np.float32), wtype)

    e, hd, wt = spec.n_embd, spec.head_dim, spec.wtype
    add("token_embd.weight", (n_vocab, e), wt, WEIGHT_STD)
    add("output_norm.weight", (e,), "F32", 0.1, 1.0)
    if not spec.tied:
        add("output.weight", (n_vocab, e), wt, WEIGHT_STD)
    if spec.rope_freqs:
        # Llama 3 style: low frequencies stretched by up to 8x
        out["rope_freqs.weight"] = (
            np.linspace(1.0, 8.0, hd // 2).astype(np.float32), "F32")
    for il in range(spec.n_layer):
        p = "blk.%d." % il
        add(p + "attn_norm.weight", (e,), "F32", 0.1, 1.0)
        add(p + "attn_q.weight", (spec.n_head * hd, e), wt, WEIGHT_STD)
        add(p + "attn_k.weight", (spec.n_head_kv * hd, e), wt, WEIGHT_STD)
        add(p + "attn_v.weight", (spec.n_head_kv * hd, e), wt, WEIGHT_STD)
        if spec.arch == "qwen2":
            add(p + "attn_q.bias", (spec.n_head * hd,), "F32", 0.1)
            add(p + "attn_k.bias", (spec.n_head_kv * hd,), "F32", 0.1)
            add(p + "attn_v.bias", (spec.n_head_kv * hd,), "F32", 0.1)
        if spec.arch == "qwen3":
            add(p + "attn_q_norm.weight", (hd,), "F32", 0.1, 1.0)
            add(p + "attn_k_norm.weight", (hd,), "F32", 0.1, 1.0)
        add(p + "attn_output.weight", (e, spec.n_head * hd), wt, WEIGHT_STD)
        add(p + "ffn_norm.weight", (e,), "F32", 0.1, 1.0)
        add(p + "ffn_gate.weight", (spec.n_ff, e), wt, WEIGHT_STD)
        add(p + "ffn_up.weight", (spec.n_ff, e), wt, WEIGHT_STD)
        add(p + "ffn_down.weight", (e, spec.n_ff), wt, WEIGHT_STD)
    return out


def make_metadata(spec, vocab):
    """[(key, value, gguf_writer value type)], general.architecture aside
    (GGUFWriter writes it first)."""
    tokens, ttypes, merges, ids = vocab
    a = spec.arch
    kv = [
        ("general.name", "hearth-test-%s-%s" % (a, spec.wtype), "str"),
        ("general.file_type", FILE_TYPE[spec.wtype], "u32"),
        (a + ".context_length", spec.n_ctx_train, "u32"),
        (a + ".embedding_length", spec.n_embd, "u32"),
        (a + ".block_count", spec.n_layer, "u32"),
        (a + ".feed_forward_length", spec.n_ff, "u32"),
        (a + ".attention.head_count", spec.n_head, "u32"),
        (a + ".attention.head_count_kv", spec.n_head_kv, "u32"),
        (a + ".attention.layer_norm_rms_epsilon", spec.eps, "f32"),
        (a + ".rope.freq_base", spec.rope_base, "f32"),
    ]
    if spec.arch == "qwen3":
        kv += [(a + ".attention.key_length", spec.head_dim, "u32"),
               (a + ".attention.value_length", spec.head_dim, "u32")]
    if spec.arch == "llama":
        kv += [(a + ".rope.dimension_count", spec.head_dim, "u32"),
               (a + ".vocab_size", len(tokens), "u32")]
    if spec.rope_linear:
        kv += [(a + ".rope.scaling.type", "linear", "str"),
               (a + ".rope.scaling.factor", spec.rope_linear, "f32")]
    kv += [
        ("tokenizer.ggml.model", "gpt2", "str"),
        ("tokenizer.ggml.pre", "qwen2", "str"),
        ("tokenizer.ggml.tokens", tokens, ("arr", "str")),
        ("tokenizer.ggml.token_type", ttypes, ("arr", "i32")),
        ("tokenizer.ggml.merges", merges, ("arr", "str")),
        ("tokenizer.ggml.eos_token_id", ids["<|im_end|>"], "u32"),
        ("tokenizer.ggml.padding_token_id", ids["<|endoftext|>"],
         "u32"),
        ("tokenizer.ggml.bos_token_id", ids["<|endoftext|>"], "u32"),
        ("tokenizer.ggml.add_bos_token", False, "bool"),
        ("tokenizer.chat_template", CHAT_TEMPLATE, "str"),
    ]
    return kv


# ---------------------------------------------------------------------------
# GGUF output, through scripts/gguf_writer.py.

def write_gguf(path, arch, kv, weights):
    import gguf_writer
    w = gguf_writer.GGUFWriter(path, arch)
    for key, value, vt in kv:
        w.add_kv(key, value, vt)
    for name, (a, wtype) in weights.items():
        w.add_tensor(name, a, wtype)
    w.write()


# ---------------------------------------------------------------------------
# Reference outputs.

def _margin_ok(row):
    top2 = np.partition(row, -2)[-2:]
    return top2[1] - top2[0] >= GREEDY_MARGIN * (row.max() - row.min())


def greedy_with_margin(models, prompt):
    """Greedy tokens and per-numerics logits (n_prompt + N_GEN, n_vocab), or
    None when some argmax is too close to call. The margin is asked of the
    smooth numerics (exact, f16kv) only: under int8 activations a single
    flipped rounding moves logits by ~1 % of their range (reference.py), so
    no margin could promise the same argmax there and the test compares
    those logits teacher-forced instead."""
    exact = models[0]
    cache = exact.new_cache()
    rows = [exact.forward(prompt, cache)]
    gen = []
    for _ in range(N_GEN):
        last = rows[-1][-1]
        if not _margin_ok(last):
            return None
        gen.append(int(np.argmax(last)))
        rows.append(exact.forward([gen[-1]], cache))
    if not _margin_ok(rows[-1][-1]):
        return None
    logits = [np.concatenate(rows)]
    for m in models[1:]:
        lg = m.teacher_forced(prompt, gen)
        decisions = lg[N_PROMPT - 1:]
        for i, row in enumerate(decisions):
            want = gen[i] if i < N_GEN else int(np.argmax(logits[0][-1]))
            if m.numerics in SMOOTH_NUMERICS and (
                    int(np.argmax(row)) != want or not _margin_ok(row)):
                return None
        logits.append(lg)
    return gen, logits


def write_ref(path, prompt, gen, logits, embd):
    n_vocab = logits[0].shape[1]
    with open(path, "wb") as f:
        f.write(REF_MAGIC)
        f.write(struct.pack("<6I", REF_VERSION, n_vocab, embd.shape[1],
                            len(prompt), len(gen), len(logits)))
        f.write(np.asarray(prompt, dtype="<i4").tobytes())
        f.write(np.asarray(gen, dtype="<i4").tobytes())
        for lg in logits:
            f.write(np.asarray(lg, dtype="<f4").tobytes())
        f.write(np.asarray(embd, dtype="<f4").tobytes())


def sources_digest(spec):
    """Hash of everything a model's files depend on: the scripts that make
    them and the spec. An unchanged digest means the files on disk are what
    this run would write, so --all can skip them (tests rerun in seconds)."""
    h = hashlib.sha256(repr(sorted(vars(spec).items())).encode())
    here = os.path.dirname(os.path.abspath(__file__))
    for f in ("make_test_model.py", "reference.py", "gguf_reader.py",
              "gguf_writer.py", "quants.py"):
        with open(os.path.join(here, f), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()


def up_to_date(spec, out_prefix):
    try:
        with open(out_prefix + ".stamp") as f:
            stamp = f.read().strip()
    except OSError:
        return False
    return (stamp == sources_digest(spec) and
            os.path.exists(out_prefix + ".gguf") and
            os.path.exists(out_prefix + ".ref"))


def read_ref(path):
    """The .ref as a dict: prompt, gen, logits (n_refs, rows, n_vocab),
    embd."""
    raw = open(path, "rb").read()
    if raw[:8] != REF_MAGIC:
        raise ValueError("%s: not a HEARTHRF file" % path)
    ver, nv, ne, npr, ng, nr = struct.unpack("<6I", raw[8:32])
    if ver != REF_VERSION:
        raise ValueError("%s: version %d" % (path, ver))
    off = 32
    prompt = np.frombuffer(raw, "<i4", npr, off)
    off += 4 * npr
    gen = np.frombuffer(raw, "<i4", ng, off)
    off += 4 * ng
    logits = np.frombuffer(raw, "<f4", nr * (npr + ng) * nv, off).reshape(
        nr, npr + ng, nv)
    off += 4 * logits.size
    embd = np.frombuffer(raw, "<f4", npr * ne, off).reshape(npr, ne)
    return {"prompt": prompt, "gen": gen, "logits": logits, "embd": embd}


def compare_dump(prefix):
    """Per-position error of PREFIX.engine.f32 (test_forward.c's
    HEARTH_FORWARD_DUMP output: the engine's one-batch prompt logits)
    against each reference in PREFIX.ref, as a fraction of the range.
    Under int8 activations the engine matches q8act until a rounding
    flips; the first large entry shows where."""
    ref = read_ref(prefix + ".ref")
    lg = ref["logits"]
    n_prompt = len(ref["prompt"])
    eng = np.fromfile(prefix + ".engine.f32", "<f4").reshape(n_prompt, -1)
    for k, name in enumerate(reference.NUMERICS):
        r = lg[k, :n_prompt]
        e = np.abs(eng - r).max(axis=1) / (r.max(axis=1) - r.min(axis=1))
        print("%-9s max %.1e  per position: %s" % (
            name, e.max(), " ".join("%.0e" % x for x in e)))


def build(spec, out_prefix):
    """Write out_prefix.gguf, .ref and .stamp; returns a summary line.
    Files are written under temporary names and renamed, so a reader never
    sees half a file."""
    vocab = make_vocab()
    n_vocab = len(vocab[0])
    weights = make_weights(spec, n_vocab)
    kv = make_metadata(spec, vocab)
    tmp = out_prefix + ".tmp%d" % os.getpid()
    write_gguf(tmp + ".gguf", spec.arch, kv, weights)
    # The reference reads the file back (dequantizing what was stored): what
    # is tested is what was written.
    exact = reference.Model.load(tmp + ".gguf")
    models = [exact] + [exact.with_numerics(n)
                        for n in reference.NUMERICS[1:]]
    rng = np.random.default_rng(spec.seed + 7919)
    for attempt in range(200):
        prompt = [int(t) for t in rng.integers(0, n_vocab, N_PROMPT)]
        res = greedy_with_margin(models, prompt)
        if res is not None:
            break
    else:
        raise RuntimeError("%s: no prompt with clear greedy margins"
                           % out_prefix)
    gen, logits = res
    write_ref(tmp + ".ref", prompt, gen, logits, exact.embed(prompt))
    os.replace(tmp + ".gguf", out_prefix + ".gguf")
    os.replace(tmp + ".ref", out_prefix + ".ref")
    with open(out_prefix + ".stamp", "w") as f:
        f.write(sources_digest(spec) + "\n")
    lg = logits[0]
    rng = lg.max(axis=1) - lg.min(axis=1)
    diffs = ", ".join(
        "%s %.1e" % (n, (np.abs(other - lg).max(axis=1) / rng).max())
        for n, other in zip(reference.NUMERICS[1:], logits[1:]))
    return ("%-22s logits %.2f..%.2f; vs exact: %s; prompt tries %d" % (
        os.path.basename(out_prefix), lg.min(), lg.max(), diffs,
        attempt + 1))


def all_specs():
    """(name, Spec) of every model test_forward.c uses. Tied and separate
    output alternate so both occur for every architecture."""
    out = []
    for ia, arch in enumerate(ARCHS):
        for it, t in enumerate(TYPES):
            out.append(("%s-%s" % (arch, t),
                        Spec(arch, t, tied=(ia + it) % 2 == 1,
                             seed=1000 + 100 * ia + it)))
    out.append(("llama-ropefreqs-F32",
                Spec("llama", "F32", rope_freqs=True, seed=2001)))
    out.append(("llama-ropelinear-F32",
                Spec("llama", "F32", rope_linear=4.0, seed=2002)))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", choices=ARCHS)
    ap.add_argument("--type", choices=TYPES)
    ap.add_argument("--tied", action="store_true",
                    help="no output.weight: the output is token_embd")
    ap.add_argument("--rope-freqs", action="store_true",
                    help="add a Llama-3-style rope_freqs.weight")
    ap.add_argument("--rope-linear", type=float, default=0.0,
                    help="linear RoPE scaling factor")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="output prefix (writes .gguf and .ref)")
    ap.add_argument("--all", action="store_true",
                    help="write every test_forward.c model into --out-dir")
    ap.add_argument("--out-dir")
    ap.add_argument("--only", help="with --all: comma-separated names")
    ap.add_argument("--force", action="store_true",
                    help="with --all: rewrite models that are up to date")
    ap.add_argument("--compare", metavar="PREFIX",
                    help="errors of PREFIX.engine.f32 against PREFIX.ref")
    a = ap.parse_args(argv[1:])
    if a.compare:
        compare_dump(a.compare)
        return 0
    if a.all:
        if not a.out_dir:
            ap.error("--all needs --out-dir")
        os.makedirs(a.out_dir, exist_ok=True)
        only = set(a.only.split(",")) if a.only else None
        t0 = time.time()
        # Two test runs sharing the directory (engine_forward and
        # engine_forward_scalar run in parallel) take turns: the second
        # finds the models up to date instead of making them again.
        lock = open(os.path.join(a.out_dir, ".lock"), "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name, spec in all_specs():
            prefix = os.path.join(a.out_dir, name)
            if only is not None and name not in only:
                continue
            if not a.force and up_to_date(spec, prefix):
                print("%-24s up to date" % name)
                continue
            print(build(spec, prefix), flush=True)
        print("generated in %.1f s" % (time.time() - t0))
        lock.close()
        return 0
    if not (a.arch and a.type and a.out):
        ap.error("--arch, --type and --out are required (or --all)")
    spec = Spec(a.arch, a.type, a.tied, a.rope_freqs, a.rope_linear, a.seed)
    print(build(spec, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
