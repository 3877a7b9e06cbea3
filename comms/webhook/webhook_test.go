package webhook_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/comms/webhook/webhooktest"
)

const secret = "whsec-test"

var payload = []byte(`{"meta":{},"page":{"id":"p1"},"incident":{"id":"i1","name":"API & login < down"}}`)

func TestSignIsHeraldsScheme(t *testing.T) {
	ts := time.Unix(1_790_000_000, 0)
	sig := webhook.Sign(secret, ts, payload)
	if want := herald.SignAutomation(secret, ts, payload); sig != want {
		t.Fatalf("Sign = %s, want herald.SignAutomation's %s", sig, want)
	}
	if _, err := herald.VerifyAutomation([]string{secret}, sig, strconv.FormatInt(ts.Unix(), 10), payload, ts); err != nil {
		t.Errorf("VerifyAutomation: %v", err)
	}
	if _, err := herald.VerifyAutomation([]string{"another"}, sig, strconv.FormatInt(ts.Unix(), 10), payload, ts); err == nil {
		t.Error("a signature verified with another secret")
	}
}

func TestPostDelivers(t *testing.T) {
	srv := webhooktest.New(t, secret)
	c := webhook.New(webhook.Config{Allow: webhooktest.Loopback()})
	res, err := c.Post(t.Context(), srv.URL+"/hooks/herald?token=t0k3n", secret, "dlv-42", payload)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if res.StatusCode != http.StatusNoContent || res.Duration <= 0 {
		t.Errorf("Result = %+v, want 204 and a duration", res)
	}
	req := <-srv.Requests
	if req.SignatureErr != nil {
		t.Errorf("the receiver could not verify the signature: %v", req.SignatureErr)
	}
	// As a subscriber checks it, with Herald's own verifier.
	if _, err := herald.VerifyAutomation([]string{secret}, req.Header.Get("X-Herald-Signature"),
		req.Header.Get("X-Herald-Timestamp"), req.Body, time.Now()); err != nil {
		t.Errorf("VerifyAutomation: %v", err)
	}
	if string(req.Body) != string(payload) {
		t.Errorf("body = %s, want %s", req.Body, payload)
	}
	for h, want := range map[string]string{
		"User-Agent":      "Herald-Webhooks/1",
		"Content-Type":    "application/json",
		"Idempotency-Key": "dlv-42",
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if !strings.HasPrefix(req.Header.Get("X-Herald-Signature"), "v1=") {
		t.Errorf("X-Herald-Signature = %q, want v1=<hex>", req.Header.Get("X-Herald-Signature"))
	}
}

func TestPostAnswers(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name       string
		status     int
		header     http.Header
		temporary  bool
		retryAfter time.Duration
		says       string
	}{
		{"200", 200, nil, false, 0, ""},
		{"202", 202, nil, false, 0, ""},
		{"500 is temporary", 500, nil, true, 0, "answered 500 Internal Server Error"},
		{"503 with Retry-After", 503, http.Header{"Retry-After": {"7"}}, true, 7 * time.Second, "answered 503"},
		{"429 with Retry-After seconds", 429, http.Header{"Retry-After": {"30"}}, true, 30 * time.Second, "answered 429 Too Many Requests"},
		{"429 with Retry-After date", 429, http.Header{"Retry-After": {now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)}}, true, 2 * time.Minute, "answered 429"},
		{"429 with an absurd Retry-After", 429, http.Header{"Retry-After": {"99999999999999"}}, true, 24 * time.Hour, "answered 429"},
		{"429 without Retry-After", 429, nil, true, 0, "answered 429"},
		{"408 is temporary", 408, nil, true, 0, "answered 408"},
		{"425 is temporary", 425, nil, true, 0, "answered 425"},
		{"404 is permanent", 404, nil, false, 0, "answered 404 Not Found"},
		{"410 is permanent", 410, nil, false, 0, "answered 410 Gone"},
		{"400 is permanent", 400, nil, false, 0, "answered 400"},
		{"401 is permanent", 401, nil, false, 0, "answered 401"},
		{"301 is refused", 301, http.Header{"Location": {"https://elsewhere.example.net/hook?token=t0k3n"}}, false, 0,
			"answered 301 Moved Permanently (a redirect to elsewhere.example.net; webhooks do not follow redirects)"},
		{"302 to a relative path is refused", 302, http.Header{"Location": {"/landed"}}, false, 0, "(a redirect; webhooks do not follow redirects)"},
		{"307 is refused", 307, http.Header{"Location": {"/landed"}}, false, 0, "answered 307"},
		{"308 is refused", 308, http.Header{"Location": {"/landed"}}, false, 0, "answered 308"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := webhooktest.New(t, secret)
			srv.Answer(tt.status, tt.header)
			c := webhook.New(webhook.Config{Allow: webhooktest.Loopback(), Now: func() time.Time { return now }})
			res, err := c.Post(t.Context(), srv.URL+"/hook?token=t0k3n", secret, "dlv-1", payload)
			if res.StatusCode != tt.status {
				t.Errorf("Result.StatusCode = %d, want %d", res.StatusCode, tt.status)
			}
			if srv.Count() != 1 {
				t.Errorf("the receiver got %d posts, want 1 (redirects are not followed)", srv.Count())
			}
			if tt.says == "" {
				if err != nil {
					t.Fatalf("Post: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Post succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q, want it to say %q", err, tt.says)
			}
			if strings.Contains(err.Error(), "t0k3n") {
				t.Errorf("error %q shows the URL's token", err)
			}
			retry, after := comms.Retryable(err)
			if retry != tt.temporary || after != tt.retryAfter {
				t.Errorf("Retryable = %v, %s; want %v, %s", retry, after, tt.temporary, tt.retryAfter)
			}
			var se *webhook.StatusError
			if !errors.As(err, &se) || se.Code != tt.status {
				t.Errorf("error %v is not a *StatusError with code %d", err, tt.status)
			}
		})
	}
}

