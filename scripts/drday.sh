#!/usr/bin/env bash
# drday.sh: issue 8's simulated DR day, as CI runs it (TestDRDay in
# cmd/herald/drday_test.go), with its record written to a file.
#
# A four-hour SEV1 (the loss of AWS af-south-1, from the disaster-recovery
# document) on an accelerated clock: Kredete's plan, config/default.yaml,
# written out with every clock of an incident divided by the same factor
# (one plan minute lasts 250 ms: four hours in a minute), run by three
# herald processes on a fresh PostgreSQL database against local Slack,
# Twilio and SMTP servers. The incident is scripted through the console as
# its people would run it (declaration, roles, the region failover's
# stages, the database runbook approved by the VP and executed by a DBA,
# public updates with one deadline missed on purpose, executive updates,
# the regulator classification and call, resolution at plan minute 240). At
# plan minute 120 the replica posting a Slack reply is killed with SIGKILL
# while Slack holds the answer; it is restarted at minute 140.
#
# The record: the compliance table (herald.Compliance from the store, in
# plan minutes), what fell due while the replica was down and who kept it,
# the timings (measured, never pass marks), and the post-incident report as
# the console exports it. Exit status 0 when every obligation was met or
# escalated, every message reached its vendor once and the report says so.
#
# Usage: scripts/drday.sh [REPORT.md]       (from anywhere in the repository)
#   default REPORT.md: bench-results/drday-YYYYmmdd-HHMMSS.md (git-ignored);
#   the test's output goes next to it, as REPORT.md.log.
# Environment:
#   HERALD_DRDAY_PLAN_MINUTE   one plan minute in real time (default 250ms,
#                              the fastest the compliance grace allows; 1s
#                              runs the four hours in four minutes)
#   HERALD_TEST_POSTGRES_URL   the PostgreSQL server (default 127.0.0.1:5432,
#                              trust); the test creates and drops its database
# Needs: go, PostgreSQL.
set -euo pipefail
export GOTOOLCHAIN=local LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
out=${1:-bench-results/drday-$(date -u +%Y%m%d-%H%M%S).md}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
status=0
HERALD_DRDAY_REPORT="$out" go test -count=1 -timeout 20m -run '^TestDRDay$' -v ./cmd/herald/ >"$out.log" 2>&1 || status=$?
# The test's own lines (the replicas' logs are printed only when it fails).
grep -v '^        time=' "$out.log" || true
if [ -s "$out" ]; then
  echo "report: $out"
else
  echo "no report written; see $out.log" >&2
fi
echo "log: $out.log"
exit "$status"
