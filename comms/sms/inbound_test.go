package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/sms/twiliotest"
)

const inboundURL = "https://herald.example.com/webhooks/twilio/inbound"

// inboundForm is what Twilio posts to an incoming-message webhook (the
// fields Herald reads and a few it does not).
func inboundForm(from, body string) url.Values {
	return url.Values{
		"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "SmsSid": {"SM0123456789abcdef0123456789abcdef"},
		"AccountSid": {accountSID}, "From": {from}, "To": {"+15017122661"}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "FromCountry": {"GB"}, "ApiVersion": {"2010-04-01"},
	}
}

func inboundRequest(form url.Values, signature string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/twilio/inbound", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		r.Header.Set("X-Twilio-Signature", signature)
	}
	return r
}

func TestParseInbound(t *testing.T) {
	c := newClient(t, "https://api.twilio.invalid")
	form := inboundForm(to, " Stop ")
	r := inboundRequest(form, sms.Sign(authToken, inboundURL, form))
	in, err := c.ParseInbound(r, inboundURL)
	if err != nil {
		t.Fatal(err)
	}
	if in.From != to || in.Body != " Stop " || in.To != "+15017122661" || in.AccountSID != accountSID || in.MessageSID == "" {
		t.Errorf("ParseInbound = %+v", in)
	}
	// The body is still there for whoever reads it next.
	if b, _ := io.ReadAll(r.Body); string(b) != form.Encode() {
		t.Errorf("body not restored: %q", b)
	}
}

func TestParseInboundRefusals(t *testing.T) {
	c := newClient(t, "https://api.twilio.invalid")
	form := inboundForm(to, "STOP")
	good := sms.Sign(authToken, inboundURL, form)
	tampered := inboundForm("+447700900999", "STOP")
	noFrom := inboundForm(to, "STOP")
	noFrom.Del("From")
	repeated := inboundForm(to, "STOP")
	repeated["Body"] = []string{"STOP", "hello"}
	for _, tc := range []struct {
		name string
		r    *http.Request
		url  string
		want error
	}{
		{"no signature", inboundRequest(form, ""), inboundURL, sms.ErrSignature},
		{"wrong token", inboundRequest(form, sms.Sign("anotherToken0123456789abcdef0123", inboundURL, form)), inboundURL, sms.ErrSignature},
		{"another URL", inboundRequest(form, sms.Sign(authToken, callbackURL, form)), inboundURL, sms.ErrSignature},
		{"tampered sender", inboundRequest(tampered, good), inboundURL, sms.ErrSignature},
		{"repeated parameter", inboundRequest(repeated, sms.Sign(authToken, inboundURL, repeated)), inboundURL, sms.ErrSignature},
		{"no sender", inboundRequest(noFrom, sms.Sign(authToken, inboundURL, noFrom)), inboundURL, sms.ErrInvalidInbound},
		{"GET", httptest.NewRequest(http.MethodGet, "/webhooks/twilio/inbound", nil), inboundURL, sms.ErrInvalidInbound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "GET" {
				tc.r.Header.Set("X-Twilio-Signature", good)
			}
			_, err := c.ParseInbound(tc.r, tc.url)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v; want %v", err, tc.want)
			}
			noToken(t, err)
		})
	}
	if _, err := c.ParseInbound(inboundRequest(form, good), ""); err == nil {
		t.Error("no public URL: accepted")
	}
}

// SendText goes through the same path as SendMessage, against Twilio's
// wire format, but asks for no status callback.
func TestSendTextHasNoStatusCallback(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	m, err := c.SendText(context.Background(), to, "Your confirmation code is 123456.")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := srv.Message(m.SID)
	if !ok || got.To != to || got.From != from || got.Body != "Your confirmation code is 123456." || got.StatusCallback != "" {
		t.Errorf("stored %+v (found %v)", got, ok)
	}
	if _, err := c.SendText(context.Background(), "0821234567", "x"); !errors.Is(err, sms.ErrInvalidNumber) {
		t.Errorf("a number not E.164: %v", err)
	}
	srv.Unsubscribe(to)
	if _, err := c.SendText(context.Background(), to, "again"); !errors.Is(err, sms.ErrUnsubscribed) {
		t.Errorf("after STOP: %v", err)
	}
}
