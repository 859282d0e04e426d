#!/bin/sh
# Instructions per proposal of the RawNode rows (see callgrind-proposals.ts). Build first
# (npx tsc -b). Prints one line per row: the instructions per proposal of each of REPS runs of
# N proposals (each against one run of 0), then their median. Runs of one build differ by about
# 100 instructions per proposal (garbage collection is scheduled partly by time).
set -eu
N=${N:-30000}
WARMUP=${WARMUP:-30000}
. "$(dirname "$0")/../callgrind-count.sh"
for voters in ${VOTERS:-1 2}; do
  base=$(count dist/bench/raft/callgrind-proposals.js "$voters" "$WARMUP" 0)
  reps_median "voters=$voters instr/proposal" "$N" "$base" \
    dist/bench/raft/callgrind-proposals.js "$voters" "$WARMUP" "$N"
done
