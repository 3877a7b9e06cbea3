package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
)

// The sources a scrape reads from the store, as herald_scrape_errors_total
// names them.
const (
	sourceQueue       = "queue"
	sourceObligations = "obligations"
)

// storeCollector reads the queue depth and the overdue obligations from
// the store at each scrape. Each read is bounded by the store timeout: a
// read that fails or times out leaves its series out of that scrape and
// counts in herald_scrape_errors_total; the rest of the scrape is served.
type storeCollector struct {
	o       Options
	queue   *prometheus.Desc
	overdue *prometheus.Desc
	errors  *prometheus.CounterVec
	// A read still running from an earlier scrape (a database that does
	// not answer, nor heed the timeout) is not started again: scrapes
	// every 15 s must not pile up goroutines and connections.
	queueBusy, clocksBusy atomic.Bool
}

func newStoreCollector(o Options) *storeCollector {
	c := &storeCollector{o: o,
		queue: prometheus.NewDesc("herald_queue_jobs",
			"Unfinished jobs in the delivery queues, by queue and state, read when scraped.", []string{"queue", "state"}, nil),
		overdue: prometheus.NewDesc("herald_obligations_overdue",
			"Obligations past due and not met, by audience, computed when scraped.", []string{"audience"}, nil),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_scrape_errors_total",
			Help: "Scrapes whose read of the store failed or timed out, by source (queue, obligations); that source's series were left out.",
		}, []string{"source"}),
	}
	c.errors.WithLabelValues(sourceQueue)
	c.errors.WithLabelValues(sourceObligations)
	return c
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queue
	ch <- c.overdue
	c.errors.Describe(ch)
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.StoreTimeout)
	defer cancel()
	var (
		wg         sync.WaitGroup
		jobs       []store.QueueJobs
		overdue    []audienceCount
		qErr, oErr error
	)
	wg.Go(func() { jobs, qErr = bounded(ctx, &c.queueBusy, c.o.Store.QueueDepth) })
	wg.Go(func() { overdue, oErr = bounded(ctx, &c.clocksBusy, c.overdueNow) })
	wg.Wait()

	if c.ok(sourceQueue, qErr) {
		for _, j := range jobs {
			ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(j.Jobs), j.Queue, j.State)
		}
	}
	if c.ok(sourceObligations, oErr) {
		for _, a := range overdue {
			ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(a.n), a.audience)
		}
	}
	c.errors.Collect(ch)
}

// ok reports whether a source's read succeeded; an error is counted and
// logged.
func (c *storeCollector) ok(source string, err error) bool {
	if err == nil {
		return true
	}
	c.errors.WithLabelValues(source).Inc()
	c.o.Log.Warn("metrics: a scrape could not read the store; its series are left out", "source", source, "error", err.Error())
	return false
}

type audienceCount struct {
	audience string
	n        int
}

// overdueNow counts, by audience, the obligations past due: every
// audience of the plan, in its order, zeros included. It reads what the
// engine's clocks read, and computes the obligations as they do.
func (c *storeCollector) overdueNow(ctx context.Context) ([]audienceCount, error) {
	incidents, told, reports, err := c.o.Store.ClockState(ctx)
	if err != nil {
		return nil, err
	}
	toldOf := map[string][]herald.Communication{}
	for _, t := range told {
		toldOf[t.IncidentID] = append(toldOf[t.IncidentID], t)
	}
	reportsOf := map[string][]herald.RegulatorReport{}
	for _, r := range reports {
		reportsOf[r.IncidentID] = append(reportsOf[r.IncidentID], r)
	}
	now := c.o.Now()
	counts := map[string]int{}
	for _, in := range incidents {
		for _, ob := range herald.Obligations(c.o.Plan, in, toldOf[in.ID], reportsOf[in.ID]) {
			if now.After(ob.Due) {
				counts[ob.Audience]++
			}
		}
	}
	out := make([]audienceCount, 0, len(c.o.Plan.Audiences))
	for _, a := range c.o.Plan.Audiences {
		out = append(out, audienceCount{a.Key, counts[a.Key]})
	}
	return out, nil
}

// errBusy: the previous scrape's read has not returned yet.
var errBusy = errors.New("an earlier scrape's read of the store has not returned yet")

// bounded runs read and waits for it until ctx ends. A read that has not
// returned by then is left to finish on its own (ctx tells it to stop),
// and busy keeps the next scrape from starting another meanwhile.
func bounded[T any](ctx context.Context, busy *atomic.Bool, read func(context.Context) (T, error)) (T, error) {
	var zero T
	if !busy.CompareAndSwap(false, true) {
		return zero, errBusy
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer busy.Store(false)
		v, err := read(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, fmt.Errorf("no answer in time: %w", ctx.Err())
	}
}
