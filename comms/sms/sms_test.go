package sms_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/sms/twiliotest"
)

const (
	accountSID  = "AC0123456789abcdef0123456789abcdef"
	authToken   = "s3cr3tT0kenDoNotLeak0123456789ab"
	from        = "+15017122661"
	to          = "+447700900123"
	callbackURL = "https://herald.example.com/webhooks/twilio/status"
)

var smSID = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func newClient(t testing.TB, apiURL string, edit ...func(*sms.Config)) *sms.Client {
	t.Helper()
	cfg := sms.Config{
		AccountSID:        accountSID,
		AuthToken:         authToken,
		From:              from,
		APIURL:            apiURL,
		StatusCallbackURL: callbackURL,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := sms.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// noToken fails the test if err's text carries the auth token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), authToken) {
		t.Errorf("error carries the auth token: %v", err)
	}
}

func TestSendReadBack(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	body := "Checkout is degraded; card payments fail for some customers. Next update 14:30 UTC."

	rcpt, err := c.Send(context.Background(), to, body)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !smSID.MatchString(rcpt.ProviderID) {
		t.Errorf("ProviderID = %q, want SM and 32 hex digits", rcpt.ProviderID)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("fake holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	// The fake stores a message only after Basic auth with this account's
	// SID and token, on this account's path.
	if m.SID != rcpt.ProviderID || m.AccountSID != accountSID {
		t.Errorf("stored SID %q account %q, want %q %q", m.SID, m.AccountSID, rcpt.ProviderID, accountSID)
	}
	if m.To != to || m.From != from || m.Body != body || m.StatusCallback != callbackURL {
		t.Errorf("stored To %q From %q Body %q StatusCallback %q", m.To, m.From, m.Body, m.StatusCallback)
	}
	if m.MessagingServiceSID != "" || m.Status != "queued" || m.NumSegments != 1 {
		t.Errorf("stored MessagingServiceSid %q Status %q NumSegments %d", m.MessagingServiceSID, m.Status, m.NumSegments)
	}

	sent, err := c.SendMessage(context.Background(), to, body)
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if sent.Truncated || sent.Body != body || sent.Segments != 1 || sent.Status != "queued" || sent.To != to {
		t.Errorf("SendMessage = %+v", sent)
	}
}

func TestSendThroughMessagingService(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	service := "MG0123456789abcdef0123456789abcdef"
	c := newClient(t, srv.URL, func(c *sms.Config) { c.From = service; c.StatusCallbackURL = "" })
	sent, err := c.SendMessage(context.Background(), to, "Regulator notification due in 2 hours.")
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if sent.Status != "accepted" {
		t.Errorf("Status = %q, want accepted", sent.Status)
	}
	m, _ := srv.Message(sent.SID)
	if m.MessagingServiceSID != service || m.From != "" || m.StatusCallback != "" {
		t.Errorf("stored MessagingServiceSid %q From %q StatusCallback %q", m.MessagingServiceSID, m.From, m.StatusCallback)
	}
	if _, ok := m.Form["From"]; ok {
		t.Errorf("posted a From field with a Messaging Service: %v", m.Form)
	}
}

func TestWrongCredentials(t *testing.T) {
	srv := twiliotest.New(t, accountSID, "anotherToken0123456789abcdef0123")
	c := newClient(t, srv.URL)
	_, err := c.Send(context.Background(), to, "hello")
	var apiErr *sms.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || apiErr.Code != sms.CodeAuthenticate {
		t.Fatalf("err = %v, want an APIError 401 code 20003", err)
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("wrong credentials retryable: %v", err)
	}
	noToken(t, err)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("fake stored %d messages without auth", n)
	}
}

// long repeats words until the text is at least n runes.
func long(words string, n int) string {
	var b strings.Builder
	for b.Len() == 0 || len([]rune(b.String())) < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words)
	}
	return b.String()
}

