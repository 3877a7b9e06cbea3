// Package webhook posts status page notifications to subscribers' webhook
// URLs, as Atlassian Statuspage's webhook subscriptions do: Statuspage's
// JSON for incident and component changes, signed with HMAC-SHA256 the way
// Herald signs automation calls (herald.SignAutomation), answered with a
// 2xx within 30 seconds.
//
// A subscriber chooses the URL, so the URL is untrusted: it must not reach
// Herald's own network (SSRF). CheckURL refuses it at subscription time when
// it is not https or any address of its host is not public; Client checks it
// again before each post, and its dialler refuses, at the moment of
// connecting, any address that is not public, so a name that resolves
// elsewhere between the check and the post (DNS rebinding) still cannot
// reach a private address. Redirects are not followed, and no proxy from
// the environment is used. An allow-list of prefixes lets tests post to
// local servers.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

// Headers every webhook carries. The signature is herald.SignAutomation's:
// HMAC-SHA256 with the subscription's secret over the Unix timestamp, a dot
// and the body, as v1=<hex>; a receiver checks it as
// herald.VerifyAutomation does.
const (
	SignatureHeader   = herald.AutomationSignatureHeader // X-Herald-Signature: v1=<hex>
	TimestampHeader   = herald.AutomationTimestampHeader // X-Herald-Timestamp: Unix seconds
	IdempotencyHeader = "Idempotency-Key"                // the delivery id, the same on every attempt
	UserAgent         = "Herald-Webhooks/1"
)

// Timeout is how long an endpoint has to answer, connection included: the
// subscription's promise is a 2xx within 30 seconds.
const Timeout = 30 * time.Second

// maxBody is how much of an answer is read (and discarded, so the
// connection can be reused): a receiver cannot make Herald read a stream.
const maxBody = 64 << 10

// Sign returns the X-Herald-Signature value for body at ts.
func Sign(secret string, ts time.Time, body []byte) string {
	return herald.SignAutomation(secret, ts, body)
}

// Config configures a Client. The zero value posts to public https URLs.
type Config struct {
	// Allow lists prefixes a webhook may reach although they are not
	// public, and where http is accepted: for tests and local receivers
	// (127.0.0.1/32). Empty in production.
	Allow    []netip.Prefix
	Resolver Resolver         // net.DefaultResolver when nil
	Timeout  time.Duration    // Timeout when 0
	Now      func() time.Time // the signature's timestamp; time.Now when nil
	// RootCAs are the certificate authorities trusted; the system's when
	// nil. For tests (a local receiver's certificate).
	RootCAs *x509.CertPool
}

// Client posts webhooks. It is safe for concurrent use and keeps
// connections alive between posts.
type Client struct {
	allow    []netip.Prefix
	resolver Resolver
	now      func() time.Time
	http     *http.Client
}

// New makes a client.
func New(c Config) *Client {
	cl := &Client{allow: c.Allow, resolver: c.Resolver, now: c.Now}
	if cl.resolver == nil {
		cl.resolver = net.DefaultResolver
	}
	if cl.now == nil {
		cl.now = time.Now
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = Timeout
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: cl.control}
	cl.http = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			// No Proxy: a proxy from the environment would be dialled
			// instead of the subscriber's address, and would reach
			// whatever the URL names on Herald's behalf.
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return cl.dial(ctx, dialer, network, addr)
			},
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           100,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			TLSClientConfig:        &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: maxBody,
		},
		// A redirect could lead anywhere, a private address included, and
		// Statuspage does not follow one either: a 3xx is the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return cl
}

// CheckURL is CheckURL with the client's resolver and allow-list: what a
// subscription form calls before it stores a URL.
func (c *Client) CheckURL(ctx context.Context, raw string) error {
	return CheckURL(ctx, c.resolver, raw, c.allow)
}

// dial resolves the host with the client's resolver and connects to its
// addresses in turn. It does not judge them: the dialer's Control does, on
// the address the socket is about to connect to, so nothing between a
// check and the connection can change what is reached.
func (c *Client) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	name := ""
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		name = host
		addrs, err = c.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%s resolves to no address", host)
		}
	}
	var blocked, other error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		var be *BlockedError
		switch {
		case errors.As(err, &be):
			if blocked == nil {
				be.Host = name
				blocked = err
			}
		case other == nil:
			other = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	// A network failure on one address is worth a retry; only when every
	// address was refused is the refusal the answer.
	if other != nil {
		return nil, other
	}
	return nil, blocked
}

