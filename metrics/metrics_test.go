package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/metrics"
	"github.com/kredete/herald/metrics/metricstest"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// clock is a settable clock for the store and the obligations.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func plan(t *testing.T) herald.Plan {
	t.Helper()
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openStore opens a migrated store whose writes queue the plan's
// deliveries, with the plan's components.
func openStore(t *testing.T, dialect, url string, clk *clock, p herald.Plan) *store.Store {
	t.Helper()
	d, dsn, err := config.SplitDatabaseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), d, dsn, store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.SyncComponents(t.Context(), p.Groups, p.Components); err != nil {
		t.Fatal(err)
	}
	st.EnableDeliveries(p)
	return st
}

func declare(t *testing.T, st *store.Store) herald.Incident {
	t.Helper()
	comps, err := st.Components(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	in, err := st.Declare(t.Context(), herald.Declaration{Name: "Payments failing", Impact: herald.ImpactMajor, Body: "Looking.",
		Components: []herald.ComponentTarget{{ComponentID: comps[0].ID, Status: herald.MajorOutage}}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func value(t *testing.T, s metricstest.Scrape, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.Value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v; the scrape has %v", name, labels, s.Labels(name))
	}
	return v
}

// TestScrape: the store's series are read when scraped (the queue's jobs
// by queue and state, the obligations past due by audience, judged by the
// clock), the runtime's and the process's are there, and what the engine
// and the handlers report is counted.
func TestScrape(t *testing.T) {
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clk := &clock{now: t0}
			p := plan(t)
			st := openStore(t, d, storetest.URL(t, d), clk, p)
			in := declare(t, st)
			ds, err := st.Deliveries(t.Context(), in.ID, 1000)
			if err != nil || len(ds) == 0 {
				t.Fatalf("the declaration queued %d deliveries (%v); the test needs some", len(ds), err)
			}
			m := metrics.New(metrics.Options{Store: st, Plan: p, Now: clk.Now, SSEClients: func() int { return 3 }})
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()

			clk.Set(t0.Add(time.Minute))
			s := metricstest.Get(t, srv.Client(), srv.URL, "")
			if got := value(t, s, "herald_queue_jobs", "queue", "deliveries", "state", "available"); got != float64(len(ds)) {
				t.Errorf("deliveries available: %v, want %d", got, len(ds))
			}
			for _, st := range []string{"scheduled", "running", "retryable"} {
				if got := value(t, s, "herald_queue_jobs", "queue", "deliveries", "state", st); got != 0 {
					t.Errorf("deliveries %s: %v, want 0", st, got)
				}
			}
			if got := value(t, s, "herald_queue_jobs", "queue", "subscribers", "state", "available"); got != 0 {
				t.Errorf("subscribers available: %v, want 0", got)
			}
			overdue := func(s metricstest.Scrape) map[string]float64 {
				out := map[string]float64{}
				for _, a := range p.Audiences {
					out[a.Key] = value(t, s, "herald_obligations_overdue", "audience", a.Key)
				}
				return out
			}
			if got := overdue(s); got["public"] != 0 || got["executives"] != 0 || len(got) != len(p.Audiences) {
				t.Errorf("overdue at 09:01: %v, want every audience at 0", got)
			}
			// The public page is owed an update every 15 minutes, the
			// executives every 30.
			clk.Set(t0.Add(20 * time.Minute))
			if got := overdue(metricstest.Get(t, srv.Client(), srv.URL, "")); got["public"] != 1 || got["executives"] != 0 {
				t.Errorf("overdue at 09:20: %v, want public 1, executives 0", got)
			}
			clk.Set(t0.Add(31 * time.Minute))
			s = metricstest.Get(t, srv.Client(), srv.URL, "")
			if got := overdue(s); got["public"] != 1 || got["executives"] != 1 || got["engineering"] != 0 || got["regulators"] != 0 {
				t.Errorf("overdue at 09:31: %v, want public 1, executives 1, the others 0", got)
			}
			for _, src := range []string{"queue", "obligations"} {
				if got := value(t, s, "herald_scrape_errors_total", "source", src); got != 0 {
					t.Errorf("scrape errors of %s: %v, want 0", src, got)
				}
			}
			for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
				if !s.Has(name) {
					t.Errorf("no %s: the runtime's and the process's collectors are missing", name)
				}
			}
			if got := value(t, s, "herald_sse_clients"); got != 3 {
				t.Errorf("herald_sse_clients %v, want 3", got)
			}

			m.Settled(herald.ChannelSMS, herald.DeliverySent)
			m.Settled(herald.ChannelSMS, herald.DeliverySent)
			m.Settled(herald.ChannelSlack, herald.DeliveryFailed)
			m.Fired(herald.RemindBefore, 42*time.Second)
			m.RequestDuration("/incidents/{id}", "GET", "2xx")(0.25)
			s = metricstest.Get(t, srv.Client(), srv.URL, "")
			if got := value(t, s, "herald_deliveries_total", "channel", "sms", "result", "sent"); got != 2 {
				t.Errorf("sms sent %v, want 2", got)
			}
			if got := value(t, s, "herald_deliveries_total", "channel", "slack", "result", "failed"); got != 1 {
				t.Errorf("slack failed %v, want 1", got)
			}
			if n, _ := s.Value("herald_reminder_lateness_seconds", "kind", "before"); n != 1 {
				t.Errorf("lateness observations %v, want 1", n)
			}
			if sum, _ := s.Sum("herald_reminder_lateness_seconds", "kind", "before"); sum != 42 {
				t.Errorf("lateness sum %v, want 42", sum)
			}
			if sum, _ := s.Sum("herald_http_request_duration_seconds", "route", "/incidents/{id}", "method", "GET", "status", "2xx"); sum != 0.25 {
				t.Errorf("request duration sum %v, want 0.25", sum)
			}
		})
	}
}

