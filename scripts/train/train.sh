#!/bin/sh
# train.sh — regenerate data, train, export and evaluate Hearth's embedded assistant model.
#
# End to end, reproducibly (fixed seeds): synthetic home-assistant data and
# the held-out set (gen_home_data.py), the byte-level BPE tokenizer
# (train_tokenizer.py), the Llama-architecture model (train_lm.py), GGUF
# export in F16 and Q8_0 (export_gguf.py), a check of the export against
# scripts/reference.py (check_gguf.py), and the held-out evaluation of both
# GGUF files through the real engine (`hearth bench tools`, tool calls and
# response_format replies guarded, as the server runs them).
#
# Needs /usr/bin/python3 with python3-torch and python3-numpy (Debian:
# apt-get install -y python3-torch python3-numpy libopenblas0-pthread wamerican wordnet-base) and a
# built hearth (HEARTH, default build-rel/app/hearth; built with meson when
# absent). Only training needs torch; the engine and its tests do not.
#
# Usage: scripts/train/train.sh [WORKDIR]      (default: build-train)
# Environment: THREADS (default 2), STEPS (first stage, default 2600), HEARTH;
# FROM_GGUF=FILE skips stages 1 to 13 and starts stage 14 from that file's
# weights and tokenizer (import_gguf.py): the F16 file shipped before stage
# 14 is `git show 86f238b:assets/hearth-tiny.f16.gguf > stage13.f16.gguf`;
# about 2.5 hours instead of 9.5.
# QUICK=1: the one-hour model, stage 1 alone, exported and evaluated into
# WORKDIR (hearth-quick.*.gguf; assets/ is left alone), about 50 minutes.
# Stages: the first trains from scratch; each later one goes on from the
# previous checkpoint on fresh data (see more() below).
# Outputs: assets/hearth-tiny.f16.gguf, assets/hearth-tiny.q8_0.gguf,
#          assets/eval/heldout.jsonl; WORKDIR/ keeps data, checkpoint, logs
#          and eval-*.json reports.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:-$ROOT/build-train}
THREADS=${THREADS:-2}
STEPS=${STEPS:-2600}
HEARTH=${HEARTH:-$ROOT/build-rel/app/hearth}
PY=/usr/bin/python3
T=$ROOT/scripts/train

mkdir -p "$WORK/data" "$WORK/model" "$ROOT/assets/eval"

LAYERS=4
arch_args() { echo "--dim 256 --layers $LAYERS --heads 4 --kv-heads 2 --ffn 768 --max-seq 1024"; }

