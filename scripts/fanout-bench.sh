#!/usr/bin/env bash
# fanout-bench.sh: one public update fanned out to Herald's status-page
# subscribers (issue 6), Herald running as a separate process: by default
# 100,000 confirmed email subscribers (a local SMTP server) and 1,000
# webhook subscribers (a local HTTPS receiver), all following every
# component.
#
# It runs scripts/fanoutbench (see the comment at the top of its main.go),
# which builds herald, seeds a fresh database through the store package,
# starts the SMTP server and the TLS webhook receiver in its own process,
# runs herald against them, measures the public page idle with
# `wrk -t2 -c64 -d10s --latency` on GET /, declares an incident through the
# admin API, runs the same wrk during the fan-out (at once, and again from
# half-way when the fan-out lasts long enough) while sampling herald's RSS
# every 0.5 s, and waits until every subscriber has been told once
# (recipients counted per address, webhook signatures verified):
#
#   time to deliver all (emails, webhooks), messages per second, herald's
#   VmHWM and largest sampled RSS, the page's req/s and p99 idle and during
#   the fan-out, and their ratio.
#
# Targets: herald under 150 MB resident at 100,000 subscribers and not
# growing with their number (compare -emails 20000), the page's throughput
# during the fan-out within 10% of idle. wrk, herald and the receivers share
# the machine: the report gives the CPU each used during each wrk run.
#
# Usage: scripts/fanout-bench.sh [flags]        (from anywhere in the repository)
#   -emails 100000 -webhooks 1000   subscribers
#   -email-rate 100000 -webhook-rate 100000 -workers 100
#                                   HERALD_SUBSCRIBER_EMAIL_RATE, _WEBHOOK_RATE, _WORKERS
#                                   (default: as fast as herald goes; at most about
#                                   10 messages a second per worker)
#   -pg                             a fresh PostgreSQL database at HERALD_TEST_POSTGRES_URL
#                                   or 127.0.0.1:5432 (trust) instead of an SQLite file
#   -timeout 30m -wrk-duration 10s -wrk-threads 2 -wrk-conns 64
#   -during-runs 2                  wrk runs during the fan-out: one at once, the rest
#                                   spread over it (from half-way for 2)
#   -quiet-wait 2m -quiet-max 0.25 -idle-tries 3
#                                   the machine is shared: before the idle runs, the
#                                   declaration and the later runs, wait (bounded) until
#                                   other processes use under 0.25 cores; repeat a
#                                   disturbed idle run; runs disturbed all the same are
#                                   marked, and left out of the verdict when others are not
#   -herald PATH                    run this binary instead of building ./cmd/herald
#   -env KEY=VALUE                  extra environment for herald (repeatable)
#   -keep                           keep the temporary directory (herald.log, wrk output)
# Needs: go, wrk (apt-get install -y wrk).
# Writes bench-results/fanout-YYYYmmdd-HHMMSS.md (git-ignored). Exit status 0
# if every target was met.
set -euo pipefail
export GOTOOLCHAIN=local LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
exec go run ./scripts/fanoutbench "$@"