// control refuses, before the socket connects, an address that is not
// public and not allow-listed.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: cannot read the address dialled (%s): %w", address, err)
	}
	return checkAddr(ap.Addr(), c.allow)
}

// Result is what came of a post: the endpoint's status code (0 when it did
// not answer) and how long the post took.
type Result struct {
	StatusCode int
	Duration   time.Duration
}

// StatusError is an answer other than 2xx.
type StatusError struct {
	Host     string // the endpoint's host (never the whole URL: it may carry a token)
	Code     int
	Location string // a redirect's target host, for a 3xx
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("webhook: %s answered %d %s", e.Host, e.Code, http.StatusText(e.Code))
	if e.Code >= 300 && e.Code < 400 {
		to := ""
		if e.Location != "" {
			to = " to " + e.Location
		}
		msg += fmt.Sprintf(" (a redirect%s; webhooks do not follow redirects)", to)
	}
	return msg
}

// Post sends payload to url, signed with secret, and says how it went. A
// failure worth retrying is a *comms.TemporaryError: a 5xx, 408, 425 or
// 429 (with the endpoint's Retry-After), a timeout, a refused or reset
// connection, a name that does not resolve now. Any other failure is
// permanent: another 4xx or a 3xx (a *StatusError), a URL refused
// (ErrInvalidURL) or an address that is not public (*BlockedError), at the
// check before sending or when dialling. Errors name the endpoint's host,
// never its URL. The Result is filled as far as the post went.
//
// idempotencyKey is the delivery's id, the same on every attempt, so a
// receiver can ignore a retry of a webhook it took.
func (c *Client) Post(ctx context.Context, rawURL, secret, idempotencyKey string, payload []byte) (Result, error) {
	start := time.Now()
	if secret == "" {
		return Result{}, errors.New("webhook: a signing secret is required")
	}
	u, err := checkURL(ctx, c.resolver, rawURL, c.allow)
	if err != nil {
		var be *BlockedError
		if errors.Is(err, ErrInvalidURL) || errors.As(err, &be) || ctx.Err() != nil {
			return Result{Duration: time.Since(start)}, err
		}
		return Result{Duration: time.Since(start)}, &comms.TemporaryError{Err: err}
	}
	host := u.Host
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return Result{}, fmt.Errorf("webhook: %s: %w", host, err)
	}
	now := c.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(TimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(SignatureHeader, Sign(secret, now, payload))
	if idempotencyKey != "" {
		req.Header.Set(IdempotencyHeader, idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		res := Result{Duration: time.Since(start)}
		// net/http's error quotes the whole URL, token and all: keep what
		// went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var be *BlockedError
		switch {
		case errors.As(err, &be):
			return res, be
		case ctx.Err() != nil:
			// The caller gave up (shutting down): not the endpoint's fault.
			return res, fmt.Errorf("webhook: %s: %w", host, ctx.Err())
		}
		what := "could not be reached"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			what = fmt.Sprintf("did not answer within %s", c.http.Timeout)
		}
		return res, &comms.TemporaryError{Err: fmt.Errorf("webhook: %s %s: %w", host, what, err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	res := Result{StatusCode: resp.StatusCode, Duration: time.Since(start)}
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return res, nil
	case code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests:
		return res, &comms.TemporaryError{Err: &StatusError{Host: host, Code: code},
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	}
	se := &StatusError{Host: host, Code: code}
	if code >= 300 && code < 400 {
		se.Location = herald.EndpointHost(resp.Header.Get("Location"))
		if se.Location == "the endpoint" {
			se.Location = ""
		}
	}
	return res, se
}

// maxRetryAfter bounds the wait an endpoint may ask for: the engine's own
// backoff and give-up bound decide beyond it.
const maxRetryAfter = 24 * time.Hour

func retryAfter(v string, now time.Time) time.Duration {
	d := comms.RetryAfter(v, now)
	if d < 0 || d > maxRetryAfter {
		// A huge number of seconds overflows to a negative duration.
		return maxRetryAfter
	}
	return d
}
