package store_test

import (
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store/storetest"
)

// TestQueueDepth: an empty queue lists both queues in every state at zero;
// a declaration's deliveries and its subscriber fan-out are counted in
// their queues as available, one job each.
func TestQueueDepth(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, clk, comps := openFanout(t, d)
			depth := func() map[string]int {
				t.Helper()
				list, err := s.QueueDepth(ctx)
				if err != nil {
					t.Fatal(err)
				}
				m := map[string]int{}
				for _, q := range list {
					m[q.Queue+"/"+q.State] = q.Jobs
				}
				if len(m) != len(list) {
					t.Fatalf("QueueDepth lists a queue and state twice: %+v", list)
				}
				return m
			}
			zero := map[string]int{}
			for _, q := range []string{"deliveries", "subscribers"} {
				for _, st := range []string{"available", "scheduled", "running", "retryable"} {
					zero[q+"/"+st] = 0
				}
			}
			if diff := cmp.Diff(zero, depth()); diff != "" {
				t.Fatalf("an empty queue (-want +got):\n%s", diff)
			}

			sub := subscribe(t, s, clk, "reader@example.com", true)
			confirm(t, s, sub.Token)
			before := depth()
			in, err := s.Declare(ctx, herald.Declaration{Name: "API errors", Impact: herald.ImpactMajor, Body: "Looking.",
				Components: []herald.ComponentTarget{{ComponentID: comps["api-platform"].ID, Status: herald.MajorOutage}}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			ds, err := s.Deliveries(ctx, in.ID, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 {
				t.Fatal("the declaration queued no deliveries; the test needs some")
			}
			want := maps.Clone(before)
			want["deliveries/available"] += len(ds)
			want["subscribers/available"]++ // the fan-out job, which writes the subscriber's delivery when it runs
			if diff := cmp.Diff(want, depth()); diff != "" {
				t.Errorf("after a declaration with %d deliveries (-want +got):\n%s", len(ds), diff)
			}
		})
	}
}
