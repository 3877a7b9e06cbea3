package main

import (
	"log/slog"

	"github.com/kredete/herald"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/metrics"
	"github.com/kredete/herald/store"
)

// newMetrics is the server's own Prometheus registry, served at /metrics:
// the handlers count requests in it, the engine its deliveries and clock
// steps; the queue depth and the overdue obligations are read from st
// when scraped, and the live-update clients from the public side's broker.
func newMetrics(st *store.Store, plan herald.Plan, public *handlers.Public, log *slog.Logger) *metrics.Metrics {
	return metrics.New(metrics.Options{Store: st, Plan: plan, SSEClients: public.Broker().Clients,
		Log: log.With("component", "metrics")})
}
