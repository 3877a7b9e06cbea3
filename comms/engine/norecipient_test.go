package engine_test

import (
	"strings"
	"testing"

	"github.com/kredete/herald"
)

// A reminder by Slack to someone with no Slack account (a compliance
// contact known by email only) is skipped with the reason, not retried and
// not reported to the commander as a failure: the same reminder goes by
// the audience's other channels.
func TestReminderToNoSlackAccountIsSkipped(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		eng := e.engine(e.st, nil)
		in := e.declare("Payments failing")
		ds := []herald.Delivery{{Channel: herald.ChannelSlack, Kind: herald.KindReminder, Recipient: "compliance@kredete.example",
			Subject: "Reminder", Body: "Regulators initial notification due 14:00", Key: in.ID + "/test/slack/compliance"}}
		if ok, err := e.st.QueueOnce(e.ctx, in.ID+"/test", in.ID, ds); err != nil || !ok {
			t.Fatalf("queue: %v %v", ok, err)
		}
		rem := filter(e.deliveries(in.ID), ofKind(herald.KindReminder))
		if len(rem) != 1 {
			t.Fatalf("reminders: %s", describe(rem))
		}
		if err := eng.Deliver(e.ctx, rem[0].ID); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		d, err := e.st.Delivery(e.ctx, rem[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != herald.DeliverySkipped || !strings.Contains(d.LastError, "no Slack member has this email") {
			t.Errorf("the reminder is %s (%q), want skipped saying there is no Slack member", d.State, d.LastError)
		}
		if n := len(filter(e.deliveries(in.ID), ofKind(herald.KindFailure))); n != 0 {
			t.Errorf("%d failure reports queued for a missing Slack account, want none", n)
		}
		if calls := e.slack.CallsTo("users.lookupByEmail"); len(calls) != 1 {
			t.Errorf("users.lookupByEmail called %d times, want once (not retried)", len(calls))
		}
	})
}
