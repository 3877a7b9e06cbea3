//go:build nometrics

package main

// requestMetrics is off in this build (-tags nometrics): a benchmark
// baseline, see request_metrics.go.
const requestMetrics = false
