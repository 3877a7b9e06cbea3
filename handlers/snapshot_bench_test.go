package handlers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/metrics"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
	"github.com/kredete/herald/web"
)

// benchNow is the benchmark's present; the data reaches 91 days back.
var benchNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type benchStack struct {
	builder *handlers.SnapshotBuilder
	public  *handlers.Public
	handler http.Handler // with the request metrics, as cmd/herald wires it
	// unmetered is the same stack without them, to show what counting costs.
	unmetered http.Handler
}

// benchData fills a fresh store the way `herald demo-data` does, through
// the same domain and store calls as live use with a moving clock: the five
// configured components, 90 days of status history with resolved incidents
// along it, three active incidents of twenty updates each, and an upcoming
// maintenance.
func benchData(b *testing.B, dialect string) benchStack {
	b.Helper()
	ctx := context.Background()
	clock := benchNow.Add(-91 * 24 * time.Hour)
	st := storetest.Open(b, dialect, store.Options{Now: func() time.Time { return clock }})
	plan, err := config.LoadPlan("")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		b.Fatal(err)
	}
	comps, err := st.Components(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(comps) != 5 {
		b.Fatalf("%d components, want 5", len(comps))
	}
	for _, c := range comps {
		if err := st.RecordStatusAt(ctx, c.ID, herald.Operational, clock, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	bad := []herald.ComponentStatus{herald.DegradedPerformance, herald.PartialOutage, herald.MajorOutage}
	for day := 88; day > 2; day -= 7 + rng.IntN(5) {
		clock = benchNow.Add(-time.Duration(day)*24*time.Hour + time.Duration(rng.IntN(20))*time.Hour)
		c := comps[rng.IntN(len(comps))]
		in, err := st.Declare(ctx, herald.Declaration{Name: "Elevated error rates on " + c.Name, Impact: herald.ImpactMajor,
			Body:       "We are investigating reports of problems with " + c.Name + ".",
			Components: []herald.ComponentTarget{{ComponentID: c.ID, Status: bad[rng.IntN(3)]}}}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range []herald.Status{herald.Identified, herald.Monitoring, herald.Resolved} {
			clock = clock.Add(time.Duration(10+rng.IntN(50)) * time.Minute)
			if _, err := st.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: s, Body: "Progress: " + string(s) + "."}, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range 3 {
		clock = benchNow.Add(-time.Duration(3-i) * 3 * time.Hour)
		c := comps[i]
		in, err := st.Declare(ctx, herald.Declaration{Name: fmt.Sprintf("Active incident %d", i+1),
			Impact:     []herald.Impact{herald.ImpactMinor, herald.ImpactMajor, herald.ImpactCritical}[i],
			Body:       "We are investigating elevated errors on " + c.Name + ". <b>Markup stays text.</b>",
			Components: []herald.ComponentTarget{{ComponentID: c.ID, Status: bad[i]}}}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for n := 2; n <= 20; n++ {
			clock = clock.Add(time.Duration(3+rng.IntN(5)) * time.Minute)
			s := herald.Investigating
			switch {
			case n > 14:
				s = herald.Monitoring
			case n > 6:
				s = herald.Identified
			}
			body := fmt.Sprintf("Update %d: engineers are working through the failover runbook for %s; next update within 15 minutes.", n, c.Name)
			if _, err := st.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: s, Body: body}, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	clock = benchNow
	from := benchNow.Add(48 * time.Hour)
	if _, err := st.Declare(ctx, herald.Declaration{Kind: herald.KindMaintenance, Name: "Database failover drill",
		Body: "Monthly failover test.", ScheduledFor: from, ScheduledUntil: from.Add(2 * time.Hour),
		Components: []herald.ComponentTarget{{ComponentID: comps[1].ID}}}, "bench"); err != nil {
		b.Fatal(err)
	}

	loc, err := time.LoadLocation(plan.Page.TimeZone)
	if err != nil {
		b.Fatal(err)
	}
	assets, err := web.New()
	if err != nil {
		b.Fatal(err)
	}
	site := components.Site{Name: plan.Page.Name, URL: plan.Page.URL, Location: loc,
		Assets: components.Assets{CSS: assets.Path("css/herald.css"), HTMX: assets.Path("js/htmx.min.js"), SSE: assets.Path("js/sse.min.js")}}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	builder := &handlers.SnapshotBuilder{Source: st, Plan: plan, Site: site, Now: func() time.Time { return benchNow }}
	public := handlers.NewPublic(builder, st, log)
	if err := public.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	deps := handlers.Deps{Log: log, Plan: plan, Location: loc, Public: public, Admin: st, Static: assets}
	unmetered := handlers.New(deps)
	m := metrics.New(metrics.Options{Store: st, Plan: plan, SSEClients: public.Broker().Clients, Log: log})
	deps.Metrics, deps.Requests = m.Handler(), m
	return benchStack{builder: builder, public: public, handler: handlers.New(deps), unmetered: unmetered}
}

// BenchmarkSnapshotBuild measures one rebuild of everything the public side
// serves (reads, uptime, pages, API documents, feeds, gzip), which happens
// after every write.
func BenchmarkSnapshotBuild(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			s := benchData(b, d)
			ctx := context.Background()
			snap, err := s.builder.Build(ctx)
			if err != nil {
				b.Fatal(err)
			}
			e, ok := snap.Entry("/api/v2/incidents/unresolved.json")
			if !ok || len(e.Body) < 20_000 {
				b.Fatalf("the data is not what the benchmark needs: unresolved.json has %d bytes", len(e.Body))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.builder.Build(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler rather than a recorder.
type discardWriter struct {
	h     http.Header
	code  int
	bytes int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(c int)   { d.code = c }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.bytes += len(p)
	return len(p), nil
}

// BenchmarkServeSummary measures the whole handler stack (middleware,
// router, snapshot lookup, the request metrics) serving
// /api/v2/summary.json, as during an outage when every client polls it;
// "identity-unmetered" is the same without the request metrics.
func BenchmarkServeSummary(b *testing.B) {
	s := benchData(b, store.SQLite)
	for _, c := range []struct {
		name, encoding string
		h              http.Handler
	}{{"identity", "", s.handler}, {"gzip", "gzip, deflate, br", s.handler}, {"identity-unmetered", "", s.unmetered}} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/api/v2/summary.json", nil)
			if c.encoding != "" {
				r.Header.Set("Accept-Encoding", c.encoding)
			}
			w := &discardWriter{h: http.Header{}}
			c.h.ServeHTTP(w, r)
			if w.code != http.StatusOK || w.bytes == 0 || (c.encoding != "") != (w.h.Get("Content-Encoding") == "gzip") {
				b.Fatalf("GET summary.json: %d, %d bytes, Content-Encoding %q", w.code, w.bytes, w.h.Get("Content-Encoding"))
			}
			b.SetBytes(int64(w.bytes))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				w.code, w.bytes = 0, 0
				c.h.ServeHTTP(w, r)
			}
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		})
	}
}