// TestScrapeOfAClosedStore: a database that is gone costs the store's
// series, counted as scrape errors; the rest is still served.
func TestScrapeOfAClosedStore(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			clk := &clock{now: time.Now()}
			p := plan(t)
			st := openStore(t, d, storetest.URL(t, d), clk, p)
			m := metrics.New(metrics.Options{Store: st, Plan: p})
			srv := httptest.NewServer(m.Handler())
			defer srv.Close()
			st.Close()
			s := metricstest.Get(t, srv.Client(), srv.URL, "")
			wantStoreless(t, s, 1)
		})
	}
}

// wantStoreless checks a scrape made while the store could not be read.
func wantStoreless(t *testing.T, s metricstest.Scrape, errors float64) {
	t.Helper()
	for _, src := range []string{"queue", "obligations"} {
		if got := value(t, s, "herald_scrape_errors_total", "source", src); got != errors {
			t.Errorf("scrape errors of %s: %v, want %v", src, got, errors)
		}
	}
	for _, name := range []string{"herald_queue_jobs", "herald_obligations_overdue"} {
		if s.Has(name) {
			t.Errorf("%s was served (%v) though the store could not be read", name, s.Labels(name))
		}
	}
	if !s.Has("go_goroutines") {
		t.Error("the runtime's series are missing: one failed source failed the whole scrape")
	}
}

// TestSlowDatabaseDoesNotHangTheScrape: while another transaction holds
// the tables the scrape reads (a PostgreSQL that does not answer), the
// scrape still answers, after the store timeout, without the store's
// series; once the tables are free they are back.
func TestSlowDatabaseDoesNotHangTheScrape(t *testing.T) {
	url := storetest.URL(t, store.Postgres)
	clk := &clock{now: time.Now()}
	p := plan(t)
	st := openStore(t, store.Postgres, url, clk, p)
	declare(t, st)
	m := metrics.New(metrics.Options{Store: st, Plan: p, Now: clk.Now, StoreTimeout: 200 * time.Millisecond})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE river_job, incidents IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	// The lock is held until the test lets go: without the timeout the
	// scrape would wait for ever. Waiting here has a deadline only so
	// that a hang fails the test instead of the whole run.
	got := make(chan metricstest.Scrape, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("scrape during the lock: %d", resp.StatusCode)
		}
		got <- metricstest.Parse(t, resp.Body)
	}()
	select {
	case s, ok := <-got:
		if ok {
			wantStoreless(t, s, 1)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the scrape hung while the database held its tables")
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// A read cut short costs its connection: the next scrapes may wait for
	// new ones (beyond the short timeout on a busy machine).
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := metricstest.Get(t, srv.Client(), srv.URL, "")
		if s.Has("herald_queue_jobs") && s.Has("herald_obligations_overdue") {
			if got := value(t, s, "herald_scrape_errors_total", "source", "queue"); got < 1 {
				t.Errorf("scrape errors of the queue after the lock: %v; the locked scrape's is lost", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the lock: queue %v, overdue %v; want both back", s.Labels("herald_queue_jobs"), s.Labels("herald_obligations_overdue"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
