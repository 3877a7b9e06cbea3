#!/usr/bin/env bash
# engine-bench.sh: measure the cadence engine with 1,000 open incidents
# (issue 4): the idle engine's CPU and memory, what wakes the process while
# nothing is due, and how late reminders are when many fall due.
#
# It runs scripts/enginebench (see the comment at the top of its main.go),
# which builds herald, seeds a fresh database through the store package
# (1,000 open major incidents flagged for regulators, so four audiences'
# clocks each), starts the local Slack, SMTP and Twilio servers in-process
# and runs herald against them with HERALD_LOG_FORMAT=json:
#
#   idle      the default plan, nothing due: CPU % of a core (utime+stime
#             from /proc/PID/stat), peak and mean RSS, context switches, the
#             engine's wakes (its debug log), PostgreSQL commits, and a
#             strace -c -f count of system calls if strace is installed.
#   lateness  shortened cadences (minutes), declarations spread so that
#             thousands of reminders, escalations and holding updates fall
#             due over 5 minutes: late_ms of "reminder queued" / "holding
#             update sent" (due → committed) and sent_at − due per delivery,
#             p50/p99/max, and any step missed.
#
# Targets: the idle engine under 2% of a core, the process under 80 MB
# resident, reminders late by under 1 s at p99. Timings move with the load
# on the machine: the report gives the load average and the CPU the rest
# of the machine used during each window.
#
# Usage: scripts/engine-bench.sh [flags]        (from anywhere in the repository)
#   -db sqlite,postgres     databases (default sqlite); PostgreSQL at
#                           HERALD_TEST_POSTGRES_URL or 127.0.0.1:5432 (trust)
#   -phases idle,lateness   phases (default both)
#   -incidents 1000 -idle 60s -settle 15s -strace 30s -spread 4m -window 5m -lead 60s
#   -keep                   keep the temporary directories (herald.log, plan.yaml, SQLite files)
# Takes about 9 minutes per database with the defaults.
# Writes bench-results/engine-YYYYmmdd-HHMMSS.md (git-ignored).
set -euo pipefail
export GOTOOLCHAIN=local LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
exec go run ./scripts/enginebench "$@"