func TestPostTimeoutIsTemporary(t *testing.T) {
	srv := webhooktest.New(t, secret)
	srv.Hang()
	c := webhook.New(webhook.Config{Allow: webhooktest.Loopback(), Timeout: 50 * time.Millisecond})
	res, err := c.Post(t.Context(), srv.URL+"/hook", secret, "dlv-1", payload)
	<-srv.Requests // the post arrived; the answer did not
	if err == nil {
		t.Fatal("Post succeeded against a server that never answers")
	}
	if retry, _ := comms.Retryable(err); !retry {
		t.Errorf("a timeout is not retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Errorf("error %q, want it to say it did not answer within 50ms", err)
	}
	if res.StatusCode != 0 {
		t.Errorf("StatusCode = %d, want 0", res.StatusCode)
	}
}

func TestPostConnectionRefusedIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c := webhook.New(webhook.Config{Allow: webhooktest.Loopback()})
	_, err = c.Post(t.Context(), "http://"+addr+"/hook", secret, "dlv-1", payload)
	if err == nil {
		t.Fatal("Post succeeded with nothing listening")
	}
	if retry, _ := comms.Retryable(err); !retry {
		t.Errorf("a refused connection is not retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("error %q, want it to say the endpoint could not be reached", err)
	}
}

func TestPostRefusesBeforeSending(t *testing.T) {
	tests := []struct {
		name string
		url  string
		is   func(error) bool
	}{
		{"private literal", "https://10.0.0.5/hook", isBlocked},
		{"loopback without the allow-list", "http://127.0.0.1:1/hook", isBlocked},
		{"name resolving private", "https://internal.example.com/hook", isBlocked},
		{"user information", "https://a:b@hooks.example.com/", isInvalid},
		{"http", "http://hooks.example.com/", isInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := webhook.New(webhook.Config{Resolver: testResolver})
			_, err := c.Post(t.Context(), tt.url, secret, "dlv-1", payload)
			if !tt.is(err) {
				t.Fatalf("Post = %v", err)
			}
			if retry, _ := comms.Retryable(err); retry {
				t.Errorf("a refused URL is retryable: %v", err)
			}
		})
	}
	t.Run("resolver failure is temporary", func(t *testing.T) {
		c := webhook.New(webhook.Config{Resolver: testResolver})
		_, err := c.Post(t.Context(), "https://nowhere.example.com/", secret, "dlv-1", payload)
		if retry, _ := comms.Retryable(err); !retry || !errors.Is(err, errNoSuchHost) {
			t.Errorf("Post = %v, want a temporary error wrapping the resolver's", err)
		}
	})
	t.Run("no secret", func(t *testing.T) {
		c := webhook.New(webhook.Config{Resolver: testResolver})
		if _, err := c.Post(t.Context(), "https://hooks.example.com/", "", "dlv-1", payload); err == nil {
			t.Error("Post without a secret succeeded")
		}
	})
}

func isBlocked(err error) bool {
	var be *webhook.BlockedError
	return errors.As(err, &be)
}

