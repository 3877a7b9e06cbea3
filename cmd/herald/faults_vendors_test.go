package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email/smtptest"
)

// slackRetryAfter is the Retry-After the failing Slack sends with its 429s.
const slackRetryAfter = 10 * time.Second

// The updates of the vendor outages: one before, two during, one after.
const (
	faultUpdate1 = "Card payments fail for 30 percent of customers. Next update 10.30."
	faultUpdate2 = "The cause is a bad deploy and it is being rolled back. Next update 11.00."
	faultUpdate3 = "The rollback is half done and errors are falling. Next update 11.30."
	faultUpdate4 = "Payments are recovering as the rollback completes. Next update 12.00."
)

// slackFailing: two replicas, and Slack answering every call 429 (with
// Retry-After) or 500, in turn, for the outage, from just after the first
// update. The executives and the subscribers get the updates posted during
// it, and the public page shows them, while Slack still fails; once Slack
// is back every Slack message of the incident arrives once, in the order
// written.
func slackFailing(t *testing.T, bin string, outage time.Duration) {
	r := newFaultRun(t, bin, "")
	r.start(2)
	r.declare()
	r.post(0, faultUpdate1)

	pages := r.watchPages()
	r.c.slack.SetFailing(slackRetryAfter, http.StatusTooManyRequests, http.StatusInternalServerError)
	began := time.Now()
	r.post(0, faultUpdate2)
	r.post(1, faultUpdate3)
	// Nothing else waits for Slack.
	within := max(outage, time.Minute) // generous, for a loaded machine; the outage holds until they are done
	r.waitSent(faultUpdate2, within, herald.ChannelEmail, herald.ChannelSMS)
	r.waitSent(faultUpdate3, within, herald.ChannelEmail, herald.ChannelSMS)
	r.waitPublic(faultUpdate3, within)
	waitSubscribersFinal(t, r.c, r.inc, (1+len(r.updates))*faultMailSubs+faultTextSubs, within)
	t.Logf("while Slack failed, the executives and %d subscribers had the two updates and the page showed them, %s into the outage",
		faultMailSubs, time.Since(began).Round(100*time.Millisecond))
	holdOutage(t, began, outage)

	// The fault held: Slack answered with both failures, and the replies
	// to the updates posted during it are still on their way.
	statuses := map[int]int{}
	for _, c := range r.c.slack.Calls() {
		statuses[c.Status]++
	}
	if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusInternalServerError] == 0 {
		t.Errorf("Slack's answers during the outage: %v; want 429s and 500s", statuses)
	}
	for _, d := range r.planDeliveries() {
		if d.Channel == herald.ChannelSlack && d.State == herald.DeliverySent &&
			(strings.Contains(d.Body, faultUpdate2) || strings.Contains(d.Body, faultUpdate3)) {
			t.Errorf("a Slack delivery was sent while Slack failed every call: %s %s", d.Kind, d.ID)
		}
	}

	r.c.slack.SetFailing(0)
	recovered := time.Now()
	r.post(0, faultUpdate4)
	plan, subs := r.waitAll(3 * time.Minute)
	drain := time.Since(recovered)
	pages.check(t)
	res := r.check(plan, subs)
	if res.maxAttempts[herald.ChannelSlack] < 3 {
		t.Errorf("no Slack delivery took more than %d attempts: the outage did not outlast the first retries", res.maxAttempts[herald.ChannelSlack])
	}
	t.Logf("Slack answered %v during the test", statuses)
	r.report("Slack 429 and 500", outage, drain, res)
}