# Continued training on fresh conversations (another seed) with more invented
# slot words, so more of every batch is learnt only by copying the user's
# words, and the loss of tool-call and JSON replies weighted 2x; a lower peak
# learning rate, the tokenizer of the first stage. Held-out templates and
# values stay out of these conversations as out of the first (the generator
# excludes them whatever the seed); their held-out file is not used.
# A stage with more layers than the checkpoint grows it (train_lm.py --grow:
# the new layers start as identity). A dictionary share takes that share of
# the invented words from Debian's word list (wamerican) instead of syllables.
# KEEP_FROM=N keeps the stage's checkpoints from step N on (model-STEP.pt).
# Further generator flags after LAYERS (--combo-share: compound values,
# --syllable-names) go to gen_home_data.py.
# Usage: more NAME SEED NOVEL_SHARE DICT_SHARE CONVERSATIONS STEPS LR LAYERS [FLAGS...]
more() {
    name=$1 seed=$2 novel=$3 dict=$4 convs=$5 steps=$6 lr=$7 layers=$8
    shift 8
    echo "== $name: data, then train (log in $WORK/$name/model/train.log)"
    mkdir -p "$WORK/$name/data" "$WORK/$name/model"
    $PY "$T/gen_home_data.py" --out "$WORK/$name/data" --train "$convs" --heldout 400 --seed "$seed" \
        --novel-share "$novel" --dict-share "$dict" --letter-share 0 --entity-share 0.15 "$@" \
        --heldout-out "$WORK/$name/data/heldout.jsonl"
    grow=""
    if [ "$layers" != "$LAYERS" ]; then grow=--grow; LAYERS=$layers; fi
    start=$(date +%s)
    $PY "$T/train_lm.py" --data "$WORK/$name/data/train.jsonl" --tokenizer "$WORK/data/tokenizer.json" \
        --out "$WORK/$name/model" --steps "$steps" --lr "$lr" --warmup 50 --batch 64 $(arch_args) $grow \
        --prefix-grad --threads "$THREADS" --seed "$seed" --ckpt-every 100 --init "$CKPT" \
        --call-weight 2 --keep-from "${KEEP_FROM:-0}" > "$WORK/$name/model/train.log" 2>&1
    echo "$name: $(( $(date +%s) - start )) s"
    tail -n 1 "$WORK/$name/model/train.log"
    CKPT=$WORK/$name/model/model.pt
}
# swa_stage NAME OUT: the mean of a stage's checkpoints 700-1000 into OUT, which becomes CKPT.
swa_stage() {
    $PY "$T/average_ckpt.py" --out "$2" "$WORK/$1/model/model-700.pt" "$WORK/$1/model/model-800.pt" \
        "$WORK/$1/model/model-900.pt" "$CKPT"
    CKPT=$2
}
# finish CKPT TOKENIZER LEXICON_DATA OUTDIR NAME: the blind held-out set
# (regenerated, the same file whatever OUTDIR), export to OUTDIR/NAME.f16.gguf
# and .q8_0.gguf, a check against scripts/reference.py, and the evaluation of
# both files through the engine (reports in WORK).
finish() {
    ckpt=$1 tokjson=$2 lexdata=$3 out=$4 base=$5
    heldout=$out/eval/heldout.jsonl
    mkdir -p "$out/eval"
    echo "== the held-out set: the second (blind) one, seed 1234"
    $PY "$T/gen_home_data.py" --out "$WORK/eval" --train 0 --heldout 1200 --seed 1234 --heldout-set v2 \
        --heldout-out "$heldout"

    echo "== export"
    # --lexicon: the words of the last stage's requests, towards which the
    # server mends a user's typos (scripts/train/lexicon.py, pipeline/spell.c)
    for ty in F16 Q8_0; do
        lc=$(echo $ty | tr 'A-Z' 'a-z')
        $PY "$T/export_gguf.py" --ckpt "$ckpt" --tokenizer "$tokjson" \
            --type $ty --out "$out/$base.$lc.gguf" --lexicon "$lexdata"
    done

    echo "== check the export against scripts/reference.py"
    $PY "$T/check_gguf.py" --gguf "$out/$base.q8_0.gguf" --tokenizer "$tokjson" \
        --data "$heldout" --items 2

    echo "== evaluate (held-out, through the engine)"
    # --failures 0: the figures without the failing requests, so the blind set
    # stays blind to whoever reads the log and tunes the next stage. (A bench
    # run beside a training run on the same two cores slows both several times
    # over: pause training with kill -STOP / kill -CONT to bench in between.)
    if [ ! -x "$HEARTH" ]; then
        (cd "$ROOT" && meson setup build-rel --buildtype=release >/dev/null && ninja -C build-rel app/hearth)
    fi
    for ty in f16 q8_0; do
        "$HEARTH" bench tools --model "$out/$base.$ty.gguf" \
            --data "$heldout" --threads "$THREADS" --failures 0 | tee "$WORK/eval-$ty.txt"
        "$HEARTH" bench tools --model "$out/$base.$ty.gguf" \
            --data "$heldout" --threads "$THREADS" --json > "$WORK/eval-$ty.json"
    done
    # for comparison: verbatim arguments not held to the user's words
    "$HEARTH" bench tools --model "$out/$base.q8_0.gguf" --no-verbatim --failures 0 \
        --data "$heldout" --threads "$THREADS" | tee "$WORK/eval-q8_0-free.txt"
}

if [ -n "${FROM_GGUF:-}" ] && [ "${QUICK:-0}" = 1 ]; then
    echo "train.sh: QUICK=1 trains stage 1 from scratch; FROM_GGUF starts at stage 14: pick one" >&2
    exit 2
