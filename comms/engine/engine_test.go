package engine_test

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/sms/twiliotest"
)

// Declaring posts the thread parent; every later event is a reply in that
// thread, in the order it happened, and an edit of the parent.
func TestSlackThread(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		e.start(e.st, e.engine(e.st, nil))

		in := e.declare("Payments failing")
		api := e.component("api-platform")
		if _, err := e.st.SetIncidentComponent(e.ctx, in.ID, 0, api.ID, herald.MajorOutage, "Ada Obi"); err != nil {
			t.Fatal(err)
		}
		e.compose(in.ID, herald.Composition{Status: herald.Identified, Main: "Cause identified: a bad deploy.",
			Audiences: []string{"public", "engineering"}})

		ds := e.settle(in.ID, 7)
		for _, d := range ds {
			if d.State != herald.DeliverySent || d.Channel != herald.ChannelSlack || d.ProviderID == "" {
				t.Errorf("delivery not sent to Slack: %s", describe([]herald.Delivery{d}))
			}
		}
		threads := filter(ds, ofKind(herald.KindThread))
		if len(threads) != 1 {
			t.Fatalf("%d thread parents queued, want 1: %s", len(threads), describe(ds))
		}

		msgs := e.slack.Messages(e.slackCh)
		var parents, replies []slacktestMessage
		for _, m := range msgs {
			if m.ThreadTS == "" {
				parents = append(parents, slacktestMessage{m.TS, m.ThreadTS, m.Text, m.Edits})
			} else {
				replies = append(replies, slacktestMessage{m.TS, m.ThreadTS, m.Text, m.Edits})
			}
		}
		if len(parents) != 1 {
			t.Fatalf("%d top-level messages in the channel, want 1: %+v", len(parents), msgs)
		}
		parent := parents[0]
		if parent.ts != threads[0].ProviderID {
			t.Errorf("parent ts %s, delivery provider id %s", parent.ts, threads[0].ProviderID)
		}
		want := []string{
			"We are investigating failed payments.",                   // engineering told at declaration
			"API Platform: Operational → Major outage (Ada Obi)",      // the component change
			"Public update (Identified): Cause identified: a bad dep", // the public update
			"Cause identified: a bad deploy.",                         // engineering told in the composer
		}
		if len(replies) != len(want) {
			t.Fatalf("%d replies, want %d: %+v", len(replies), len(want), replies)
		}
		for i, r := range replies {
			if r.thread != parent.ts {
				t.Errorf("reply %d in thread %q, want the parent %q", i, r.thread, parent.ts)
			}
			if !strings.Contains(r.text, want[i]) {
				t.Errorf("reply %d = %q, want it to say %q", i, r.text, want[i])
			}
		}

		edits := e.slack.CallsTo("chat.update")
		if n := len(filter(ds, ofKind(herald.KindEdit))); len(edits) != n || n != 2 {
			t.Errorf("%d chat.update calls for %d edit deliveries, want 2", len(edits), n)
		}
		for _, c := range edits {
			if !c.OK() || c.TS != parent.ts || c.Channel != e.slackCh {
				t.Errorf("chat.update %+v, want an edit of %s in %s", c, parent.ts, e.slackCh)
			}
		}
		if parent.edits != 2 {
			t.Errorf("the parent was edited %d times, want 2", parent.edits)
		}
		final, _ := e.slack.Message(e.slackCh, parent.ts)
		for _, s := range []string{"Identified", "API Platform", "Major outage", bossName} {
			if !strings.Contains(final.Blocks, s) {
				t.Errorf("the edited parent does not show %q: %s", s, final.Blocks)
			}
		}
	})
}

type slacktestMessage struct {
	ts, thread, text string
	edits            int
}