// smtpDown: two replicas, and every mail server (one per replica) down for
// the outage from just after the first update: refusing connections (its
// listener closed), or, with answering, accepting them and answering every
// MAIL FROM 421 (closing the connection) for the first half and 451 for the
// second. Slack, the texts and the public page carry on meanwhile; once the
// relay is back every email arrives once.
func smtpDown(t *testing.T, bin string, outage time.Duration, answering bool) {
	r := newFaultRun(t, bin, "")
	r.start(2)
	r.declare()
	r.post(0, faultUpdate1)

	fault := "SMTP refusing connections"
	set := func(code int, msg string) {
		for _, s := range r.c.smtp {
			if answering {
				s.SetRejectMail(code, msg)
			} else {
				s.SetDown(code != 0)
			}
		}
	}
	if answering {
		fault = "SMTP answering 421, then 451"
	}
	pages := r.watchPages()
	// The connections the cut can catch: those open now and any opened
	// before the relays are down.
	open := 0
	for _, s := range r.c.smtp {
		st := s.ConnStats()
		open += st.Open - st.Opened
	}
	set(421, "4.3.2 Service shutting down")
	began := time.Now()
	if !answering {
		// Every session the relays cut has ended: what they accepted is
		// in their records.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		for _, s := range r.c.smtp {
			if _, err := s.WaitForConns(ctx, func(c smtptest.ConnStats) bool { return c.Open == 0 }); err != nil {
				t.Fatalf("the relay's sessions did not end after it went down: %v", err)
			}
		}
		cancel()
		for _, s := range r.c.smtp {
			open += s.ConnStats().Opened
		}
		r.cut = &mailCut{before: mailsByAddress(t, r.c), conns: open}
	}
	r.post(0, faultUpdate2)
	r.post(1, faultUpdate3)
	within := max(outage, time.Minute)
	r.waitSent(faultUpdate2, within, herald.ChannelSlack, herald.ChannelSMS)
	r.waitSent(faultUpdate3, within, herald.ChannelSlack, herald.ChannelSMS)
	r.waitPublic(faultUpdate3, within)
	t.Logf("while the mail relay was down, Slack and the executives' texts had the two updates and the page showed them, %s into the outage",
		time.Since(began).Round(100*time.Millisecond))
	if answering {
		holdOutage(t, began, outage/2)
		set(451, "4.3.0 Temporary local problem, try again later")
	}
	holdOutage(t, began, outage)

	mail := len(r.c.allMail())
	for _, d := range r.planDeliveries() {
		if d.Channel == herald.ChannelEmail && d.State == herald.DeliverySent &&
			(strings.Contains(d.Body, faultUpdate2) || strings.Contains(d.Body, faultUpdate3)) {
			t.Errorf("an email was sent while the relay was down: %s to %s", d.ID, d.Recipient)
		}
	}
	subs := subscriberDeliveries(t, r.c, r.inc)
	waiting := slices.IndexFunc(subs, func(d herald.Delivery) bool { return !d.State.Final() }) >= 0
	if !waiting {
		t.Error("no subscriber email was waiting when the relay came back: the outage caught none")
	}

	set(0, "")
	recovered := time.Now()
	r.post(0, faultUpdate4)
	plan, subs := r.waitAll(3 * time.Minute)
	drain := time.Since(recovered)
	pages.check(t)
	res := r.check(plan, subs)
	if res.maxAttempts[herald.ChannelEmail] < 3 {
		t.Errorf("no email delivery took more than %d attempts: the outage did not outlast the first retries", res.maxAttempts[herald.ChannelEmail])
	}
	t.Logf("%d emails had arrived when the relay came back, %d in the end", mail, len(r.c.allMail()))
	r.report(fault, outage, drain, res)
}

// holdOutage keeps the fault on until outage has passed since it began:
// the length of the fault is the scenario, not a wait for something.
func holdOutage(t *testing.T, began time.Time, outage time.Duration) {
	t.Helper()
	if d := time.Until(began.Add(outage)); d > 0 {
		t.Logf("holding the outage %s more (%s in all)", d.Round(100*time.Millisecond), outage)
		time.Sleep(d)
	} else {
		t.Logf("the outage lasted %s, past its %s: the other channels took that long", time.Since(began).Round(100*time.Millisecond), outage)
	}
}
