package sms_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/sms/twiliotest"
)

var _ comms.Reconciler = (*sms.Client)(nil)

func text(id, to, body string) comms.Message {
	return comms.Message{Delivery: herald.Delivery{ID: id, Channel: herald.ChannelSMS, Kind: herald.KindMessage,
		Recipient: to, Subject: "[Kredete] Payments failing (Investigating)", Body: body}}
}

// Delivered finds the text Deliver sent: to the recipient, from Herald's
// sender, with the same body (as cut to fit), since the attempt started.
func TestDeliveredFindsTheText(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	ctx := t.Context()
	since := time.Now()
	long := strings.Repeat("Card payments fail for some customers. ", 20) // cut to two segments
	m := text("dlv_1", to, long)

	if _, ok, err := c.Delivered(ctx, m, since); err != nil || ok {
		t.Fatalf("before sending: found %v, %v", ok, err)
	}
	// Noise: the same body to another number, another body to this one,
	// the same body from another sender.
	if _, err := c.Deliver(ctx, text("dlv_other", "+447700900999", long)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deliver(ctx, text("dlv_other2", to, "Something else.")); err != nil {
		t.Fatal(err)
	}
	other := newClient(t, srv.URL, func(c *sms.Config) { c.From = "+15005550006" })
	if _, err := other.Deliver(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Delivered(ctx, m, since); err != nil || ok {
		t.Fatalf("with only other texts: found %v, %v", ok, err)
	}

	sent, err := c.Deliver(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := c.Delivered(ctx, m, since)
	if err != nil || !ok || rec.ProviderID != sent.ProviderID {
		t.Fatalf("found %+v %v %v, want %s", rec, ok, err, sent.ProviderID)
	}
	// Of two identical texts, the newer.
	again, err := c.Deliver(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := c.Delivered(ctx, m, since); rec.ProviderID != again.ProviderID {
		t.Errorf("found %s, want the newer %s", rec.ProviderID, again.ProviderID)
	}
	// A text from before the attempt (less the margin) is not this attempt's.
	if _, ok, err := c.Delivered(ctx, m, time.Now().Add(time.Hour)); err != nil || ok {
		t.Errorf("since an hour ahead: found %v, %v", ok, err)
	}
}

// A text still in Twilio's queue has no date_sent, so the DateSent filter
// misses it: the second read, of the newest texts, finds it.
func TestDeliveredFindsAQueuedText(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	srv.HoldQueue(true)
	c := newClient(t, srv.URL)
	ctx := t.Context()
	m := text("dlv_q", to, "Queued at Twilio.")
	sent, err := c.Deliver(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := c.Delivered(ctx, m, time.Now())
	if err != nil || !ok || rec.ProviderID != sent.ProviderID {
		t.Fatalf("found %+v %v %v, want %s", rec, ok, err, sent.ProviderID)
	}
}

// Through a Messaging Service, Twilio picks the number: the service SID is
// what matches.
func TestDeliveredViaMessagingService(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	const service = "MG0123456789abcdef0123456789abcdef"
	c := newClient(t, srv.URL, func(c *sms.Config) { c.From = service })
	ctx := t.Context()
	m := text("dlv_s", to, "Through the service.")
	sent, err := c.Deliver(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := c.Delivered(ctx, m, time.Now())
	if err != nil || !ok || rec.ProviderID != sent.ProviderID {
		t.Fatalf("found %+v %v %v, want %s", rec, ok, err, sent.ProviderID)
	}
	other := newClient(t, srv.URL, func(c *sms.Config) { c.From = "MGffffffffffffffffffffffffffffffff" })
	if _, ok, _ := other.Delivered(ctx, m, time.Now()); ok {
		t.Error("another service's text matched")
	}
}

func TestDeliveredErrors(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	ctx := t.Context()
	m := text("dlv_e", to, "x")

	srv.FailNext(1, http.StatusTooManyRequests, 2*time.Second)
	_, _, err := c.Delivered(ctx, m, time.Now())
	if retry, after := comms.Retryable(err); !retry || after != 2*time.Second {
		t.Errorf("rate limited: %v (retry %v after %s)", err, retry, after)
	}
	noToken(t, err)

	srv.FailNext(1, http.StatusInternalServerError, 0)
	if _, _, err = c.Delivered(ctx, m, time.Now()); !isRetryable(err) {
		t.Errorf("500: %v", err)
	}

	wrong := newClient(t, srv.URL, func(c *sms.Config) { c.AuthToken = "wrongwrongwrong" })
	_, _, err = wrong.Delivered(ctx, m, time.Now())
	var apiErr *sms.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || isRetryable(err) {
		t.Errorf("wrong token: %v", err)
	}

	srv.SetDown(true)
	if _, _, err = c.Delivered(ctx, m, time.Now()); !isRetryable(err) {
		t.Errorf("down: %v", err)
	}
	srv.SetDown(false)

	// A number Deliver would refuse is not looked for.
	if _, ok, err := c.Delivered(ctx, text("dlv_bad", "0821234567", "x"), time.Now()); ok || err != nil {
		t.Errorf("an invalid number: %v %v", ok, err)
	}
}

func isRetryable(err error) bool {
	retry, _ := comms.Retryable(err)
	return retry
}