// A message to the executives goes as one email per address and one text per
// phone; the rows end sent with the vendors' ids.
func TestComposeToExecutives(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		e.start(e.st, e.engine(e.st, nil))

		in := e.declare("Payments failing")
		e.compose(in.ID, herald.Composition{Main: "Card payments fail for 30% of customers. Next update 10:30.",
			Audiences: []string{"executives"}})

		ds := e.settle(in.ID, 6)
		execs := filter(ds, func(d herald.Delivery) bool { return d.Audience == "executives" })
		if len(execs) != 4 {
			t.Fatalf("%d deliveries to the executives, want 4: %s", len(execs), describe(ds))
		}
		byRecipient := map[string]herald.Delivery{}
		for _, d := range execs {
			if d.State != herald.DeliverySent || d.ProviderID == "" || d.Attempts != 1 || d.SentAt == nil ||
				d.Kind != herald.KindMessage || d.CommunicationID == "" {
				t.Errorf("delivery not sent once: %s", describe([]herald.Delivery{d}))
			}
			byRecipient[d.Recipient] = d
		}

		mails := e.smtp.Messages()
		if len(mails) != 2 {
			t.Fatalf("%d emails, want 2", len(mails))
		}
		for _, addr := range []string{"ceo@kredete.example", "cfo@kredete.example"} {
			var got []string
			for _, m := range mails {
				if slices.Equal(m.To, []string{addr}) {
					got = append(got, m.Header.Get("Message-Id"))
					if !strings.Contains(m.Subject, "Payments failing") {
						t.Errorf("email to %s: subject %q", addr, m.Subject)
					}
					if !strings.Contains(string(m.Data), "Card payments fail for 30% of customers.") {
						t.Errorf("email to %s lacks the text:\n%s", addr, m.Data)
					}
				}
			}
			d, ok := byRecipient[addr]
			if len(got) != 1 || !ok || got[0] != d.ProviderID {
				t.Errorf("emails to %s have Message-IDs %q; the delivery says %q", addr, got, d.ProviderID)
			}
		}

		texts := e.twilio.Messages()
		if len(texts) != 2 {
			t.Fatalf("%d texts, want 2", len(texts))
		}
		for _, phone := range []string{"+27820000001", "+27820000002"} {
			d := byRecipient[phone]
			m, ok := e.twilio.Message(d.ProviderID)
			if !ok || m.To != phone || m.From != fromNumber || !strings.Contains(m.Body, "Card payments fail") {
				t.Errorf("text to %s: delivery %s, Twilio has %+v", phone, d.ProviderID, m)
			}
		}
	})
}

// Slack's 429 is honoured: the post waits for Retry-After, then succeeds.
func TestSlackRateLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		timed := &timedChannel{Channel: e.chans[herald.ChannelSlack]}
		chans := maps.Clone(e.chans)
		chans[herald.ChannelSlack] = timed
		e.start(e.st, e.engine(e.st, chans))

		e.slack.FailNext(1, http.StatusTooManyRequests, time.Second)
		in := e.declare("Payments failing")
		ds := e.settle(in.ID, 2)

		parent := filter(ds, ofKind(herald.KindThread))[0]
		if parent.State != herald.DeliverySent || parent.Attempts != 2 || parent.LastError != "" {
			t.Errorf("thread parent: %s", describe([]herald.Delivery{parent}))
		}
		at := timed.times(parent.ID)
		if len(at) != 2 {
			t.Fatalf("the parent was tried %d times, want 2", len(at))
		}
		if wait := at[1].Sub(at[0]); wait < time.Second {
			t.Errorf("retried %s after a 429 with Retry-After: 1", wait)
		}
		posts := e.slack.CallsTo("chat.postMessage")
		if len(posts) < 2 || posts[0].Status != http.StatusTooManyRequests || !posts[1].OK() {
			t.Errorf("postMessage calls: %+v", posts)
		}
		if msgs := e.slack.Messages(e.slackCh); len(msgs) != 2 || msgs[0].TS != parent.ProviderID || msgs[1].ThreadTS != parent.ProviderID {
			t.Errorf("channel holds %+v, want the parent %s and its reply", msgs, parent.ProviderID)
		}
		for _, d := range ds {
			if d.State != herald.DeliverySent {
				t.Errorf("not sent: %s", describe([]herald.Delivery{d}))
			}
		}
	})
}

// Twilio's 5xx is retried with backoff; the attempts are recorded.
func TestTwilioServerErrorsRetried(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{plan: setExecutives(nil, []string{"+27820000001"})})
		e.start(e.st, e.engine(e.st, nil))

		in := e.declare("Payments failing")
		e.twilio.FailNext(2, http.StatusInternalServerError, 0)
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})

		ds := e.settle(in.ID, 3)
		texts := filter(ds, func(d herald.Delivery) bool { return d.Channel == herald.ChannelSMS })
		if len(texts) != 1 {
			t.Fatalf("%d SMS deliveries, want 1: %s", len(texts), describe(ds))
		}
		d := texts[0]
		if d.State != herald.DeliverySent || d.Attempts != 3 || d.ProviderID == "" || d.LastError != "" {
			t.Errorf("SMS delivery: %s", describe(texts))
		}
		if got := e.twilio.Messages(); len(got) != 1 || got[0].SID != d.ProviderID || got[0].To != "+27820000001" {
			t.Errorf("Twilio accepted %+v, want one text with SID %s", got, d.ProviderID)
		}
		if n := len(filter(ds, ofKind(herald.KindFailure))); n != 0 {
			t.Errorf("%d failure reports for a delivery that was sent", n)
		}
		// Each attempt is counted with its result, once recorded.
		if got := e.metrics.Settlements(); got["sms/retrying"] != 2 || got["sms/sent"] != 1 || got["sms/failed"] != 0 {
			t.Errorf("attempts counted %v; want sms/retrying 2, sms/sent 1", got)
		}
	})
}

