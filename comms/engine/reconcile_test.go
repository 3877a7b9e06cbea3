package engine_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/sms/twiliotest"
)

// A process that dies mid-send leaves the delivery as StartAttempt made
// it, "sending", with whatever the vendor did with the request. These
// tests make that state the way a dead process does: StartAttempt, then
// (or not) the vendor call, and no FinishAttempt. The next attempt is then
// run with the engine's Deliver, as the queue would after rescuing the job.

// interrupted is one delivery left "sending" by a process that died.
type interrupted struct {
	e   *env
	eng *engine.Engine
	in  herald.Incident
}

func newInterrupted(t *testing.T, dialect string, o envOptions) *interrupted {
	e := newEnv(t, dialect, o)
	return &interrupted{e: e, eng: e.engine(e.st, nil), in: e.declare("Payments failing")}
}

// pick returns the incident's one delivery matching keep.
func (x *interrupted) pick(keep func(herald.Delivery) bool) herald.Delivery {
	x.e.t.Helper()
	ds := filter(x.e.deliveries(x.in.ID), keep)
	if len(ds) != 1 {
		x.e.t.Fatalf("want one delivery, got %s", describe(ds))
	}
	return ds[0]
}

// die starts an attempt of d and, when reached, hands d to the vendor the
// way the engine does, then stops: the process died before recording it.
func (x *interrupted) die(d herald.Delivery, reached bool) comms.Receipt {
	x.e.t.Helper()
	if _, err := x.e.st.StartAttempt(x.e.ctx, d.ID); err != nil {
		x.e.t.Fatal(err)
	}
	if !reached {
		return comms.Receipt{}
	}
	m := comms.Message{Delivery: d, Incident: x.in, Components: map[string]herald.Component{}}
	if d.Kind == herald.KindReply {
		ch, ts, ok, err := x.e.st.SlackThread(x.e.ctx, x.in.ID, d.Recipient)
		if err != nil || !ok {
			x.e.t.Fatalf("no thread to reply in: %v", err)
		}
		m.ThreadChannel, m.ThreadTS = ch, ts
	}
	rec, err := x.e.chans[d.Channel].Deliver(x.e.ctx, m)
	if err != nil {
		x.e.t.Fatal(err)
	}
	return rec
}

// deliver runs the engine's Deliver on the delivery and returns it after.
func (x *interrupted) deliver(d herald.Delivery) (herald.Delivery, error) {
	err := x.eng.Deliver(x.e.ctx, d.ID)
	after, gerr := x.e.st.Delivery(x.e.ctx, d.ID)
	if gerr != nil {
		x.e.t.Fatal(gerr)
	}
	return after, err
}

// settleAll delivers every open delivery of the incident, in order.
func (x *interrupted) settleAll() []herald.Delivery {
	x.e.t.Helper()
	for range 10 {
		open := 0
		for _, d := range x.e.deliveries(x.in.ID) {
			if d.State.Final() {
				continue
			}
			open++
			var later *herald.RetryLater
			if err := x.eng.Deliver(x.e.ctx, d.ID); err != nil && !errors.As(err, &later) {
				x.e.t.Fatalf("deliver %s: %v", d.ID, err)
			}
		}
		if open == 0 {
			return x.e.deliveries(x.in.ID)
		}
	}
	x.e.t.Fatalf("deliveries do not settle: %s", describe(x.e.deliveries(x.in.ID)))
	return nil
}

func isThread(d herald.Delivery) bool { return d.Kind == herald.KindThread }

func isEngineeringReply(d herald.Delivery) bool {
	return d.Kind == herald.KindReply && d.Body == "Card payments fail."
}

func to(recipient string) func(herald.Delivery) bool {
	return func(d herald.Delivery) bool { return d.Recipient == recipient }
}

func sentOnce(t *testing.T, d herald.Delivery, providerID string) {
	t.Helper()
	if d.State != herald.DeliverySent || d.ProviderID != providerID || d.SentAt == nil {
		t.Errorf("want sent with provider id %q: %s (provider id %q)", providerID, describe([]herald.Delivery{d}), d.ProviderID)
	}
}

