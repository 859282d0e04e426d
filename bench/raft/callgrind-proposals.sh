#!/bin/sh
# Instructions per proposal of the RawNode rows (see callgrind-proposals.ts). Build first
# (npx tsc -b). Prints one line per row: the instructions per proposal of each of REPS runs of
# N proposals (each against one run of 0), then their median. Runs of one build differ by about
# 100 instructions per proposal (garbage collection is scheduled partly by time).
set -eu
N=${N:-30000}
WARMUP=${WARMUP:-30000}
REPS=${REPS:-1}
count() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
    node --single-threaded --max-semi-space-size=256 ${NODE_FLAGS:-} \
    dist/bench/raft/callgrind-proposals.js "$1" "$WARMUP" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
for voters in ${VOTERS:-1 2}; do
  base=$(count "$voters" 0)
  all=""
  for _ in $(seq "$REPS"); do
    more=$(count "$voters" "$N")
    all="$all $(( (more - base) / N ))"
  done
  median=$(echo $all | tr ' ' '\n' | sort -n | sed -n "$(( (REPS + 1) / 2 ))p")
  echo "voters=$voters instr/proposal:$all (median $median)"
done