// A number Twilio refuses for good fails at once, and the commander hears
// of it on Slack and by email, never by SMS.
func TestInvalidNumberFailsAndTellsTheCommander(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{plan: setExecutives(nil, []string{twiliotest.NumberInvalid})})
		e.start(e.st, e.engine(e.st, nil))

		in := e.declare("Payments failing")
		e.compose(in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})

		ds := e.settle(in.ID, 5)
		texts := filter(ds, func(d herald.Delivery) bool { return d.Audience == "executives" })
		if len(texts) != 1 {
			t.Fatalf("%d deliveries to the executives, want 1: %s", len(texts), describe(ds))
		}
		failed := texts[0]
		if failed.State != herald.DeliveryFailed || failed.Attempts != 1 || !strings.Contains(failed.LastError, "21211") {
			t.Errorf("SMS to an invalid number: %s", describe(texts))
		}
		reports := filter(ds, ofKind(herald.KindFailure))
		channels := map[herald.Channel]herald.Delivery{}
		for _, r := range reports {
			channels[r.Channel] = r
			if r.State != herald.DeliverySent || !strings.Contains(r.Key, failed.ID) {
				t.Errorf("failure report: %s", describe([]herald.Delivery{r}))
			}
		}
		if len(reports) != 2 || channels[herald.ChannelSlack].Recipient != bossEmail || channels[herald.ChannelEmail].Recipient != bossEmail {
			t.Fatalf("failure reports %s, want a Slack message and an email to the commander", describe(reports))
		}

		dm := e.slack.Messages(e.slack.DMChannel(e.bossDM))
		if len(dm) != 1 || dm[0].TS != channels[herald.ChannelSlack].ProviderID || !strings.Contains(dm[0].Text, "could not deliver a sms message to "+twiliotest.NumberInvalid) {
			t.Errorf("the commander's Slack DM holds %+v", dm)
		}
		var mails []string
		for _, m := range e.smtp.Messages() {
			if slices.Equal(m.To, []string{bossEmail}) && strings.Contains(string(m.Data), "could not deliver") {
				mails = append(mails, m.Subject)
			}
		}
		if len(mails) != 1 || mails[0] != "Delivery failed" {
			t.Errorf("emails to the commander about the failure: %q", mails)
		}
		if got := e.twilio.Messages(); len(got) != 0 {
			t.Errorf("Twilio accepted %+v", got)
		}
		// Given up is counted as failed; the reports as sent.
		if got := e.metrics.Settlements(); got["sms/failed"] != 1 || got["sms/sent"] != 0 || got["email/sent"] < 1 {
			t.Errorf("attempts counted %v; want sms/failed 1 and the report's email/sent", got)
		}
	})
}

// A Slack channel the app cannot see fails the thread for good; the
// commander hears of it by SMS and email.
func TestSlackChannelNotFoundFailsAndTellsTheCommander(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{noChannel: true})
		e.start(e.st, e.engine(e.st, nil))

		in := e.declare("Payments failing")
		// The parent and engineering's first message both fail; each is
		// reported by SMS and email.
		ds := e.settle(in.ID, 6)
		parent := filter(ds, ofKind(herald.KindThread))[0]
		if parent.State != herald.DeliveryFailed || parent.Attempts != 1 || !strings.Contains(parent.LastError, "channel_not_found") {
			t.Errorf("thread parent: %s", describe([]herald.Delivery{parent}))
		}
		reports := filter(ds, func(d herald.Delivery) bool {
			return d.Kind == herald.KindFailure && strings.Contains(d.Key, parent.ID)
		})
		got := map[herald.Channel]herald.Delivery{}
		for _, r := range reports {
			got[r.Channel] = r
			if r.State != herald.DeliverySent {
				t.Errorf("failure report: %s", describe([]herald.Delivery{r}))
			}
		}
		if len(reports) != 2 || got[herald.ChannelSMS].Recipient != bossPhone || got[herald.ChannelEmail].Recipient != bossEmail {
			t.Fatalf("failure reports %s, want an SMS and an email to the commander", describe(reports))
		}
		text, ok := e.twilio.Message(got[herald.ChannelSMS].ProviderID)
		if !ok || text.To != bossPhone || !strings.Contains(text.Body, "could not deliver a slack message to #incident-response") {
			t.Errorf("the commander's text: %+v", text)
		}
		var mails int
		for _, m := range e.smtp.Messages() {
			if slices.Equal(m.To, []string{bossEmail}) && m.Header.Get("Message-Id") == got[herald.ChannelEmail].ProviderID {
				mails++
			}
		}
		if mails != 1 {
			t.Errorf("%d emails to the commander carry the report's Message-ID, want 1", mails)
		}
		// No failure report is ever about another report, and nothing went
		// out on Slack.
		for _, d := range ds {
			if d.Kind == herald.KindFailure && d.Channel == herald.ChannelSlack {
				t.Errorf("a failure report went to the failed channel: %s", describe([]herald.Delivery{d}))
			}
		}
		for _, c := range e.slack.Calls() {
			if c.OK() && c.Method == "chat.postMessage" {
				t.Errorf("Slack accepted %+v", c)
			}
		}
	})
}

var _ comms.Channel = (*timedChannel)(nil)