fi
if [ -n "${FROM_GGUF:-}" ]; then
echo "== weights and tokenizer from $FROM_GGUF (stages 1 to 13 skipped)"
$PY "$T/import_gguf.py" --gguf "$FROM_GGUF" --ckpt "$WORK/model-13f.pt" --tokenizer "$WORK/data/tokenizer.json"
CKPT=$WORK/model-13f.pt
LAYERS=6
else
echo "== data"
# 40 % of slot values are invented words (copying what the user said is the
# only way to get them right) and 15 % of conversations are entity extraction.
$PY "$T/gen_home_data.py" --out "$WORK/data" --train 80000 --heldout 400 --seed 1234 \
    --novel-share 0.4 --letter-share 0 --entity-share 0.15 \
    --heldout-out "$WORK/data/heldout.jsonl"   # the first held-out set (the development set now)

echo "== tokenizer"
# --word-pieces: no merge joins letters to a space or a quote, so a word the
# user said is the same tokens inside a JSON string (see bpe.train).
$PY "$T/train_tokenizer.py" --data "$WORK/data/train.jsonl" --out "$WORK/data/tokenizer.json" \
    --vocab-size 2048 --limit 80000 --word-pieces

echo "== train (log in $WORK/model/train.log)"
# Batches of 64 conversations behind their ~45-token system turn (the tool
# block is user-defined tokens, see train_tokenizer.py), warm-up then cosine
# decay to a tenth of the peak learning rate.
start=$(date +%s)
$PY "$T/train_lm.py" --data "$WORK/data/train.jsonl" --tokenizer "$WORK/data/tokenizer.json" \
    --out "$WORK/model" --steps "$STEPS" --lr 2e-3 --warmup 100 --batch 64 $(arch_args) \
    --prefix-grad --threads "$THREADS" --seed 1234 --ckpt-every 100 > "$WORK/model/train.log" 2>&1
echo "train: $(( $(date +%s) - start )) s"
tail -n 1 "$WORK/model/train.log"
CKPT=$WORK/model/model.pt

if [ "${QUICK:-0}" = 1 ]; then
    # The staged recipe's later data (more invented words, written phrasings)
    # does not help from scratch in the hour: stage 20's generator flags, its
    # own tokenizer, 1,500 steps of the 6-block model at 2e-3 (39 minutes)
    # and the mean of the last four checkpoints came to 39.4 % exact calls
    # on the blind set, 95.4 % tool names: the copying of unseen words had
    # not formed.
    finish "$CKPT" "$WORK/data/tokenizer.json" "$WORK/data/train.jsonl" "$WORK" hearth-quick
    exit 0
fi

more stage2 4321 0.6 0 40000 1200 6e-4 4
more stage3 5678 0.7 0 100000 1600 5e-4 4
more stage4 8765 0.7 0 100000 1600 4e-4 4
more stage5 2468 0.7 0 100000 1600 6e-4 6
more stage6 1357 0.7 0.5 100000 1600 5e-4 6
STAGE6=$CKPT
more stage7 3141 0.75 0.7 100000 1200 4e-4 6

echo "== average the weights of stages 6 and 7"
$PY "$T/average_ckpt.py" --out "$WORK/model-avg.pt" "$STAGE6" "$CKPT"
CKPT=$WORK/model-avg.pt

# Stage 8 adds compound values: 30 % of invented room, device, item and label
# values are a training value with a word before or after it, or two training
# values joined ("serfdom bedroom two", "radio shalt"), so where a value
# starts and ends comes from the request, not from the values it knows
# (held-out "upstairs bathroom" came out "bathroom"); invented names keep
# syllable spellings (entity extraction). Its checkpoints at steps 900, 1000,
# 1100 and 1200, the tail of the cosine decay, are averaged.
KEEP_FROM=900
more stage8 4242 0.75 0.7 100000 1200 4e-4 6 --combo-share 0.3 --syllable-names
KEEP_FROM=0
echo "== average the last checkpoints of stage 8"
$PY "$T/average_ckpt.py" --out "$WORK/model-swa.pt" "$WORK/stage8/model/model-900.pt" \
    "$WORK/stage8/model/model-1000.pt" "$WORK/stage8/model/model-1100.pt" "$CKPT"
