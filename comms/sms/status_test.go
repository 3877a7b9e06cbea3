package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/sms/twiliotest"
)

// webhook stands in for Herald's /webhooks/twilio/status handler: it maps
// ParseStatusCallback's errors to 401 and 400, and keeps what it saw.
type webhook struct {
	*httptest.Server
	mu        sync.Mutex
	client    *sms.Client
	publicURL string // "": the client's StatusCallbackURL
	statuses  []sms.Status
	raw       []captured
}

type captured struct {
	body, signature string
}

func newWebhook(t *testing.T, c *sms.Client, publicURL string) *webhook {
	t.Helper()
	wh := &webhook{client: c, publicURL: publicURL}
	wh.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wh.mu.Lock()
		defer wh.mu.Unlock()
		st, err := wh.client.ParseStatusCallback(r, wh.publicURL)
		// The body is still there for whoever reads it next.
		body, _ := io.ReadAll(r.Body)
		wh.raw = append(wh.raw, captured{string(body), r.Header.Get("X-Twilio-Signature")})
		switch {
		case errors.Is(err, sms.ErrSignature):
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case err != nil:
			http.Error(w, "bad request", http.StatusBadRequest)
		default:
			wh.statuses = append(wh.statuses, st)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(wh.Close)
	return wh
}

// use sets the client the webhook verifies with.
func (wh *webhook) use(c *sms.Client) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	wh.client = c
}

func (wh *webhook) seen() ([]sms.Status, []captured) {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return append([]sms.Status(nil), wh.statuses...), append([]captured(nil), wh.raw...)
}

// sendAndDeliver sends a text whose status callback is the webhook's own
// URL (with a query, which Twilio signs too), then has the fake report
// status.
func sendAndDeliver(t *testing.T, status string) (sid string, wh *webhook, c *sms.Client) {
	t.Helper()
	srv := twiliotest.New(t, accountSID, authToken)
	wh = newWebhook(t, nil, "")
	c = newClient(t, srv.URL, func(c *sms.Config) { c.StatusCallbackURL = wh.URL + "/webhooks/twilio/status?region=eu" })
	wh.use(c)
	rcpt, err := c.Send(context.Background(), to, "INC-42: resolved.")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := srv.DeliverStatus(context.Background(), rcpt.ProviderID, status); err != nil {
		t.Fatalf("DeliverStatus: %v", err)
	}
	return rcpt.ProviderID, wh, c
}

func TestStatusCallbackEndToEnd(t *testing.T) {
	tests := []struct {
		status    string
		errorCode int
		final     bool
		failed    bool
	}{
		{"sent", 0, false, false},
		{"delivered", 0, true, false},
		{"undelivered", 30003, true, true},
		{"failed", 30008, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			sid, wh, _ := sendAndDeliver(t, tt.status)
			statuses, raw := wh.seen()
			if len(statuses) != 1 {
				t.Fatalf("webhook accepted %d callbacks, want 1", len(statuses))
			}
			st := statuses[0]
			want := sms.Status{MessageSID: sid, MessageStatus: tt.status, ErrorCode: tt.errorCode, AccountSID: accountSID, From: from, To: to}
			if st != want {
				t.Errorf("Status = %+v\nwant     %+v", st, want)
			}
			if st.Final() != tt.final || st.Failed() != tt.failed {
				t.Errorf("Final %v Failed %v, want %v %v", st.Final(), st.Failed(), tt.final, tt.failed)
			}
			if !strings.Contains(raw[0].body, "MessageSid="+sid) {
				t.Errorf("body not restored after parsing: %q", raw[0].body)
			}
		})
	}
}

func TestStatusCallbackBehindProxy(t *testing.T) {
	// Twilio calls the public URL; a proxy forwards to Herald, whose own
	// URL differs. The signature covers the public URL.
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL) // StatusCallbackURL: https://herald.example.com/…
	wh := newWebhook(t, c, "") // "": verify against Config.StatusCallbackURL
	srv.SetCallbackTarget(wh.URL)
	rcpt, err := c.Send(context.Background(), to, "INC-42: resolved.")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := srv.DeliverStatus(context.Background(), rcpt.ProviderID, "delivered"); err != nil {
		t.Fatalf("DeliverStatus: %v", err)
	}
	if st, _ := wh.seen(); len(st) != 1 || st[0].MessageStatus != "delivered" {
		t.Errorf("webhook saw %+v", st)
	}

	// Verified against the URL Herald itself was reached on, it fails: the
	// public URL is needed.
	wrong := newWebhook(t, c, wh.URL+"/webhooks/twilio/status")
	srv.SetCallbackTarget(wrong.URL)
	var ce *twiliotest.CallbackError
	if err := srv.DeliverStatus(context.Background(), rcpt.ProviderID, "delivered"); !errors.As(err, &ce) || ce.StatusCode != 401 {
		t.Errorf("DeliverStatus against the internal URL = %v, want 401", err)
	}
}