func TestSendTruncatesToTwoSegments(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wordy    bool // has spaces: the cut must fall after a whole word
		minKept  int  // runes kept before the ellipsis, at least
		ellipsis string
		whole    func(kept string) bool // no character cut in half
	}{
		{"GSM", long("Payments are failing in the EU region while we fail over to the standby database.", 900), true, 250, "...", nil},
		{"GSM extension characters", long("Queue [payments] {eu-west} is ~80% full; €10k/h at risk.", 600), true, 200, "...", nil},
		{"GSM no spaces", strings.Repeat("https://status.example.com/incidents/abc?", 20), false, 280, "...", nil},
		{"Unicode", long("Платежи не проходят в регионе ЕС, переключаемся на резервную базу.", 400), true, 90, "…", nil},
		{"Unicode emoji, no spaces", strings.Repeat("🔥", 200), false, 55, "…", nil},
		{"Unicode flags, no spaces", strings.Repeat("🇬🇧", 100), false, 25, "…", func(k string) bool { return len([]rune(k))%2 == 0 }},
		{"Unicode combining marks", strings.Repeat("e\u0301", 200), false, 50, "…", func(k string) bool { return strings.HasSuffix(k, "\u0301") }},
		{"Unicode ZWJ emoji, no spaces", strings.Repeat("👩\u200d💻", 100), false, 35, "…", func(k string) bool { return strings.HasSuffix(k, "💻") }},
		{"GSM then Unicode at the end", long("Payments are failing in the EU region.", 500) + " ✅", true, 250, "...", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliotest.New(t, accountSID, authToken)
			c := newClient(t, srv.URL)
			if _, n, _ := herald.SMSSegments(tt.body); n <= sms.MaxSegments {
				t.Fatalf("test body needs only %d segments", n)
			}
			sent, err := c.SendMessage(context.Background(), to, tt.body)
			if err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			m, ok := srv.Message(sent.SID)
			if !ok {
				t.Fatal("fake has no such message")
			}
			got := m.Body
			if got != sent.Body || !sent.Truncated {
				t.Errorf("Truncated = %v, SendMessage body differs from what Twilio got: %v", sent.Truncated, got != sent.Body)
			}
			if _, n, _ := herald.SMSSegments(got); n > sms.MaxSegments || n != sent.Segments || m.NumSegments != n {
				t.Errorf("segments: herald %d, SendMessage %d, fake %d; want ≤ %d", n, sent.Segments, m.NumSegments, sms.MaxSegments)
			}
			kept, ok := strings.CutSuffix(got, tt.ellipsis+sms.DefaultSuffix)
			if !ok {
				t.Fatalf("body does not end with %q: %q", tt.ellipsis+sms.DefaultSuffix, got)
			}
			if !strings.HasPrefix(tt.body, kept) {
				t.Fatalf("kept text is not a prefix of the body: %q", kept)
			}
			if strings.ContainsRune(got, '\uFFFD') {
				t.Errorf("body has a replacement character: %q", got)
			}
			if n := len([]rune(kept)); n < tt.minKept {
				t.Errorf("kept %d runes, want at least %d: %q", n, tt.minKept, kept)
			}
			if tt.whole != nil && !tt.whole(kept) {
				t.Errorf("cut inside a character: …%q", last(kept, 6))
			}
			rest := tt.body[len(kept):]
			if tt.wordy && !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, ", ") && !strings.HasPrefix(rest, "; ") {
				t.Errorf("cut inside a word: …%q | %q…", last(kept, 12), first(rest, 12))
			}
		})
	}
}

func first(s string, n int) string {
	r := []rune(s)
	return string(r[:min(n, len(r))])
}

func last(s string, n int) string {
	r := []rune(s)
	return string(r[max(0, len(r)-n):])
}

