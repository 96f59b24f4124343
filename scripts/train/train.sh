#!/bin/sh
# train.sh — regenerate data, train, export and evaluate Hearth's embedded assistant model.
#
# End to end, reproducibly (fixed seeds): synthetic home-assistant data and
# the held-out set (gen_home_data.py), the byte-level BPE tokenizer
# (train_tokenizer.py), the Llama-architecture model (train_lm.py), GGUF
# export in F16 and Q8_0 (export_gguf.py), a check of the export against
# scripts/reference.py (check_gguf.py) and the held-out evaluation of both
# GGUF files (eval_tools.py). Three training stages, see assets/MODEL_CARD.md.
#
# Needs /usr/bin/python3 with python3-torch and python3-numpy (Debian:
# apt-get install -y python3-torch libopenblas0-pthread). Only training needs
# torch; the engine and its tests do not.
#
# Usage: scripts/train/train.sh [WORKDIR]      (default: build-train)
# Environment: THREADS (default 2).
# Outputs: assets/hearth-tiny.f16.gguf, assets/hearth-tiny.q8_0.gguf,
#          assets/eval/heldout.jsonl; WORKDIR/ keeps data, checkpoint, logs
#          and eval-*.json reports.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:-$ROOT/build-train}
THREADS=${THREADS:-2}
PY=/usr/bin/python3
T=$ROOT/scripts/train

mkdir -p "$WORK/data" "$WORK/model" "$ROOT/assets/eval"

echo "== data"
$PY "$T/gen_home_data.py" --out "$WORK/data" --train 30000 --heldout 400 --seed 1234 \
    --heldout-out "$ROOT/assets/eval/heldout.jsonl"

echo "== tokenizer"
$PY "$T/train_tokenizer.py" --data "$WORK/data/train.jsonl" --out "$WORK/data/tokenizer.json" \
    --vocab-size 2048

echo "== train, stage 1 (log in $WORK/model/train-stage1.log)"
# 400 steps of a 600-step schedule; the first 250 without the tool block
# (curriculum, see train_lm.py), no gradient through the shared system turn.
start=$(date +%s)
$PY "$T/train_lm.py" --data "$WORK/data/train.jsonl" --tokenizer "$WORK/data/tokenizer.json" \
    --out "$WORK/model" --steps 600 --stop-after 400 --short-steps 250 --lr 2e-3 --warmup 30 \
    --batch 32 --dim 256 --layers 4 --heads 4 --kv-heads 2 --ffn 768 --threads "$THREADS" \
    --seed 1234 > "$WORK/model/train-stage1.log" 2>&1
cp "$WORK/model/model.pt" "$WORK/model/stage1.pt"
echo "stage 1: $(( $(date +%s) - start )) s"

echo "== train, stage 2 (log in $WORK/model2.log)"
# From stage 1: gradients through the system turn, and a share of batches
# (50 % -> 10 % over the 400-step schedule) behind a random subset of the
# tools; stopped after 200 steps (the machine's time budget).
start=$(date +%s)
$PY "$T/train_lm.py" --data "$WORK/data/train.jsonl" --tokenizer "$WORK/data/tokenizer.json" \
    --out "$WORK/model2" --init "$WORK/model/stage1.pt" --steps 400 --stop-after 200 --warmup 20 \
    --lr 1.5e-3 --subset-start 0.5 --subset-end 0.1 --prefix-grad --batch 32 --dim 256 --layers 4 \
    --heads 4 --kv-heads 2 --ffn 768 --threads "$THREADS" --seed 99 > "$WORK/model2.log" 2>&1
cp "$WORK/model2/model.pt" "$WORK/model2/stage2.pt"
echo "stage 2: $(( $(date +%s) - start )) s"

echo "== train, stage 3 (log in $WORK/model3.log)"
# A short annealing run: LR 9e-4 -> 9e-5 (cosine) over 130 steps, mostly the full tool block.
start=$(date +%s)
$PY "$T/train_lm.py" --data "$WORK/data/train.jsonl" --tokenizer "$WORK/data/tokenizer.json" \
    --out "$WORK/model3" --init "$WORK/model2/stage2.pt" --steps 130 --warmup 5 --lr 9e-4 \
    --subset-start 0.2 --subset-end 0.01 --prefix-grad --batch 32 --dim 256 --layers 4 \
    --heads 4 --kv-heads 2 --ffn 768 --threads "$THREADS" --seed 7 > "$WORK/model3.log" 2>&1
echo "stage 3: $(( $(date +%s) - start )) s"
tail -n 1 "$WORK/model3.log"
CKPT=$WORK/model3/model.pt

echo "== export"
for ty in F16 Q8_0; do
    lc=$(echo $ty | tr 'A-Z' 'a-z')
    $PY "$T/export_gguf.py" --ckpt "$CKPT" --tokenizer "$WORK/data/tokenizer.json" \
        --type $ty --out "$ROOT/assets/hearth-tiny.$lc.gguf"
done

echo "== check the export against scripts/reference.py"
$PY "$T/check_gguf.py" --gguf "$ROOT/assets/hearth-tiny.q8_0.gguf" --tokenizer "$WORK/data/tokenizer.json" \
    --data "$ROOT/assets/eval/heldout.jsonl" --items 2

echo "== evaluate (held-out)"
for ty in f16 q8_0; do
    $PY "$T/eval_tools.py" --gguf "$ROOT/assets/hearth-tiny.$ty.gguf" --tokenizer "$WORK/data/tokenizer.json" \
        --data "$ROOT/assets/eval/heldout.jsonl" --json "$WORK/eval-$ty.json" --threads "$THREADS"
done
