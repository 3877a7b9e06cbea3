package engine_test

// Benchmarks for issue 4's figures. Timings are reported, never asserted.
//
//	go test -run '^$' -bench 'Throughput' -benchtime 10x ./comms/engine/
//	go test -run '^$' -bench 'Tick' ./comms/engine/
//
// BenchmarkThroughput: one update composed to the public page, engineering
// and the executives (50 email addresses, 50 phones), measured from the
// store write's commit to every delivery of it in a final state, through the
// real adapters and the local vendor servers, with the queue polling as in
// production (cmd/herald: 1s on PostgreSQL, 200ms on SQLite).
//
// BenchmarkTick: one pass of the clocks over 1,000 open incidents flagged
// for regulators (four audiences each) when nothing is due.

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/slack"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// benchWorld is a benchmark's database, vendor fakes and adapters.
type benchWorld struct {
	ctx     context.Context
	dialect string
	plan    herald.Plan
	clock   *clock
	st      *store.Store
	slack   *slacktest.Server
	smtp    *smtptest.Server
	twilio  *twiliotest.Server
	chans   map[herald.Channel]comms.Channel
	boss    herald.User
}

func newBenchWorld(b *testing.B, dialect string, plan herald.Plan, deliveries bool) *benchWorld {
	b.Helper()
	w := &benchWorld{ctx: context.Background(), dialect: dialect, plan: plan, clock: &clock{}}
	w.slack = slacktest.New(b)
	w.slack.AddChannel("incident-response")
	w.slack.AddUser(bossEmail, bossName)
	w.smtp = smtptest.Start(b)
	w.twilio = twiliotest.New(b, accountSID, authToken)
	ec, err := email.ParseURL(w.smtp.URL())
	if err != nil {
		b.Fatal(err)
	}
	mail, err := email.New(ec)
	if err != nil {
		b.Fatal(err)
	}
	text, err := sms.New(sms.Config{AccountSID: accountSID, AuthToken: authToken, From: fromNumber, APIURL: w.twilio.URL})
	if err != nil {
		b.Fatal(err)
	}
	w.chans = map[herald.Channel]comms.Channel{
		herald.ChannelSlack: slack.New(w.slack.Token(), slack.Options{APIURL: w.slack.URL()}),
		herald.ChannelEmail: mail,
		herald.ChannelSMS:   text,
	}
	_, dsn, err := config.SplitDatabaseURL(storetest.URL(b, dialect))
	if err != nil {
		b.Fatal(err)
	}
	w.st, err = store.Open(w.ctx, dialect, dsn, store.Options{Now: w.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.st.Close)
	if err := w.st.Migrate(w.ctx); err != nil {
		b.Fatal(err)
	}
	if err := w.st.SyncComponents(w.ctx, plan.Groups, plan.Components); err != nil {
		b.Fatal(err)
	}
	if deliveries {
		w.st.EnableDeliveries(plan)
	}
	w.boss, err = w.st.CreateUser(w.ctx, herald.NewUser{Email: bossEmail, Name: bossName, Phone: bossPhone,
		Role: herald.RoleCommander, Password: "correct horse battery"}, "x", "bench")
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// finals wraps the engine's store and signals each delivery reaching a
// final state, so the benchmark waits on the condition, not on a poll.
type finals struct {
	engine.Store
	mu   sync.Mutex
	n    int
	want int
	done chan struct{}
}

func (f *finals) FinishAttempt(ctx context.Context, id string, state herald.DeliveryState, providerID, problem string) error {
	err := f.Store.FinishAttempt(ctx, id, state, providerID, problem)
	if err == nil && state.Final() {
		f.mu.Lock()
		f.n++
		if f.done != nil && f.n >= f.want {
			close(f.done)
			f.done = nil
		}
		f.mu.Unlock()
	}
	return err
}

// expect arms the wait for n more final deliveries.
func (f *finals) expect(n int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.want = f.n + n
	ch := make(chan struct{})
	f.done = ch
	if f.n >= f.want {
		close(ch)
		f.done = nil
	}
	return ch
}

// productionPoll is the queue's poll interval cmd/herald uses.
func productionPoll(dialect string) time.Duration {
	if dialect == store.SQLite {
		return 200 * time.Millisecond
	}
	return time.Second
}

func BenchmarkThroughput(b *testing.B) {
	emails, phones := make([]string, 50), make([]string, 50)
	for i := range emails {
		emails[i] = fmt.Sprintf("exec%02d@kredete.example", i)
		phones[i] = fmt.Sprintf("+278200001%02d", i)
	}
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			plan := benchPlan(b)
			setExecutives(emails, phones)(&plan)
			w := newBenchWorld(b, dialect, plan, true)
			f := &finals{Store: w.st}
			eng := engine.New(engine.Options{Plan: plan, Store: f, Channels: w.chans, Logger: slog.New(slog.DiscardHandler)})
			q, err := w.st.StartQueue(w.ctx, eng.Deliver, store.QueueOptions{PollInterval: productionPoll(dialect)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { stopQueueTB(b, q) })
			wait := func(ch <-chan struct{}, what string) {
				select {
				case <-ch:
				case <-time.After(2 * time.Minute):
					b.Fatalf("timed out waiting for %s", what)
				}
			}

			var total time.Duration
			deliveries := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A fresh incident per update (its thread parent and first
				// reply settled outside the measurement), so one incident's
				// growing delivery log does not slow the later iterations.
				b.StopTimer()
				done := f.expect(2)
				in, err := w.st.DeclareIncident(w.ctx, herald.Declaration{Name: fmt.Sprintf("Payments failing %d", i),
					Impact: herald.ImpactMajor, Body: "We are investigating failed payments."}, w.boss.ID,
					[]string{"public", "engineering"}, bossName)
				if err != nil {
					b.Fatal(err)
				}
				wait(done, "the declaration's deliveries")
				b.StartTimer()

				// public update: a thread reply and a parent edit;
				// engineering: a reply; executives: 50 emails, 50 texts.
				const per = 3 + 50 + 50
				done = f.expect(per)
				if _, err := w.st.Compose(w.ctx, in.ID, 0, herald.Composition{Status: herald.Identified,
					Main:      "Card payments fail for 30% of customers; the cause is a bad deploy. Next update 10:30.",
					Audiences: []string{"public", "engineering", "executives"}}, plan, bossName); err != nil {
					b.Fatal(err)
				}
				committed := time.Now()
				wait(done, "the update's deliveries")
				total += time.Since(committed)
				deliveries += per
			}
			b.StopTimer()
			b.ReportMetric(float64(deliveries)/total.Seconds(), "deliveries/s")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/update")
			b.ReportMetric(0, "ns/op")

			// Outside the measurement: every delivery was sent, to the fakes.
			if got := len(w.smtp.Messages()); got != 50*b.N {
				b.Errorf("%d emails at the fake, want %d", got, 50*b.N)
			}
			if got := len(w.twilio.Messages()); got != 50*b.N {
				b.Errorf("%d texts at the fake, want %d", got, 50*b.N)
			}
		})
	}
}

