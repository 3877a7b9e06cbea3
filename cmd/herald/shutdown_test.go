package main

// Graceful shutdown (issue 8): a replica told to stop (SIGTERM, what
// Kubernetes sends on a rolling update) finishes the deliveries it has in
// flight, records them, and exits 0. Nothing it had started is cut, sent
// again or left to another replica's rescue. A vendor that does not answer
// within HERALD_SHUTDOWN_TIMEOUT does not hold the stop: those deliveries
// are cancelled and the next process finishes them, once.

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kredete/herald"
)

// TestSIGTERMFinishesDeliveriesInFlight: one replica; Slack, Twilio and the
// mail relay each take one of its messages and hold the answer; SIGTERM
// arrives while all three are held.
//
//   - answered: once the process has begun to shut down the vendors
//     answer; the three deliveries are recorded as sent at their first
//     attempt, with the ids the vendors gave, and the process exits 0.
//   - past the deadline: the vendors never answer; the process exits 0
//     at HERALD_SHUTDOWN_TIMEOUT, and the three deliveries are left
//     unsent for the next process.
//
// Then a second start finishes the work, and every message is at its
// vendor exactly once: Slack's and Twilio's held messages are found there
// and recorded, not sent again. An email cannot be asked: after the
// deadline the held one is sent again with its Message-ID (one allowed
// copy, as when a replica is killed); when answered, no email arrives
// twice.
func TestSIGTERMFinishesDeliveriesInFlight(t *testing.T) {
	bin := buildHerald(t)
	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		sigtermWhileHeld(t, bin, false)
	})
	t.Run("past the deadline", func(t *testing.T) {
		t.Parallel()
		sigtermWhileHeld(t, bin, true)
	})
}

func sigtermWhileHeld(t *testing.T, bin string, pastDeadline bool) {
	c := newCluster(t, bin)
	const deadline = 3 * time.Second
	if pastDeadline {
		c.extraEnv = append(c.extraEnv, "HERALD_SHUTDOWN_TIMEOUT="+deadline.String())
	}
	c.start(0)
	c.waitReady(0)
	inc := c.declare(0)
	c.waitFinal(inc, 0, 20*time.Second) // the declaration's Slack thread, before the hooks

	h := c.holdOneOfEach(inc, 10*time.Second)
	held := h.snapshot()

	p := c.procs[0]
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sigterm := time.Now()
	eventually(t, 10*time.Second, "the replica logging that it shuts down", func() (bool, string) {
		return strings.Contains(p.out.String(), "shutting down"), "not yet"
	})
	if !pastDeadline {
		select {
		case <-p.done:
			t.Fatalf("the replica exited (%v) with three vendor answers outstanding", p.err)
		default:
		}
		h.release()
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the replica still runs 30 s after SIGTERM")
	}
	stopped := time.Since(sigterm)
	h.release()
	if p.err != nil {
		t.Errorf("the replica exited with %v after SIGTERM, want status 0\n%s", p.err, p.out.tail(30))
	}
	if pastDeadline {
		if stopped < deadline {
			t.Errorf("the replica exited %s after SIGTERM with three vendor answers outstanding, before its %s deadline", stopped, deadline)
		}
		if !strings.Contains(p.out.String(), "deliveries still in flight at the deadline are cancelled") {
			t.Errorf("the replica did not say it cancelled deliveries at the deadline:\n%s", p.out.tail(20))
		}
	}

	// The held messages' deliveries: sent at the first attempt when the
	// answers came, not sent when they did not.
	ds, err := c.st.Deliveries(t.Context(), inc, 100000)
	if err != nil {
		t.Fatal(err)
	}
	byProvider := byProviderOf(ds)
	for _, kind := range []string{"slack", "sms", "email"} {
		d, ok := byProvider[held[kind]]
		switch {
		case pastDeadline && ok && d.State == herald.DeliverySent:
			t.Errorf("the %s delivery held past the deadline is recorded sent (attempt %d), though its vendor never answered", kind, d.Attempts)
		case pastDeadline:
		case !ok:
			t.Errorf("no delivery records the %s message (%s) in flight at SIGTERM", kind, held[kind])
		case d.State != herald.DeliverySent || d.Attempts != 1:
			t.Errorf("the %s delivery in flight at SIGTERM is %s after %d attempt(s) (%s), want sent at the first",
				kind, d.State, d.Attempts, d.LastError)
		}
	}
	open := 0
	for _, d := range ds {
		if !d.State.Final() {
			open++
		}
	}
	t.Logf("SIGTERM with 3 vendor answers held (past the deadline: %v); the replica exited %s after the signal; %d of %d deliveries sent, %d left for the next start",
		pastDeadline, stopped.Round(10*time.Millisecond), len(ds)-open, len(ds), open)

	c.start(0)
	c.waitReady(0)
	ds = c.waitFinal(inc, 1+2*(1+2*executives), 90*time.Second)
	c.check(inc, ds)
	copies := map[string]int{}
	for _, m := range c.allMail() {
		copies[m.Header.Get("Message-Id")]++
	}
	for id, n := range copies {
		if n != 1 && (!pastDeadline || id != held["email"] || n > 2) {
			t.Errorf("the email %s arrived %d times, want once", id, n)
		}
	}
	if !pastDeadline && copies[held["email"]] != 1 {
		t.Errorf("the email in flight at SIGTERM (%s) arrived %d times, want once", held["email"], copies[held["email"]])
	}
	for _, kind := range []string{"slack", "sms"} {
		if d, ok := byProviderOf(ds)[held[kind]]; !ok || d.State != herald.DeliverySent {
			t.Errorf("the %s message held at SIGTERM (%s) is not a sent delivery's after the restart", kind, held[kind])
		}
	}
}

func byProviderOf(ds []herald.Delivery) map[string]herald.Delivery {
	out := map[string]herald.Delivery{}
	for _, d := range ds {
		if d.ProviderID != "" {
			out[d.ProviderID] = d
		}
	}
	return out
}
