#!/usr/bin/env bash
# Lists the known vulnerabilities that reach Herald's code, with govulncheck
# and a local copy of the Go vulnerability database: vuln.go.dev cannot be
# reached from here, but the golang.org/x/vulndb module, which carries the
# database's OSV files, comes through the Go module proxy. Bump
# VULNDB_VERSION to the newest pseudo-version the proxy has for fresher data.
#
# Exit status: 0 when nothing affects the code, 3 (govulncheck's) when
# something does; the list ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
GOVULNCHECK_VERSION="${GOVULNCHECK_VERSION:-v1.9.0}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== the database: golang.org/x/vulndb@$VULNDB_VERSION"
osv="$(cd "$work" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')/data/osv"
[ -d "$osv" ] || { echo "FATAL: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
go run ./scripts/vulndb -osv "$osv" -out "$work/db"

echo "== govulncheck $GOVULNCHECK_VERSION"
bin="$(go env GOPATH)/bin/govulncheck-$GOVULNCHECK_VERSION"
if [ ! -x "$bin" ]; then
  GOBIN="$work/bin" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
  mkdir -p "$(dirname "$bin")" && cp "$work/bin/govulncheck" "$bin"
fi
status=0
"$bin" -db "file://$work/db" ./... >"$work/report.txt" 2>&1 || status=$?
cat "$work/report.txt"

echo
echo "== summary"
awk '/^Vulnerability #/ {id=$3} /Found in:/ {found=$3} /Fixed in:/ {print id, found, "fixed in", $3}' "$work/report.txt" | sort -u
grep -E '^(Your code|This scan|No vulnerabilities)' "$work/report.txt" || true
exit "$status"
