package engine_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
)

// BenchmarkFanout tells one public update to N confirmed email
// subscribers (HERALD_BENCH_SUBSCRIBERS, default 5,000) through the real
// engine, queue and SMTP adapter against the in-process mail server, with
// no rate cap, and reports the time from the update's commit until every
// delivery is recorded sent, the messages per second, and the Go heap's
// peak during the fan-out (sampled every 50 ms).
//
//	HERALD_BENCH_SUBSCRIBERS=100000 go test -run '^$' -bench Fanout -benchtime 1x -timeout 2h ./comms/engine/
func BenchmarkFanout(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("HERALD_BENCH_SUBSCRIBERS")); err == nil && v > 0 {
		n = v
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(fmt.Sprintf("%s/%d", dialect, n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				e := newEnv(b, dialect, envOptions{})
				e.st.EnableFanout(true)
				began := time.Now()
				rows := make([]herald.CSVSubscriber, n)
				for i := range rows {
					rows[i] = herald.CSVSubscriber{Channel: "email", Address: fmt.Sprintf("client%06d@clients.example", i)}
				}
				if res, err := e.st.ImportSubscribers(e.ctx, rows, "bench"); err != nil || res.Imported != n {
					b.Fatalf("import: %+v, %v", res, err)
				}
				b.Logf("%s: %d subscribers seeded in %s", dialect, n, time.Since(began).Round(time.Millisecond))
				q, err := e.st.StartQueue(e.ctx, e.engine(e.st, nil).Deliver, store.QueueOptions{PollInterval: 50 * time.Millisecond,
					SubscriberWorkers: 25})
				if err != nil {
					b.Fatal(err)
				}
				var peak atomic.Uint64
				stop := make(chan struct{})
				go func() {
					var ms runtime.MemStats
					t := time.NewTicker(50 * time.Millisecond)
					defer t.Stop()
					for {
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > peak.Load() {
							peak.Store(ms.HeapInuse)
						}
						select {
						case <-stop:
							return
						case <-t.C:
						}
					}
				}()
				b.StartTimer()
				start := time.Now()
				in := e.declare("Partner API errors")
				for {
					counts, err := e.st.SubscriberDeliveryCounts(e.ctx, in.ID)
					if err != nil {
						b.Fatal(err)
					}
					if counts[herald.ChannelEmail][herald.DeliverySent] == n {
						break
					}
					if time.Since(start) > 2*time.Hour {
						b.Fatalf("not done after 2 h: %v", counts)
					}
					time.Sleep(100 * time.Millisecond) // polling the benchmark's own progress, not a test's wait
				}
				took := time.Since(start)
				b.StopTimer()
				close(stop)
				stopQueue(b, q)
				if got := len(e.smtp.Messages()); got < n {
					b.Fatalf("the mail server has %d messages; want at least %d", got, n)
				}
				b.ReportMetric(took.Seconds(), "s-to-all")
				b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
				b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
			}
		})
	}
}
