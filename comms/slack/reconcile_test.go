package slack_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/slack"
)

// Every message Deliver posts names its delivery in Slack message metadata.
func TestDeliverAttachesMetadata(t *testing.T) {
	srv, c, ch := setup(t)
	srv.AddUser("ada@kredete.example", "Ada")
	ctx := t.Context()
	parent, err := c.Deliver(ctx, comms.Message{Incident: incident(), Components: components(),
		Delivery: herald.Delivery{ID: "dlv_parent", Kind: herald.KindThread, Recipient: "#incident-response"}})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Deliver(ctx, comms.Message{Incident: incident(), ThreadChannel: parent.Channel, ThreadTS: parent.ProviderID,
		Delivery: herald.Delivery{ID: "dlv_reply", Kind: herald.KindReply, Recipient: "#incident-response", Body: "Still failing."}})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := c.Deliver(ctx, comms.Message{Incident: incident(),
		Delivery: herald.Delivery{ID: "dlv_dm", Kind: herald.KindReminder, Recipient: "ada@kredete.example", Body: "Executives are due."}})
	if err != nil {
		t.Fatal(err)
	}
	for id, rec := range map[string]comms.Receipt{"dlv_parent": parent, "dlv_reply": reply, "dlv_dm": dm} {
		m, ok := srv.Message(rec.Channel, rec.ProviderID)
		want := `{"event_type":"herald_delivery","event_payload":{"delivery_id":"` + id + `"}}`
		if !ok || m.Metadata != want {
			t.Errorf("%s: metadata %q, want %s", id, m.Metadata, want)
		}
	}
	if parent.Channel != ch {
		t.Errorf("parent in %s, want %s", parent.Channel, ch)
	}
}

