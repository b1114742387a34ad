#!/usr/bin/env bash
# ctest bench_smoke: runs each bench program given as an argument with --smoke and fails if one
# exits non-zero or does not end its output with its JSON result line.
set -uo pipefail
failed=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for prog in "$@"; do
  start=${EPOCHREALTIME/./}
  out=$("$prog" --smoke 2>"$err")
  rc=$?
  ms=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
  last=$(printf '%s\n' "$out" | tail -n 1)
  name=$(basename "$prog")
  if [[ $rc -ne 0 ]]; then
    echo "FAIL $name (exit $rc):"
    printf '%s\n' "$out" | tail -n 20
    tail -n 20 "$err"
    failed=1
  elif [[ $last != '{"'* ]]; then
    echo "FAIL $name: the last line is not a JSON result line:"
    printf '%s\n' "$out" | tail -n 20
    failed=1
  else
    echo "ok   $name (${ms} ms): $last"
  fi
done
exit $failed