// The vendor accepted the message and the process died before recording
// it: the next attempt finds it at Slack (by the delivery id in the
// message metadata) and at Twilio (by recipient, sender and text), records
// it with the vendor's id, and sends nothing again.
func TestInterruptedAttemptFoundAtTheVendor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		x := newInterrupted(t, dialect, envOptions{})
		e := x.e

		// The thread parent: conversations.list, then conversations.history.
		parent := x.pick(isThread)
		rec := x.die(parent, true)
		got, err := x.deliver(parent)
		if err != nil {
			t.Fatal(err)
		}
		sentOnce(t, got, rec.ProviderID)
		if ch, ts, ok, _ := e.st.SlackThread(e.ctx, x.in.ID, parent.Recipient); !ok || ch != e.slackCh || ts != rec.ProviderID {
			t.Errorf("thread recorded as %s %s %v, want %s %s", ch, ts, ok, e.slackCh, rec.ProviderID)
		}
		x.settleAll() // what the declaration queued after it

		e.compose(x.in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"engineering", "executives"}})

		// A reply in the thread: conversations.replies.
		reply := x.pick(isEngineeringReply)
		rec = x.die(reply, true)
		got, err = x.deliver(reply)
		if err != nil {
			t.Fatal(err)
		}
		sentOnce(t, got, rec.ProviderID)

		// A text, interrupted twice: the second attempt died too (while
		// asking Twilio), so the search starts at the first.
		text := x.pick(to("+27820000001"))
		rec = x.die(text, true)
		x.die(text, false)
		got, err = x.deliver(text)
		if err != nil {
			t.Fatal(err)
		}
		sentOnce(t, got, rec.ProviderID)
		if got.Attempts != 3 {
			t.Errorf("%d attempts counted, want 3", got.Attempts)
		}

		ds := x.settleAll()
		for _, d := range ds {
			if d.State != herald.DeliverySent {
				t.Errorf("not sent: %s", describe([]herald.Delivery{d}))
			}
		}
		top, replies := 0, 0
		for _, m := range e.slack.Messages(e.slackCh) {
			if m.ThreadTS == "" {
				top++
			} else if m.Text == "Card payments fail." {
				replies++
			}
		}
		if top != 1 || replies != 1 {
			t.Errorf("Slack has %d thread parents and %d copies of the reply, want 1 and 1", top, replies)
		}
		for _, phone := range []string{"+27820000001", "+27820000002"} {
			n := 0
			for _, m := range e.twilio.Messages() {
				if m.To == phone {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s received %d texts, want 1", phone, n)
			}
		}
	})
}

// The process died before the vendor had the message: the next attempt
// finds nothing and sends it, once.
func TestInterruptedAttemptNotAtTheVendor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		x := newInterrupted(t, dialect, envOptions{})
		e := x.e
		parent := x.pick(isThread)
		x.die(parent, false)
		got, err := x.deliver(parent)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != herald.DeliverySent || got.Attempts != 2 {
			t.Errorf("parent: %s", describe([]herald.Delivery{got}))
		}
		x.settleAll()
		e.compose(x.in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		text := x.pick(to("+27820000002"))
		x.die(text, false)
		if got, err = x.deliver(text); err != nil || got.State != herald.DeliverySent {
			t.Fatalf("text: %v %s", err, describe([]herald.Delivery{got}))
		}
		x.settleAll()
		if n := len(e.slack.Messages(e.slackCh)); n < 1 || e.slack.Messages(e.slackCh)[0].TS != x.pick(isThread).ProviderID {
			t.Errorf("channel: %+v", e.slack.Messages(e.slackCh))
		}
		if n := len(slices.DeleteFunc(e.twilio.Messages(), func(m twiliotest.Message) bool { return m.To != "+27820000002" })); n != 1 {
			t.Errorf("%d texts to +27820000002, want 1", n)
		}
	})
}

