#!/usr/bin/env bash
# load.sh: issue 8's load test. The public page under wrk at 64 and then
# 1,000 connections while a signed-in commander posts a public update
# through the console every second and 50 readers with the page open wait
# for each one to appear (the page's event stream, then the fragment htmx
# fetches). It reports req/s, p50/p90/p99, errors (non-2xx/3xx and socket
# errors: connect, read, write, timeout; the console's and the readers'),
# the live-update latency (p50/p99/max) and how many updates each reader
# got, Herald's CPU and its RSS (largest sample and VmHWM).
#
# It runs scripts/loadbench (see the comment at the top of its main.go),
# after raising the open files limit: wrk holds 1,000 connections.
#
# Usage: scripts/load.sh [flags]          (from anywhere in the repository)
#   -postgres                     a fresh PostgreSQL database at HERALD_TEST_POSTGRES_URL
#                                 or 127.0.0.1:5432 (trust) instead of an SQLite file
#   -conns 64,1000 -duration 30s -threads 2
#                                 wrk runs against GET /, one per connection count
#   -viewers 50                   readers holding the page's event stream open
#   -every 1s                     the commander's posting interval
#   -grace 5s                     after wrk, how long the readers get to show the last update
#   -max-live 1s                  the live latency's p99 must not exceed this
#   -gzip                         wrk asks for gzip, as browsers do (default: identity, as bench.sh's first case)
#   -demo=false                   no `herald demo-data` (an empty page but the incident)
#   -herald PATH -env KEY=VALUE -keep -out DIR
# Needs: go, wrk (apt-get install -y wrk).
# Writes bench-results/load-DB-YYYYmmdd-HHMMSS.md (git-ignored). Exit
# status 0 only with no failed request, no missed update and the live
# latency's p99 within -max-live.
set -euo pipefail
export GOTOOLCHAIN=local LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

command -v wrk >/dev/null || { echo "load: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
# wrk (C) keeps the limit it inherits; herald and the driver (Go) raise
# their own. 1,000 connections need a little over 1,000 descriptors.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard > 65536)); then
	ulimit -n 65536
else
	ulimit -n "$hard"
fi
if (($(ulimit -n) < 4096)); then
	echo "load: the open files limit is $(ulimit -n) (hard $hard); wrk needs more than 1,000. Raise the hard limit (ulimit -Hn, /etc/security/limits.conf) and run again" >&2
	exit 1
fi
exec go run ./scripts/loadbench "$@"
