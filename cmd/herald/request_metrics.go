//go:build !nometrics

package main

// requestMetrics: the HTTP latency histogram counts every request. Building
// with -tags nometrics turns it off (only that: /metrics still serves the
// rest), for scripts/bench.sh BENCH_NOMETRICS=1 to measure what counting
// costs the hot path under wrk.
const requestMetrics = true
