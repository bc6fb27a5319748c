#!/usr/bin/env bash
# Checks that the generated code under proto/ is current: regenerates it into a temporary
# directory with protoc and the plugin versions pinned in proto/gows/v1/generate.go, and
# fails with a diff when the committed *.pb.go files differ.
#
#   scripts/it/proto.sh
#
# Needs protoc (Debian: protobuf-compiler) and go; the plugins are installed from the Go
# module proxy into a cache directory (GOWS_PROTO_BIN, default ~/.cache/gows/protoc-bin).
set -euo pipefail

cd "$(dirname "$0")/../.."

die() {
	printf 'proto.sh: %s\n' "$*" >&2
	exit 1
}

command -v protoc >/dev/null || die "protoc is missing; install Debian's protobuf-compiler"

# The pinned plugin versions are read from the go:generate documentation, so that the
# check and the instructions cannot drift apart.
gen=proto/gows/v1/generate.go
pgo=$(sed -n 's|.*go install \(google.golang.org/protobuf/cmd/protoc-gen-go@v[0-9.]*\).*|\1|p' "$gen")
pgrpc=$(sed -n 's|.*go install \(google.golang.org/grpc/cmd/protoc-gen-go-grpc@v[0-9.]*\).*|\1|p' "$gen")
[[ -n $pgo && -n $pgrpc ]] || die "cannot read the pinned plugin versions from $gen"

bin="${GOWS_PROTO_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/gows/protoc-bin}"
stamp="$bin/.versions"
if [[ ! -x $bin/protoc-gen-go || ! -x $bin/protoc-gen-go-grpc || $(cat "$stamp" 2>/dev/null) != "$pgo $pgrpc" ]]; then
	mkdir -p "$bin"
	GOBIN="$bin" go install "$pgo"
	GOBIN="$bin" go install "$pgrpc"
	printf '%s %s\n' "$pgo" "$pgrpc" >"$stamp"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
while IFS= read -r dir; do
	mkdir -p "$tmp/$dir"
	cp "$dir"/*.proto "$tmp/$dir/"
	(cd "$tmp/$dir" && PATH="$bin:$PATH" protoc \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		./*.proto)
	for f in "$tmp/$dir"/*.pb.go; do
		committed="$dir/$(basename "$f")"
		# The protoc version line may differ between Debian releases without changing
		# the code; everything else must match.
		if ! diff -u -I '^// [ 	-]*protoc  *v' "$committed" "$f"; then
			printf 'proto.sh: %s is not current; run go generate ./proto/...\n' "$committed" >&2
			status=1
		fi
	done
	for f in "$dir"/*.pb.go; do
		[[ -f "$tmp/$dir/$(basename "$f")" ]] || {
			printf 'proto.sh: %s has no .proto source any more\n' "$f" >&2
			status=1
		}
	done
done < <(find proto -name '*.proto' -printf '%h\n' | sort -u)

((status == 0)) && printf 'proto.sh: generated code is current\n'
exit "$status"