CKPT=$WORK/model-swa.pt

# Stage 9 composes its entity-extraction sentences (--extract-grammar: a
# person with one of many verb phrases and a place or another person, time
# words around them, sentences naming nobody) and gives extraction a fifth of
# the conversations: entity F1 0.30 -> 0.42 on five held-out samples. Its
# last four checkpoints are averaged, and that mean with stage 8's, which
# keeps stage 8's tool calls (stage 9 alone: 1.4 points fewer exact calls);
# stage 10 goes on from there.
#
# entity_stage NAME SEED LR OUT: a stage with composed entity sentences
# (1,000 steps from CKPT), the mean of its last four checkpoints, then that
# mean averaged with stage 8's into OUT, which becomes CKPT.
entity_stage() {
    KEEP_FROM=700
    more "$1" "$2" 0.75 0.7 100000 1000 "$3" 6 --combo-share 0.3 --syllable-names \
        --extract-grammar --entity-share 0.2
    KEEP_FROM=0
    echo "== average $1's last checkpoints, then that with stage 8's mean"
    $PY "$T/average_ckpt.py" --out "$WORK/model-swa-$1.pt" "$WORK/$1/model/model-700.pt" \
        "$WORK/$1/model/model-800.pt" "$WORK/$1/model/model-900.pt" "$CKPT"
    $PY "$T/average_ckpt.py" --out "$4" "$WORK/model-swa-$1.pt" "$WORK/model-swa.pt"
    CKPT=$4
}
entity_stage stage9 5353 3e-4 "$WORK/model-89.pt"

# Stage 10: the same data options on another seed, from that mean, at a
# lower peak; its checkpoints' mean, averaged with stage 8's mean, was the
# shipped model until stage 12 (the best of the means tried on five samples
# of the first held-out set: 80.7 % exact calls, entity F1 0.39; stage 8's
# mean 79.7 % and 0.30; on the second set 81.8 %).
entity_stage stage10 6464 2.5e-4 "$WORK/model-10.pt"

# Stages 11 and 12 go on from there with two changes to the data, each a
# failure mode seen on the first held-out set (now the development set):
# --composed-frames puts a label before or after every unlabelled timer and
# alarm frame and adds the positive twins of negated frames;
# --unk-verb-share 0.3 gives 30 % of the frames whose other words fix the
# call an invented first word, so an unknown verb stops being copied into a
# value. Both are scored on the second held-out set (--heldout-set v2,
# heldout_v2.py: written blind, never read for misses). Stage 12 also trains
# on the first set's frames (--fold-dev). Stage 13 gives half of the
# eligible frames an invented verb, at a lower peak. Each stage's last four
# checkpoints are averaged (stage 13's mean was the shipped model until stage 16).
KEEP_FROM=700
more stage11 8686 0.75 0.7 100000 1000 2e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.3 --heldout-set v2
swa_stage stage11 "$WORK/model-11.pt"
more stage12 3131 0.75 0.7 100000 1000 2e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.3 --heldout-set v2 --fold-dev
swa_stage stage12 "$WORK/model-12.pt"
more stage13 5151 0.75 0.7 100000 1000 1.5e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.5 --heldout-set v2 --fold-dev
KEEP_FROM=0
swa_stage stage13 "$WORK/model-13.pt"

# Stage 14 went on from stage 13's mean as shipped, in F16 (import_gguf.py:
# the checkpoints are not kept in the repository), so the chain rounds it
# the same way.
echo "== stage 13's mean through F16, where stage 14 started"
$PY "$T/export_gguf.py" --ckpt "$CKPT" --tokenizer "$WORK/data/tokenizer.json" --type F16 \
    --out "$WORK/model-13.f16.gguf"
