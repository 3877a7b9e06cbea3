package engine_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

// Two engines, each with its own workers on its own handle to the same
// database (two replicas), share a fan-out of 50 emails: every address
// receives its email exactly once.
func TestFanoutDeliveredExactlyOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		emails := make([]string, 50)
		for i := range emails {
			emails[i] = fmt.Sprintf("exec%02d@kredete.example", i)
		}
		e := newEnv(t, dialect, envOptions{plan: setExecutives(emails, nil)})
		st2 := e.openStore()
		counts := []*countingChannel{{Channel: e.chans[herald.ChannelEmail]}, {Channel: e.chans[herald.ChannelEmail]}}
		with := func(c *countingChannel) map[herald.Channel]comms.Channel {
			m := maps.Clone(e.chans)
			m[herald.ChannelEmail] = c
			return m
		}
		q1 := e.start(e.st, e.engine(e.st, with(counts[0])))
		q2 := e.start(st2, e.engine(st2, with(counts[1])))

		in := e.declare("Payments failing")
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		ds := e.settle(in.ID, 52)
		// Stopping waits for the work in flight: nothing can arrive later.
		stopQueue(t, q1)
		stopQueue(t, q2)

		mails := filter(ds, func(d herald.Delivery) bool { return d.Channel == herald.ChannelEmail })
		if len(mails) != 50 {
			t.Fatalf("%d email deliveries, want 50", len(mails))
		}
		ids := map[string]string{}
		for _, d := range mails {
			if d.State != herald.DeliverySent || d.Attempts != 1 {
				t.Errorf("email delivery: %s", describe([]herald.Delivery{d}))
			}
			ids[d.Recipient] = d.ProviderID
		}
		got := map[string]int{}
		for _, m := range e.smtp.Messages() {
			if len(m.To) != 1 {
				t.Errorf("an email to %q", m.To)
				continue
			}
			got[m.To[0]]++
			if id := m.Header.Get("Message-Id"); id != ids[m.To[0]] {
				t.Errorf("email to %s has Message-ID %s, its delivery %s", m.To[0], id, ids[m.To[0]])
			}
		}
		for _, addr := range emails {
			if got[addr] != 1 {
				t.Errorf("%s received %d emails, want 1", addr, got[addr])
			}
		}
		if len(got) != len(emails) {
			t.Errorf("emails went to %d addresses, want %d", len(got), len(emails))
		}
		if n := counts[0].count() + counts[1].count(); n != 50 {
			t.Errorf("the engines handed %d emails to SMTP, want 50", n)
		}
		t.Logf("%s: engine 1 sent %d emails, engine 2 sent %d", dialect, counts[0].count(), counts[1].count())
	})
}
