#!/bin/sh
# Instructions per proposal of the RawNode rows (see callgrind-proposals.ts). Build first
# (npx tsc -b). Prints one line per row: voters, instructions per proposal.
set -eu
N=${N:-30000}
WARMUP=${WARMUP:-30000}
count() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
    node --single-threaded --max-semi-space-size=256 \
    dist/bench/raft/callgrind-proposals.js "$1" "$WARMUP" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
for voters in ${VOTERS:-1 2}; do
  base=$(count "$voters" 0)
  more=$(count "$voters" "$N")
  echo "voters=$voters instr/proposal=$(( (more - base) / N ))"
done
