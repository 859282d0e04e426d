#!/bin/sh
# Instructions per appended entry of the WAL's CPU work (see callgrind-encode.ts). Build first
# (npx tsc -b). Prints one line per entry size: the instructions per entry of each of REPS runs of
# N batches of 256 (each against one run of none), then their median.
set -eu
N=${N:-100}
WARMUP=${WARMUP:-100}
REPS=${REPS:-1}
count() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
    node --single-threaded --max-semi-space-size=64 ${NODE_FLAGS:-} \
    dist/bench/wal/callgrind-encode.js "$1" "$WARMUP" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
for size in ${SIZES:-128 1024}; do
  base=$(count "$size" 0)
  all=""
  for _ in $(seq "$REPS"); do
    more=$(count "$size" "$N")
    all="$all $(( (more - base) / (N * 256) ))"
  done
  median=$(echo $all | tr ' ' '\n' | sort -n | sed -n "$(( (REPS + 1) / 2 ))p")
  echo "size=$size instr/entry:$all (median $median)"
done
