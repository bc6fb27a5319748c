#!/usr/bin/env bash
# The project's test command, the same for developers and CI:
#
#   ./scripts/test.sh
#
# 1. lists files that gofmt would change (a failure), runs go vet on every package and
#    vets everything, tests included, for macOS (GOOS=darwin GOARCH=arm64), so that code
#    needing Linux stays behind build tags (there it fails at run time, saying it needs
#    Linux);
# 2. runs every Go test with the race detector;
# 3. runs each executable scripts/it/*.sh (integration scripts: browser, nginx, cluster),
#    in name order; each must exit 0.
# Every stage runs even if an earlier one failed; the script exits 1 if any failed.
#
# Tests that need redis-server skip when it is missing, so on a fresh machine the script
# installs it when it can (root with apt-get). With CI set (CI=true or CI=1) nothing may be
# skipped for lack of a tool: a missing redis-server is an error, here and in the tests.
#
# Environment: GO_TEST_TIMEOUT (default 15m) bounds each go test binary; GO_TEST_FLAGS
# adds flags to go test (e.g. GO_TEST_FLAGS="-run TestServe -v").
set -euo pipefail

cd "$(dirname "$0")/.."

is_ci() {
	case "${CI:-}" in
	"" | 0 | false | FALSE | no) return 1 ;;
	*) return 0 ;;
	esac
}

step() { printf '\n==> %s\n' "$*"; }

die() {
	printf 'test.sh: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go is not installed (see https://go.dev/doc/install); gows needs Go $(sed -n 's/^go //p' go.mod)"

ensure_redis() {
	command -v redis-server >/dev/null && return 0
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		step "installing redis-server (tests run their own instances on loopback)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends redis-server >/dev/null
	fi
	command -v redis-server >/dev/null && return 0
	if is_ci; then
		die "redis-server is missing and CI is set; install it (apt-get install redis-server)"
	fi
	printf 'test.sh: warning: redis-server is missing; tests that need Redis will be skipped\n' >&2
}

ensure_redis

# go_files lists the Go sources of the project (tracked or new, not ignored).
go_files() {
	if git rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard -- '*.go' |
			while IFS= read -r f; do [[ -f $f ]] && printf '%s\n' "$f"; done
	else
		find . -name '*.go' -not -path '*/node_modules/*' -not -path './dist/*'
	fi
}

failed=() # stages that failed

step "gofmt"
mapfile -t files < <(go_files)
unformatted=""
((${#files[@]} == 0)) || unformatted=$(gofmt -l "${files[@]}")
if [[ -n $unformatted ]]; then
	# A failed stage, reported at the end, so that it does not hide the test results.
	printf 'test.sh: these files need gofmt -w:\n%s\n' "$unformatted" >&2
	failed+=("gofmt")
fi

step "go vet ./..."
go vet ./... || failed+=("go vet")

step "GOOS=darwin GOARCH=arm64 go vet ./..."
GOOS=darwin GOARCH=arm64 go vet ./... || failed+=("darwin vet")

step "go test -race ./..."
# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags
go test -race -count=1 -timeout "${GO_TEST_TIMEOUT:-15m}" ${GO_TEST_FLAGS:-} ./... || failed+=("go test")

if [[ -d scripts/it ]]; then
	shopt -s nullglob
	for script in scripts/it/*.sh; do
		[[ -x $script ]] || continue
		step "$script"
		"$script" || failed+=("$script")
	done
fi

if ((${#failed[@]} > 0)); then
	die "failed: $(printf '%s; ' "${failed[@]}")"
fi
step "all tests passed"
