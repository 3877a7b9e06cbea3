package handlers_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// BenchmarkPagerDutyWebhook measures what PagerDuty waits for: a signed
// webhook verified, stored once and queued (its processing runs later, in
// the queue). PagerDuty allows 5 s.
func BenchmarkPagerDutyWebhook(b *testing.B) {
	for _, d := range []string{"sqlite", "postgres"} {
		b.Run(d, func(b *testing.B) {
			ctx := b.Context()
			st := storetest.Open(b, d, store.Options{})
			plan, err := config.LoadPlan("")
			if err != nil {
				b.Fatal(err)
			}
			if err := st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
				b.Fatal(err)
			}
			st.EnableDeliveries(plan)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			public := handlers.NewPublic(&handlers.SnapshotBuilder{Source: st, Plan: plan, Now: time.Now}, st, log)
			srv := httptest.NewServer(handlers.New(handlers.Deps{Log: log, Plan: plan, Location: time.UTC, Public: public, Admin: st,
				PagerDutyWebhook: func(r *http.Request) (herald.PagerDutyEvent, error) {
					return pagerduty.ReadWebhook(r, []string{pdSecret})
				}, PagerDutyEvents: st}))
			b.Cleanup(srv.Close)
			url := srv.URL + "/webhooks/pagerduty"
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				req := pdtest.NewWebhookRequest(url, triggerBody(fmt.Sprintf("BENCH-%d-%d", time.Now().UnixNano(), i),
					fmt.Sprintf("QB%d", i), "PAPIGW1"), pdSecret)
				start := time.Now()
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
				lat = append(lat, time.Since(start))
				if res.StatusCode != http.StatusAccepted {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
