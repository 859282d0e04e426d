# Shared by bench/*/callgrind-*.sh (sourced): counting a script's instructions under callgrind.
# `count SCRIPT ARGS...` prints the instructions callgrind counted for
# `node --single-threaded --max-semi-space-size=$SEMI SCRIPT ARGS...` (compiler and garbage
# collector on the counted thread; NODE_FLAGS adds flags).
count() {
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
    node --single-threaded --max-semi-space-size="${SEMI:-256}" ${NODE_FLAGS:-} "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}

# `reps_median LABEL OPS BASE CMD...`: runs `count CMD...` REPS times, prints each
# (total - BASE) / OPS and their median after LABEL.
reps_median() {
  label=$1 ops=$2 base=$3
  shift 3
  all=""
  for _ in $(seq "${REPS:-1}"); do
    more=$(count "$@")
    all="$all $(( (more - base) / ops ))"
  done
  median=$(echo $all | tr ' ' '\n' | sort -n | sed -n "$(( (${REPS:-1} + 1) / 2 ))p")
  echo "$label:$all (median $median)"
}