func stopQueueTB(tb testing.TB, q *store.Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := q.Stop(ctx); err != nil {
		tb.Errorf("stop queue: %v", err)
	}
}

// benchPlan is the default plan with one executive recipient of each kind.
func benchPlan(b *testing.B) herald.Plan {
	b.Helper()
	p, err := config.LoadPlan("")
	if err != nil {
		b.Fatal(err)
	}
	setExecutives([]string{"ceo@kredete.example"}, []string{"+27820000001"})(&p)
	return p
}

// seedOpen declares n open major incidents flagged for regulators, each
// with a second update to every audience, all at t0 (deliveries off).
func seedOpen(b *testing.B, w *benchWorld, n int, t0 time.Time) {
	b.Helper()
	w.clock.Set(t0)
	comps, err := w.st.Components(w.ctx)
	if err != nil {
		b.Fatal(err)
	}
	api := comps[0].ID
	for i := range n {
		in, err := w.st.DeclareIncident(w.ctx, herald.Declaration{Name: fmt.Sprintf("Incident %d", i), Impact: herald.ImpactMajor,
			Body: "We are investigating failed payments on the card rails; more in 15 minutes.", NotifyRegulators: true,
			Components: []herald.ComponentTarget{{ComponentID: api, Status: herald.PartialOutage}}},
			w.boss.ID, []string{"public", "engineering"}, bossName)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.st.Compose(w.ctx, in.ID, 0, herald.Composition{Status: herald.Identified,
			Main:      "We identified a bad deploy as the cause and are rolling it back.",
			Audiences: []string{"public", "engineering", "executives"}}, w.plan, bossName); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTick measures one pass of the clocks over 1,000 open incidents:
// "idle" when nothing is due (the cost of every wake); "overdue" a day after
// the declarations, every clock long overdue and its current step already
// sent by an earlier pass (what every wake costs once incidents are late).
func BenchmarkTick(b *testing.B) {
	const n = 1000
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			w := newBenchWorld(b, dialect, benchPlan(b), false)
			seedOpen(b, w, n, t0)
			eng := engine.New(engine.Options{Plan: w.plan, Store: w.st, Channels: w.chans, Now: w.clock.Now,
				Logger: slog.New(slog.DiscardHandler)})
			b.Run("idle", func(b *testing.B) {
				w.clock.Set(t0.Add(time.Minute))
				b.ReportAllocs()
				for b.Loop() {
					next, err := eng.Tick(w.ctx)
					if err != nil {
						b.Fatal(err)
					}
					if want := t0.Add(10 * time.Minute); !next.Equal(want) {
						b.Fatalf("next step at %s, want %s", next, want)
					}
				}
			})
			b.Run("overdue", func(b *testing.B) {
				w.clock.Set(t0.Add(24 * time.Hour))
				if _, err := eng.Tick(w.ctx); err != nil { // sends the current steps
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := eng.Tick(w.ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
