#!/usr/bin/env bash
# Reproduces the comparison tables of docs/PERFORMANCE.md on this machine.
#
# Sets up a virtualenv with PyTorch (CPU wheels), numpy, JAX, optax and scipy, builds downhill in release
# mode and runs every `downhill bench` against them; each bench times its references in the same
# invocation, on the same thread count. Writes the tables to a report (each command also takes
# --format json).
#
#   bash scripts/bench_all.sh              # venv in ~/.cache/downhill-bench-venv, results in bench-results/
#   VENV=/tmp/ref OUT=/tmp/results bash scripts/bench_all.sh
#
# PyTorch's CPU wheels are about 200 MB; from PyPI, torch pulls about 4 GB of CUDA libraries.
# CI does not run this (it needs the network and minutes of quiet machine); nothing in the test
# suite depends on timings.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-$HOME/.cache/downhill-bench-venv}
OUT=${OUT:-bench-results}
THREADS=${THREADS:-"1 2"}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet torch --index-url https://download.pytorch.org/whl/cpu \
        || "$VENV/bin/pip" install --quiet torch
    "$VENV/bin/pip" install --quiet numpy jax optax
fi
"$VENV/bin/python" -c 'import scipy' 2>/dev/null || "$VENV/bin/pip" install --quiet scipy
PY="$VENV/bin/python"
"$PY" -c 'import torch, numpy, jax, optax; print("torch", torch.__version__, "numpy", numpy.__version__, "jax", jax.__version__, "optax", optax.__version__)'

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/downhill"
mkdir -p "$OUT"
REPORT="$OUT/report.txt"
: > "$REPORT"
run() {
    # run ARGS...: the command and its table into the report.
    echo "\$ downhill $*" | tee -a "$REPORT"
    "$BIN" "$@" | tee -a "$REPORT"
    echo | tee -a "$REPORT"
}

for t in $THREADS; do
    for opt in adam adamw gd momentum rmsprop adagrad; do
        run bench step --optimizer "$opt" --dtype f32 --threads "$t" --vs-torch --python "$PY"
    done
    run bench step --optimizer adam --dtype f64 --threads "$t" --vs-torch --python "$PY"
done
run bench small
for grid in lr grid; do
    for dtype in f64 f32; do
        run bench sweep --grid "$grid" --dtype "$dtype" --python "$PY"
    done
done
run bench train --python "$PY"
run bench quasi-newton --python "$PY"
echo "report: $REPORT"