// callback builds the request Twilio would make, from a captured one.
func callback(target, body, signature string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		r.Header.Set("X-Twilio-Signature", signature)
	}
	return r
}

func TestParseStatusCallbackRefusals(t *testing.T) {
	sid, wh, c := sendAndDeliver(t, "delivered")
	_, raw := wh.seen()
	genuine := raw[0]
	publicURL := wh.URL + "/webhooks/twilio/status?region=eu"

	// The fake's signature is the one sms.Sign computes.
	form, err := url.ParseQuery(genuine.body)
	if err != nil {
		t.Fatal(err)
	}
	if got := sms.Sign(authToken, publicURL, form); got != genuine.signature {
		t.Errorf("Sign = %q, the fake signed %q", got, genuine.signature)
	}
	if st, err := c.ParseStatusCallback(callback(publicURL, genuine.body, genuine.signature), publicURL); err != nil || st.MessageSID != sid {
		t.Fatalf("genuine callback: %+v, %v", st, err)
	}

	other, err := sms.New(sms.Config{AccountSID: accountSID, AuthToken: "someoneElsesToken0123456789abcde", From: from})
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(genuine.body, "MessageStatus=delivered", "MessageStatus=failed", 1)
	if tampered == genuine.body {
		t.Fatalf("no MessageStatus=delivered in %q", genuine.body)
	}
	noSID := url.Values{"MessageStatus": {"delivered"}, "AccountSid": {accountSID}}

	tests := []struct {
		name   string
		c      *sms.Client
		req    *http.Request
		url    string
		target error
	}{
		{"tampered body", c, callback(publicURL, tampered, genuine.signature), publicURL, sms.ErrSignature},
		{"extra parameter", c, callback(publicURL, genuine.body+"&ErrorCode=30003", genuine.signature), publicURL, sms.ErrSignature},
		{"repeated parameter", c, callback(publicURL, genuine.body+"&MessageStatus=failed", genuine.signature), publicURL, sms.ErrSignature},
		{"missing signature", c, callback(publicURL, genuine.body, ""), publicURL, sms.ErrSignature},
		{"garbage signature", c, callback(publicURL, genuine.body, "bm90IGEgc2lnbmF0dXJl"), publicURL, sms.ErrSignature},
		{"wrong URL", c, callback(publicURL, genuine.body, genuine.signature), "https://herald.example.com/webhooks/twilio/status?region=eu", sms.ErrSignature},
		{"URL without its query", c, callback(publicURL, genuine.body, genuine.signature), wh.URL + "/webhooks/twilio/status", sms.ErrSignature},
		{"another account's token", other, callback(publicURL, genuine.body, genuine.signature), publicURL, sms.ErrSignature},
		{"signed but no MessageSid", c, callback(publicURL, noSID.Encode(), sms.Sign(authToken, publicURL, noSID)), publicURL, sms.ErrInvalidCallback},
		{"GET", c, httptest.NewRequest(http.MethodGet, publicURL+"&"+genuine.body, nil), publicURL, sms.ErrInvalidCallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := tt.c.ParseStatusCallback(tt.req, tt.url)
			if !errors.Is(err, tt.target) {
				t.Fatalf("ParseStatusCallback = %+v, %v; want %v", st, err, tt.target)
			}
			if st != (sms.Status{}) {
				t.Errorf("returned a status with the error: %+v", st)
			}
			noToken(t, err)
		})
	}
}

func TestParseStatusCallbackAfterParseForm(t *testing.T) {
	sid, wh, c := sendAndDeliver(t, "delivered")
	_, raw := wh.seen()
	publicURL := wh.URL + "/webhooks/twilio/status?region=eu"
	r := callback(publicURL, raw[0].body, raw[0].signature)
	if err := r.ParseForm(); err != nil { // a middleware got there first
		t.Fatal(err)
	}
	st, err := c.ParseStatusCallback(r, publicURL)
	if err != nil || st.MessageSID != sid {
		t.Errorf("ParseStatusCallback after ParseForm = %+v, %v", st, err)
	}
}