$PY "$T/import_gguf.py" --gguf "$WORK/model-13.f16.gguf" --ckpt "$WORK/model-13f.pt" \
    --tokenizer "$WORK/tokenizer-13.json"
CKPT=$WORK/model-13f.pt
fi

# Stage 14 adds written_frames.py (--written-frames): 1,200 request phrasings
# by three authors who saw neither the grammar nor a held-out set, minus the
# 85 that equal a held-out frame; small kinds get about half their requests
# from them. Exact calls on five second-set samples: 86.4 -> 88.9 %.
KEEP_FROM=700
more stage14 7272 0.75 0.7 100000 1000 1.5e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.5 --heldout-set v2 --fold-dev --written-frames
KEEP_FROM=0
swa_stage stage14 "$WORK/model-14.pt"

# Stage 15 adds the written small talk and requests to refuse
# (--written-chat: 200 and 297 lines by a fourth author): refusals 91 -> 118
# of 160 on the five samples, exact calls 88.9 -> 89.1 %.
KEEP_FROM=700
more stage15 9191 0.75 0.7 100000 1000 1.5e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.5 --heldout-set v2 --fold-dev --written-frames \
    --written-chat
KEEP_FROM=0
swa_stage stage15 "$WORK/model-15.pt"

# Stage 16 swaps the opening verb of 15 % of requests for a WordNet synonym
# (--verb-synonyms 0.15, synonyms.py: common senses only, a phrasal verb as
# one, never a modal or a slot): exact calls 89.1 -> 91.6 % on the five
# samples. Its checkpoints' mean was the shipped model before stage 20.
KEEP_FROM=700
more stage16 4848 0.75 0.7 100000 1000 1.5e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.5 --heldout-set v2 --fold-dev --written-frames \
    --written-chat --verb-synonyms 0.15
KEEP_FROM=0
swa_stage stage16 "$WORK/model-16.pt"

# Stages 19 and 20 add six more blind authors' phrasings (written_frames_b,
# _c, _d: 30 per kind each, in six voices). Exact calls on the five
# second-set samples: batch b alone 91.7 -> 91.8 % (stage 19); all three,
# from the mean of 16's and 19's means, 93.5 % (stage 20; its mean with
# stage 16's, 93.4 %, keeps more of the first set: 90.9 against 90.2 %).
# (Stage 17 was a larger synonym share, not kept; 18 was stopped unfinished;
# 21, --written-share 0.5 from the shipped mean, 92.0 %, and 22, batch e too,
# 91.6 %, not kept; 23 to 25 of session 12, a second seed of stage 20,
# batches f and g, stage 20 trained on at a lower rate, in the model card,
# not kept either.) The mean of stage 16's and stage 20's means is the
# shipped model. (Figures here: the lookahead as it was, summed.)
KEEP_FROM=700
more stage19 1919 0.75 0.7 100000 1000 1.5e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.5 --heldout-set v2 --fold-dev --written-frames \
    --written-chat --verb-synonyms 0.15 --written-batches b
KEEP_FROM=0
swa_stage stage19 "$WORK/model-19.pt"
$PY "$T/average_ckpt.py" --out "$WORK/model-16-19.pt" "$WORK/model-16.pt" "$WORK/model-19.pt"
CKPT=$WORK/model-16-19.pt
KEEP_FROM=700
more stage20 2020 0.75 0.7 100000 1000 1.5e-4 6 --combo-share 0.3 --syllable-names --extract-grammar \
    --entity-share 0.2 --composed-frames --unk-verb-share 0.5 --heldout-set v2 --fold-dev --written-frames \
    --written-chat --verb-synonyms 0.15 --written-batches b c d
KEEP_FROM=0
swa_stage stage20 "$WORK/model-20.pt"
$PY "$T/average_ckpt.py" --out "$WORK/model-16-20.pt" "$WORK/model-16.pt" "$WORK/model-20.pt"
CKPT=$WORK/model-16-20.pt

finish "$CKPT" "$WORK/data/tokenizer.json" "$WORK/stage20/data/train.jsonl" "$ROOT/assets" hearth-tiny
