#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzXxx in any package) for a
# short while each: FUZZTIME per target (default 5s; 20 targets take about
# three minutes on two cores, builds included). `go test ./...` already
# runs each target's seeds and its testdata/fuzz/ inputs; this looks for
# new ones.
#
# A finding fails the run, after the other targets: go writes the failing
# input to the package's testdata/fuzz/FuzzXxx/, and this script prints its
# path and the failure. Fix the bug and commit the input: it is a
# regression test from then on.
#
#   scripts/fuzz.sh                      # every target
#   FUZZTIME=2m scripts/fuzz.sh FuzzParsePlan   # targets whose name matches
set -uo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
fuzztime="${FUZZTIME:-5s}"
match="${1:-.}"

# The packages with a fuzz target (a grep spares building every test
# binary), then their targets as go test -list names them: a package's
# targets, then "ok  <package> <time>".
mapfile -t dirs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u)
targets=()
names=()
while read -r first second _; do
  case "$first" in
    Fuzz*) names+=("$first") ;;
    ok)
      for n in "${names[@]}"; do targets+=("$second $n"); done
      names=()
      ;;
    *) names=() ;;
  esac
done < <(go test -list '^Fuzz' "${dirs[@]}" 2>&1)

if [ "${#targets[@]}" -eq 0 ]; then
  echo "FATAL: no fuzz targets found (go test -list '^Fuzz' failed?)" >&2
  exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed=0
ran=0
start=$SECONDS
for t in "${targets[@]}"; do
  pkg="${t% *}"
  name="${t#* }"
  [[ "$name" =~ $match ]] || continue
  ran=$((ran + 1))
  # -fuzzminimizetime bounds the time spent shrinking each new input:
  # on slow targets the default (60s) would take the whole budget.
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x -timeout 10m "$pkg" >"$log" 2>&1; then
    rate="$(grep -o 'execs: [0-9]* ([0-9]*/sec)' "$log" | tail -2 | head -1)"
    printf 'ok    %-26s %-45s %s\n' "$name" "$pkg" "$rate"
  else
    failed=1
    dir="$(go list -f '{{.Dir}}' "$pkg")"
    printf 'FAIL  %-26s %s\n' "$name" "$pkg"
    grep -v '^fuzz: elapsed' "$log" | tail -40
    input="$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1)"
    if [ -n "$input" ]; then
      echo "FUZZ FINDING: failing input $dir/$input"
      echo "  reproduce: go test -run '$name/$(basename "$input")' $pkg"
    fi
  fi
done
echo "fuzzed $ran targets for $fuzztime each in $((SECONDS - start))s"
if [ "$failed" -ne 0 ]; then
  echo "FATAL: a fuzz target found a failing input (see above)" >&2
  exit 1
fi
