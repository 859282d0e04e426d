#!/bin/sh
# Instructions per appended entry of the WAL's CPU work (see callgrind-encode.ts). Build first
# (npx tsc -b). Prints one line per entry size: the instructions per entry of each of REPS runs of
# N batches of 256 (each against one run of none), then their median.
set -eu
N=${N:-100}
WARMUP=${WARMUP:-100}
SEMI=${SEMI:-64}
. "$(dirname "$0")/../callgrind-count.sh"
for size in ${SIZES:-128 1024}; do
  base=$(count dist/bench/wal/callgrind-encode.js "$size" "$WARMUP" 0)
  reps_median "size=$size instr/entry" "$((N * 256))" "$base" \
    dist/bench/wal/callgrind-encode.js "$size" "$WARMUP" "$N"
done
