package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store/storetest"
)

// TestFanoutPages: a fan-out written with an update pages through the
// confirmed subscribers it concerns; two workers racing on it (a rescued
// job beside the original) write each subscriber's delivery once, and the
// cursor ends past the last; the resolution is a second fan-out.
func TestFanoutPages(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, clk := open(t, d)
			comps := seed(t, s)
			plan, err := config.LoadPlan("")
			if err != nil {
				t.Fatal(err)
			}
			s.EnableDeliveries(plan)
			s.EnableFanout(true)
			const n = 57
			for i := range n {
				res := subscribe(t, s, clk, fmt.Sprintf("s%03d@example.com", i), true)
				confirm(t, s, res.Token)
			}
			other := subscribe(t, s, clk, "portal@example.com", false, comps["customer-portal"].ID)
			confirm(t, s, other.Token)

			in, err := s.Declare(ctx, herald.Declaration{Name: "API errors", Impact: herald.ImpactMinor, Body: "Looking.",
				Components: []herald.ComponentTarget{{ComponentID: comps["api-platform"].ID, Status: herald.DegradedPerformance}}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			fos, err := s.Fanouts(ctx, in.ID)
			if err != nil || len(fos) != 1 || fos[0].Channel != herald.SubscriberEmail || fos[0].Done {
				t.Fatalf("fan-outs after the declaration: %+v, %v", fos, err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for range 2 {
				wg.Go(func() {
					for {
						done, err := s.FanoutPage(ctx, fos[0].ID, 10)
						if err != nil || done {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			f, err := s.FanoutState(ctx, fos[0].ID)
			if err != nil || !f.Done || f.Queued != n {
				t.Errorf("fan-out after two workers: %+v, %v; want done with %d queued", f, err, n)
			}
			counts, err := s.SubscriberDeliveryCounts(ctx, in.ID)
			if err != nil || counts[herald.ChannelEmail][herald.DeliveryQueued] != n {
				t.Errorf("subscriber deliveries %v, %v; want %d queued", counts, err, n)
			}
			// Done is done: another page writes nothing.
			if done, err := s.FanoutPage(ctx, fos[0].ID, 10); !done || err != nil {
				t.Errorf("a page after done: %v %v", done, err)
			}
			if _, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Fixed."}, "test"); err != nil {
				t.Fatal(err)
			}
			fos, _ = s.Fanouts(ctx, in.ID)
			events := map[herald.SubscriberEvent]bool{}
			for _, f := range fos {
				events[f.Event] = true
			}
			if len(fos) != 2 || !events[herald.EventIncidentCreated] || !events[herald.EventIncidentResolved] {
				t.Errorf("fan-outs after the resolution: %+v", fos)
			}
		})
	}
}
