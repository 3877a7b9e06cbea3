// Package metrics is Herald's Prometheus side: the registry a server owns
// (never the library's global default), the series the handlers and the
// cadence engine report to, and the collectors that read the store when
// /metrics is scraped. Handlers and the engine declare the small
// interfaces they report through; only this package imports the
// Prometheus client.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
)

// Store is what a scrape reads: River's queue and the clocks' state.
type Store interface {
	QueueDepth(ctx context.Context) ([]store.QueueJobs, error)
	ClockState(ctx context.Context) ([]herald.Incident, []herald.Communication, []herald.RegulatorReport, error)
}

// Options say where the scraped values come from.
type Options struct {
	// Store is read at each scrape for the queue depth and the overdue
	// obligations; nil: neither is exported.
	Store Store
	// Plan gives the audiences whose overdue obligations are counted.
	Plan herald.Plan
	// SSEClients counts the connected live-update clients; nil: not
	// exported.
	SSEClients func() int
	// Now is the clock the obligations are judged by; time.Now when nil.
	Now func() time.Time
	// StoreTimeout bounds the store's reads in one scrape, so a slow or
	// unreachable database never hangs it; 2 s when 0.
	StoreTimeout time.Duration
	Log          *slog.Logger
}

// DefaultStoreTimeout bounds a scrape's reads of the store.
const DefaultStoreTimeout = 2 * time.Second

// Metrics is one server's registry and the series it reports to.
type Metrics struct {
	reg        *prometheus.Registry
	log        *slog.Logger
	requests   *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	lateness   *prometheus.HistogramVec
}

// New makes a registry with the Go runtime's and the process's collectors
// and Herald's own series.
func New(o Options) *Metrics {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: o.Log,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern, method and status class; server-sent event streams are not counted.",
			// The snapshot's documents are answered in microseconds, the
			// console's pages in milliseconds.
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total",
			Help: "Delivery attempts settled by the cadence engine, by channel and result (sent, retrying, failed: given up, skipped).",
		}, []string{"channel", "result"}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_reminder_lateness_seconds",
			Help: "How long after its time a clock step (reminder, escalation, holding update) was carried out, by kind.",
			// The engine sleeps until the step's time: milliseconds when
			// well, minutes when the database or the process was away.
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}, []string{"kind"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.deliveries, m.lateness)
	if o.SSEClients != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_sse_clients",
			Help: "Connected live-update clients (server-sent event streams of the status page and the console).",
		}, func() float64 { return float64(o.SSEClients()) }))
	}
	if o.Store != nil {
		m.reg.MustRegister(newStoreCollector(o))
	}
	return m
}

// Registry is the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text format. A collector
// that fails leaves its series out; the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	})
}

// RequestDuration returns the function that records one request's
// duration in seconds, for a route pattern, a method and a status class
// ("2xx"). The caller resolves it once per label set where requests are
// many: recording then takes no lock and allocates nothing.
func (m *Metrics) RequestDuration(route, method, status string) func(seconds float64) {
	return m.requests.WithLabelValues(route, method, status).Observe
}

// Settled counts one settled delivery attempt (engine.Metrics).
func (m *Metrics) Settled(channel herald.Channel, result herald.DeliveryState) {
	m.deliveries.WithLabelValues(string(channel), string(result)).Inc()
}

// Fired records a clock step's lateness (engine.Metrics).
func (m *Metrics) Fired(kind herald.ReminderKind, late time.Duration) {
	m.lateness.WithLabelValues(string(kind)).Observe(max(late, 0).Seconds())
}