// While the vendor cannot be asked (down, rate limited), the delivery stays
// "sending" and nothing is sent: the next attempt asks again.
func TestInterruptedAttemptVendorUnreachable(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		x := newInterrupted(t, dialect, envOptions{})
		e := x.e
		x.settleAll()
		e.compose(x.in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		text := x.pick(to("+27820000001"))
		rec := x.die(text, true)

		e.twilio.SetDown(true)
		got, err := x.deliver(text)
		if err == nil {
			t.Fatal("Deliver succeeded without reaching Twilio")
		}
		if retry, _ := comms.Retryable(err); !retry {
			t.Errorf("error %v is not retryable", err)
		}
		if got.State != herald.DeliverySending {
			t.Errorf("after a failed question: %s", describe([]herald.Delivery{got}))
		}
		e.twilio.SetDown(false)
		if got, err = x.deliver(text); err != nil {
			t.Fatal(err)
		}
		sentOnce(t, got, rec.ProviderID)
		if n := len(e.twilio.Messages()); n != 1 {
			t.Errorf("Twilio has %d texts, want 1", n)
		}
	})
}

// A vendor that refuses the question (the Slack app lacks a read scope)
// cannot tell: the message is sent again rather than not at all. This is
// the documented cost of a token without channels:history.
func TestInterruptedAttemptVendorRefusesToTell(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		x := newInterrupted(t, dialect, envOptions{})
		e := x.e
		e.slack.Refuse("conversations.history", "missing_scope")
		parent := x.pick(isThread)
		x.die(parent, true)
		got, err := x.deliver(parent)
		if err != nil || got.State != herald.DeliverySent {
			t.Fatalf("%v %s", err, describe([]herald.Delivery{got}))
		}
		top := 0
		for _, m := range e.slack.Messages(e.slackCh) {
			if m.ThreadTS == "" {
				top++
			}
		}
		if top != 2 {
			t.Errorf("%d thread parents; with the question refused the parent is posted again (2)", top)
		}
	})
}

// Email cannot be asked: the email is sent again, with the same
// Message-ID, which lets mail clients drop the copy.
func TestInterruptedEmailIsSentAgainWithTheSameMessageID(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		x := newInterrupted(t, dialect, envOptions{})
		e := x.e
		x.settleAll()
		e.compose(x.in.ID, herald.Composition{Main: "Card payments fail.", Audiences: []string{"executives"}})
		mail := x.pick(to("ceo@kredete.example"))
		rec := x.die(mail, true)
		got, err := x.deliver(mail)
		if err != nil {
			t.Fatal(err)
		}
		sentOnce(t, got, rec.ProviderID)
		var ids []string
		for _, m := range e.smtp.Messages() {
			if slices.Equal(m.To, []string{"ceo@kredete.example"}) {
				ids = append(ids, m.Header.Get("Message-Id"))
			}
		}
		if len(ids) != 2 || ids[0] != ids[1] || ids[0] != rec.ProviderID {
			t.Errorf("emails to ceo@ have Message-IDs %q, want twice %s", ids, rec.ProviderID)
		}
	})
}

// Twilio is searched by text: an earlier text with the same words to the
// same phone, already recorded for its own delivery, is not taken for an
// interrupted one that never reached Twilio.
func TestInterruptedTextIsNotAnEarlierIdenticalText(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		x := newInterrupted(t, dialect, envOptions{plan: setExecutives(nil, []string{"+27820000001"})})
		e := x.e
		x.settleAll()
		c := herald.Composition{Main: "Still failing.", Audiences: []string{"executives"}}
		e.compose(x.in.ID, c)
		x.settleAll()
		e.compose(x.in.ID, c)
		texts := filter(e.deliveries(x.in.ID), func(d herald.Delivery) bool { return d.Channel == herald.ChannelSMS })
		if len(texts) != 2 || texts[0].State != herald.DeliverySent || texts[1].State.Final() {
			t.Fatalf("texts: %s", describe(texts))
		}
		x.die(texts[1], false)
		got, err := x.deliver(texts[1])
		if err != nil || got.State != herald.DeliverySent || got.ProviderID == texts[0].ProviderID {
			t.Fatalf("%v %s (the first text is %s)", err, describe([]herald.Delivery{got}), texts[0].ProviderID)
		}
		if n := len(e.twilio.Messages()); n != 2 {
			t.Errorf("Twilio has %d texts, want 2", n)
		}
	})
}
