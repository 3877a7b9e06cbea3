package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
)

// postgresRestarted: three replicas on a PostgreSQL server of the test's
// own, restarted with pg_ctl's mode ("fast": a clean shutdown; "immediate":
// every server process killed, a crash, recovery on start) while the first
// update fans out to the executives, Slack and the subscribers. The
// replicas poll for changes only once an hour, so what one writes reaches
// the others' public pages through LISTEN/NOTIFY alone: after the restart
// an update posted on one replica must show on the others'. Every message
// arrives once, and the public pages answer throughout.
func postgresRestarted(t *testing.T, bin, mode string) {
	pg := startPostgres(t)
	// Subscriber mail at 20 a second per replica and slow vendors: the
	// first update's fan-out takes seconds, and the restart lands in it.
	r := newFaultRun(t, bin, pg.url, "HERALD_POLL_INTERVAL=1h", "HERALD_SUBSCRIBER_EMAIL_RATE=20")
	r.c.twilio.SetLatency(100 * time.Millisecond)
	for _, s := range r.c.smtp {
		s.SetLatency(100 * time.Millisecond)
	}
	r.start(replicas)
	r.declare()
	r.post(0, faultUpdate1)

	// Mid-fan-out: a quarter of the subscriber messages so far out, not all.
	ctx := context.Background()
	total := 2*faultMailSubs + faultTextSubs
	var sent int
	eventually(t, 2*time.Minute, "the first update's fan-out under way", func() (bool, string) {
		counts, err := r.c.st.SubscriberDeliveryCounts(ctx, r.inc)
		if err != nil {
			return false, err.Error()
		}
		sent = 0
		for _, byState := range counts {
			sent += byState[herald.DeliverySent]
		}
		return sent >= total/4, fmt.Sprintf("%d of %d subscriber messages sent", sent, total)
	})
	pages := r.watchPages()
	execAtRestart := len(r.c.allMail()) + len(r.c.twilio.Messages())
	away := pg.restart(mode)
	recovered := time.Now()
	if sent >= total {
		t.Fatalf("the fan-out was over (%d subscriber messages) when PostgreSQL was restarted", sent)
	}
	t.Logf("PostgreSQL restarted (-m %s) with %d of %d subscriber messages sent and %d emails and texts at the vendors; "+
		"away for %s", mode, sent, total, execAtRestart, away.Round(10*time.Millisecond))

	// The commander goes on, from another replica each time; the others'
	// pages show it (LISTEN/NOTIFY resumed: the poll is an hour).
	r.post(1, faultUpdate2)
	r.waitPublic(faultUpdate2, 30*time.Second)
	r.post(2, faultUpdate3)
	r.waitPublic(faultUpdate3, 30*time.Second)

	plan, subs := r.waitAll(3 * time.Minute)
	drain := time.Since(recovered)
	requests := pages.check(t)
	res := r.check(plan, subs)
	// Every replica lost its LISTEN connection and listened again. What
	// the restart cost the replicas, from their logs: writes of a sent
	// message tried again, and errors.
	rewrites, errs := 0, map[string]int{}
	for i := range r.running {
		out := r.c.procs[i].out.String()
		if !strings.Contains(out, "listening for changes again") {
			t.Errorf("replica %d never said it listens for changes again after the restart", i)
		}
		rewrites += strings.Count(out, "could not record a delivery the vendor accepted")
		for line := range strings.Lines(out) {
			if strings.Contains(line, "level=ERROR") {
				errs[logMessage(line)]++
			}
		}
	}
	t.Logf("the replicas wrote down a sent message again %d times while PostgreSQL was away, and logged these errors: %v", rewrites, errs)
	t.Logf("%d public page requests, none failed", requests)
	r.report("PostgreSQL restart -m "+mode, away, drain, res)
}

// logMessage is the msg of a text log line, quoted or not.
func logMessage(line string) string {
	_, m, ok := strings.Cut(line, " msg=")
	if !ok {
		return strings.TrimSpace(line)
	}
	if strings.HasPrefix(m, `"`) {
		if s, err := strconv.QuotedPrefix(m); err == nil {
			u, _ := strconv.Unquote(s)
			return u
		}
	}
	m, _, _ = strings.Cut(m, " ")
	return m
}