func TestSendKeepsBodiesThatFit(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	for _, body := range []string{
		strings.Repeat("a", 306),   // exactly two GSM segments
		strings.Repeat("ж", 134),   // exactly two UCS-2 segments
		strings.Repeat("😀", 67),    // 134 UTF-16 units
		"Resolved. Thank you. ✅ 🎉", // one UCS-2 segment
	} {
		sent, err := c.SendMessage(context.Background(), to, body)
		if err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		if sent.Truncated || sent.Body != body {
			t.Errorf("body of %d runes changed: truncated %v", len([]rune(body)), sent.Truncated)
		}
	}
}

func TestSendRefusesBadInput(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	for _, number := range []string{"07700 900123", "+44 7700 900123", "447700900123", "+0447700900123", "", "+1234567890123456"} {
		_, err := c.Send(context.Background(), number, "hello")
		if !errors.Is(err, sms.ErrInvalidNumber) || !strings.Contains(err.Error(), "E.164") {
			t.Errorf("Send(%q) = %v, want ErrInvalidNumber naming E.164", number, err)
		}
		if ok, _ := comms.Retryable(err); ok {
			t.Errorf("Send(%q): invalid number retryable", number)
		}
	}
	if _, err := c.Send(context.Background(), to, "  \n"); err == nil {
		t.Error("Send with an empty body: no error")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("refused input reached Twilio: %d messages", n)
	}
}

func TestSendPermanentErrors(t *testing.T) {
	tests := []struct {
		name   string
		to     string
		setup  func(*twiliotest.Server)
		code   int
		target error
	}{
		{"invalid number", twiliotest.NumberInvalid, nil, 21211, sms.ErrInvalidNumber},
		{"not a mobile", twiliotest.NumberNotMobile, nil, 21614, sms.ErrInvalidNumber},
		{"unsubscribed (STOP)", "+447700900999", func(s *twiliotest.Server) { s.Unsubscribe("+447700900999") }, 21610, sms.ErrUnsubscribed},
		{"no permission for the region", "+79001234567", func(s *twiliotest.Server) { s.DenyRegion("+7") }, 21408, sms.ErrNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliotest.New(t, accountSID, authToken)
			if tt.setup != nil {
				tt.setup(srv)
			}
			c := newClient(t, srv.URL)
			_, err := c.Send(context.Background(), tt.to, "Incident INC-42 declared.")
			var apiErr *sms.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *sms.APIError", err)
			}
			if apiErr.Code != tt.code || apiErr.Status != 400 || apiErr.Message == "" || apiErr.MoreInfo == "" {
				t.Errorf("APIError = %+v, want code %d, status 400, a message and more_info", apiErr, tt.code)
			}
			if !errors.Is(err, tt.target) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.target)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(tt.code)) || !strings.Contains(msg, apiErr.Message) {
				t.Errorf("error %q does not name code %d and Twilio's message", msg, tt.code)
			}
			if ok, _ := comms.Retryable(err); ok {
				t.Errorf("permanent error retryable: %v", err)
			}
			noToken(t, err)
		})
	}
}

func TestSendTemporaryErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		code       int
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, 30 * time.Second, 20429},
		{"429 without Retry-After", http.StatusTooManyRequests, 0, 20429},
		{"500", http.StatusInternalServerError, 0, 20500},
		{"503", http.StatusServiceUnavailable, 0, 20503},
		{"503 with Retry-After", http.StatusServiceUnavailable, 2 * time.Minute, 20503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := twiliotest.New(t, accountSID, authToken)
			srv.FailNext(1, tt.status, tt.retryAfter)
			c := newClient(t, srv.URL)
			_, err := c.Send(context.Background(), to, "hello")
			var te *comms.TemporaryError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *comms.TemporaryError", err)
			}
			ok, after := comms.Retryable(err)
			if !ok || after != tt.retryAfter {
				t.Errorf("Retryable = %v, %v; want true, %v", ok, after, tt.retryAfter)
			}
			var apiErr *sms.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.Code != tt.code {
				t.Errorf("APIError = %+v, want status %d code %d", apiErr, tt.status, tt.code)
			}
			noToken(t, err)
			// The fault is spent: the retry goes through.
			if _, err := c.Send(context.Background(), to, "hello"); err != nil {
				t.Errorf("retry: %v", err)
			}
		})
	}
}