// Delivered finds each kind of message by its delivery id, and only
// messages posted since the attempt started (less a margin for clocks).
func TestDelivered(t *testing.T) {
	srv, c, ch := setup(t)
	srv.AddUser("ada@kredete.example", "Ada")
	ctx := t.Context()
	since := time.Now()
	in := incident()
	msg := func(id string, kind herald.DeliveryKind, to string) comms.Message {
		return comms.Message{Incident: in, Components: components(),
			Delivery: herald.Delivery{ID: id, Kind: kind, Recipient: to, Body: "Update " + id}}
	}
	// Noise around the messages looked for: other deliveries, a message
	// without metadata.
	for _, id := range []string{"other1", "other2"} {
		if _, err := c.Deliver(ctx, msg(id, herald.KindThread, "#incident-response")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PostIncident(ctx, "#incident-response", in, components(), ""); err != nil {
		t.Fatal(err)
	}

	parentMsg := msg("dlv_parent", herald.KindThread, "#incident-response")
	if _, ok, err := c.Delivered(ctx, parentMsg, since); err != nil || ok {
		t.Fatalf("before posting: found %v, %v", ok, err)
	}
	parent, err := c.Deliver(ctx, parentMsg)
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := c.Delivered(ctx, parentMsg, since); err != nil || !ok || rec != parent {
		t.Errorf("thread parent: %+v %v %v, want %+v", rec, ok, err, parent)
	}

	replyMsg := msg("dlv_reply", herald.KindReply, "#incident-response")
	replyMsg.ThreadChannel, replyMsg.ThreadTS = parent.Channel, parent.ProviderID
	other := replyMsg
	other.Delivery.ID = "other_reply"
	if _, err := c.Deliver(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Delivered(ctx, replyMsg, since); err != nil || ok {
		t.Fatalf("reply before posting: found %v, %v", ok, err)
	}
	reply, err := c.Deliver(ctx, replyMsg)
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := c.Delivered(ctx, replyMsg, since); err != nil || !ok || rec != reply {
		t.Errorf("reply: %+v %v %v, want %+v", rec, ok, err, reply)
	}

	dmMsg := msg("dlv_dm", herald.KindReminder, "ada@kredete.example")
	if _, ok, err := c.Delivered(ctx, dmMsg, since); err != nil || ok {
		t.Fatalf("direct message before sending: found %v, %v", ok, err)
	}
	dm, err := c.Deliver(ctx, dmMsg)
	if err != nil {
		t.Fatal(err)
	}
	if rec, ok, err := c.Delivered(ctx, dmMsg, since); err != nil || !ok || rec != dm {
		t.Errorf("direct message: %+v %v %v, want %+v", rec, ok, err, dm)
	}

	// An edit is done again rather than looked for.
	edit := msg("dlv_edit", herald.KindEdit, "#incident-response")
	edit.ThreadChannel, edit.ThreadTS = parent.Channel, parent.ProviderID
	if _, ok, err := c.Delivered(ctx, edit, since); err != nil || ok {
		t.Errorf("edit: found %v, %v", ok, err)
	}

	// A message from well before the attempt is not this attempt's.
	if _, ok, err := c.Delivered(ctx, parentMsg, time.Now().Add(time.Hour)); err != nil || ok {
		t.Errorf("since an hour ahead: found %v, %v", ok, err)
	}
	if ch != parent.Channel {
		t.Errorf("channel %s, want %s", parent.Channel, ch)
	}
}

// A long history is paged through.
func TestDeliveredPagesThroughHistory(t *testing.T) {
	srv, c, _ := setup(t)
	ctx := t.Context()
	since := time.Now()
	target := comms.Message{Incident: incident(), Components: components(),
		Delivery: herald.Delivery{ID: "dlv_first", Kind: herald.KindThread, Recipient: "#incident-response"}}
	want, err := c.Deliver(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for range 450 { // more than two pages of 200 after it
		if _, err := c.PostIncident(ctx, "#incident-response", incident(), components(), ""); err != nil {
			t.Fatal(err)
		}
	}
	rec, ok, err := c.Delivered(ctx, target, since)
	if err != nil || !ok || rec != want {
		t.Fatalf("found %+v %v %v, want %+v", rec, ok, err, want)
	}
	if n := len(srv.CallsTo("conversations.history")); n != 3 {
		t.Errorf("%d history pages read, want 3", n)
	}
}

// Slack's refusals come back as the adapter's errors: a missing scope is
// for good, a rate limit or an outage worth another try.
func TestDeliveredErrors(t *testing.T) {
	srv, c, _ := setup(t)
	ctx := t.Context()
	m := comms.Message{Incident: incident(), Components: components(),
		Delivery: herald.Delivery{ID: "dlv_x", Kind: herald.KindThread, Recipient: "#incident-response"}}

	srv.Refuse("conversations.history", "missing_scope")
	_, _, err := c.Delivered(ctx, m, time.Now())
	var apiErr *slack.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "missing_scope" || apiErr.Method != "conversations.history" {
		t.Errorf("missing scope: %v", err)
	}
	if retry, _ := comms.Retryable(err); retry {
		t.Errorf("missing scope is retryable: %v", err)
	}
	srv.Refuse("conversations.history", "")

	srv.FailNext(1, http.StatusTooManyRequests, 3*time.Second)
	_, _, err = c.Delivered(ctx, m, time.Now())
	if retry, after := comms.Retryable(err); !retry || after != 3*time.Second {
		t.Errorf("rate limited: %v (retry %v after %s)", err, retry, after)
	}

	m.Delivery.Recipient = "#no-such-channel"
	_, _, err = c.Delivered(ctx, m, time.Now())
	if !errors.As(err, &apiErr) || apiErr.Code != "channel_not_found" {
		t.Errorf("unknown channel: %v", err)
	}

	m.Delivery.Kind, m.Delivery.Recipient = herald.KindReminder, "nobody@kredete.example"
	_, _, err = c.Delivered(ctx, m, time.Now())
	if !errors.Is(err, slack.ErrUserNotFound) {
		t.Errorf("unknown person: %v", err)
	}

	srv.SetDown(true)
	m.Delivery.Kind, m.Delivery.Recipient = herald.KindThread, "#incident-response"
	_, _, err = c.Delivered(ctx, m, time.Now())
	if retry, _ := comms.Retryable(err); !retry {
		t.Errorf("down: %v is not retryable", err)
	}
}

var _ comms.Reconciler = (*slack.Client)(nil)
