#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions (FUZZTIME, default 100000x each:
# a few seconds per target here) on top of its seed corpus. Called by scripts/test.sh; a
# crash fails the run and leaves the failing input in the package's testdata/fuzz
# directory. A count rather than a duration: with a duration, Go's fuzzing coordinator can
# report "context deadline exceeded" as a failure when its deadline catches a busy worker
# (golang/go#75804), without any failing input.
set -euo pipefail
cd "$(dirname "$0")/../.."
fuzztime="${FUZZTIME:-100000x}"
status=0
while IFS=: read -r file func; do
  pkg="./$(dirname "$file")"
  name="${func#func }"
  name="${name%%(*}"
  echo "fuzz: $pkg $name ($fuzztime)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/gows-fuzz.log 2>&1; then
    cat /tmp/gows-fuzz.log
    status=1
  fi
done < <(grep -rn --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*(' internal | sed 's/:[0-9]*:/:/')
exit $status