func TestSendNetworkErrorsAreTemporary(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)

	srv.SetDown(true)
	_, err := c.Send(context.Background(), to, "hello")
	if ok, _ := comms.Retryable(err); !ok {
		t.Errorf("dropped connection: err = %v, want retryable", err)
	}
	noToken(t, err)
	srv.SetDown(false)
	if _, err := c.Send(context.Background(), to, "hello"); err != nil {
		t.Errorf("after SetDown(false): %v", err)
	}

	srv.Close()
	_, err = c.Send(context.Background(), to, "hello")
	if ok, _ := comms.Retryable(err); !ok {
		t.Errorf("refused connection: err = %v, want retryable", err)
	}
	noToken(t, err)
}

func TestSendHonoursContext(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	c := newClient(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, to, "hello")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("cancelled send retryable: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("cancelled send reached Twilio")
	}
}

type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestAPIURLWithPathPrefixAndInjectedClient(t *testing.T) {
	srv := twiliotest.New(t, accountSID, authToken)
	proxy := httptest.NewServer(http.StripPrefix("/twilio", srv.Config.Handler))
	t.Cleanup(proxy.Close)
	rt := &countingTransport{}
	c := newClient(t, proxy.URL+"/twilio/", func(c *sms.Config) {
		c.HTTPClient = &http.Client{Transport: rt, Timeout: 5 * time.Second}
	})
	if _, err := c.Send(context.Background(), to, "hello"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rt.n.Load() != 1 || len(srv.Messages()) != 1 {
		t.Errorf("injected transport used %d times, fake holds %d messages; want 1, 1", rt.n.Load(), len(srv.Messages()))
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ok := sms.Config{AccountSID: accountSID, AuthToken: authToken, From: from}
	tests := []struct {
		name string
		edit func(*sms.Config)
	}{
		{"no account", func(c *sms.Config) { c.AccountSID = "" }},
		{"not an account SID", func(c *sms.Config) { c.AccountSID = "SK0123" }},
		{"no token", func(c *sms.Config) { c.AuthToken = "" }},
		{"token with symbols", func(c *sms.Config) { c.AuthToken = authToken + "!" }},
		{"no sender", func(c *sms.Config) { c.From = "" }},
		{"sender not E.164", func(c *sms.Config) { c.From = "07700900123" }},
		{"API URL without scheme", func(c *sms.Config) { c.APIURL = "localhost:8080" }},
		{"relative callback", func(c *sms.Config) { c.StatusCallbackURL = "/webhooks/twilio/status" }},
		{"suffix too long", func(c *sms.Config) { c.Suffix = strings.Repeat(" more", 20) }},
	}
	if _, err := sms.New(ok); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := sms.New(cfg)
			if err == nil {
				t.Fatal("New: no error")
			}
			if strings.Contains(err.Error(), authToken) {
				t.Errorf("error carries the auth token: %v", err)
			}
		})
	}
}

func TestConfigRedactsToken(t *testing.T) {
	cfg := sms.Config{AccountSID: accountSID, AuthToken: authToken, From: from}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "sms", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logged.String()} {
		if strings.Contains(s, authToken) {
			t.Errorf("printed the auth token: %s", s)
		}
		if !strings.Contains(s, accountSID) {
			t.Errorf("printed without the account SID: %s", s)
		}
	}
}

func TestSendUnreadableAnswerIsNotRetried(t *testing.T) {
	// 201 with a cut-off body: the text has probably gone; retrying would
	// send it twice.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sid": "SM0123`))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	_, err := c.Send(context.Background(), to, "hello")
	if err == nil || !strings.Contains(err.Error(), "may have been sent") {
		t.Fatalf("err = %v, want an unreadable-answer error", err)
	}
	if ok, _ := comms.Retryable(err); ok {
		t.Errorf("unreadable 201 retryable: %v", err)
	}
}