func isInvalid(err error) bool { return errors.Is(err, webhook.ErrInvalidURL) }

// rebinding answers a public address the first time it is asked and
// another the times after: DNS rebinding, where the name passes the check
// and then points at Herald's own network when the connection is made.
type rebinding struct {
	mu    sync.Mutex
	asked int
	then  []netip.Addr
}

func (r *rebinding) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked++
	if r.asked == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	return r.then, nil
}

// countingServer is an httptest server on loopback that counts the TCP
// connections it accepts.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the TLS failure TestCountingServerCounts provokes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestPostRefusesRebindingWhenDialling(t *testing.T) {
	tests := []struct {
		name string
		then []string
		says string
	}{
		{"to loopback", []string{"127.0.0.1"}, "webhook: hooks.example.com resolves to 127.0.0.1, a loopback address"},
		// The socket connects to the IPv4 address mapped: that is what Control sees.
		{"to IPv4-mapped loopback", []string{"::ffff:127.0.0.1"}, "resolves to 127.0.0.1, a loopback address"},
		{"to IPv6 loopback and IPv4 loopback", []string{"::1", "127.0.0.1"}, "resolves to ::1, a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, conns := countingServer(t)
			port := srv.Listener.Addr().(*net.TCPAddr).Port
			r := &rebinding{}
			for _, a := range tt.then {
				r.then = append(r.then, netip.MustParseAddr(a))
			}
			// No allow-list: the check at send time passes (the name is
			// public then), and only the dialler stands between the post
			// and the server on loopback.
			c := webhook.New(webhook.Config{Resolver: r})
			_, err := c.Post(t.Context(), "https://hooks.example.com:"+strconv.Itoa(port)+"/hook", secret, "dlv-1", payload)
			if !isBlocked(err) {
				t.Fatalf("Post = %v, want a *BlockedError", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q, want %q", err, tt.says)
			}
			if retry, _ := comms.Retryable(err); retry {
				t.Errorf("a blocked address is retryable: %v", err)
			}
			if r.asked < 2 {
				t.Errorf("the resolver was asked %d times, want the check and the dial", r.asked)
			}
			if n := conns.Load(); n != 0 {
				t.Errorf("the server on loopback accepted %d connections, want none", n)
			}
		})
	}
}

// TestCountingServerCounts shows the count above would see a connection:
// the same post with loopback allow-listed reaches the server.
func TestCountingServerCounts(t *testing.T) {
	srv, conns := countingServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	r := &rebinding{then: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	c := webhook.New(webhook.Config{Resolver: r, Allow: webhooktest.Loopback()})
	_, err := c.Post(t.Context(), "https://hooks.example.com:"+strconv.Itoa(port)+"/hook", secret, "dlv-1", payload)
	// The certificate is httptest's, not hooks.example.com's: the TLS
	// handshake fails, after the connection was made.
	if err == nil || isBlocked(err) {
		t.Fatalf("Post = %v, want a TLS failure", err)
	}
	if conns.Load() != 1 {
		t.Errorf("the server accepted %d connections, want 1", conns.Load())
	}
}

func TestPostReadsACappedAnswer(t *testing.T) {
	// The server streams an answer without end; the post still returns.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	c := webhook.New(webhook.Config{Allow: webhooktest.Loopback()})
	res, err := c.Post(t.Context(), srv.URL, secret, "dlv-1", payload)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("Post = %+v, %v", res, err)
	}
}

func TestPostCancelledIsNotTheEndpoints(t *testing.T) {
	srv := webhooktest.New(t, secret)
	srv.Hang()
	c := webhook.New(webhook.Config{Allow: webhooktest.Loopback()})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-srv.Requests
		cancel()
	}()
	_, err := c.Post(ctx, srv.URL, secret, "dlv-1", payload)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Post = %v, want context.Canceled", err)
	}
}

func TestClientCheckURL(t *testing.T) {
	c := webhook.New(webhook.Config{Resolver: testResolver})
	if err := c.CheckURL(t.Context(), "https://hooks.example.com/x"); err != nil {
		t.Errorf("CheckURL(public) = %v", err)
	}
	if err := c.CheckURL(t.Context(), "https://internal.example.com/x"); !isBlocked(err) {
		t.Errorf("CheckURL(private) = %v, want a *BlockedError", err)
	}
	u, _ := url.Parse("http://127.0.0.1:9/")
	if err := c.CheckURL(t.Context(), u.String()); !isBlocked(err) {
		t.Errorf("CheckURL(loopback, no allow-list) = %v, want a *BlockedError", err)
	}
}
