// Package sms sends Herald's text messages (executives' updates,
// regulator-deadline reminders) through Twilio's Messages API with the
// official twilio-go client, and verifies Twilio's signed status callbacks.
//
// Every message is held to at most two segments: a longer body is cut on a
// word boundary and ends with an ellipsis and a short pointer to the full
// text (" (more by email)" unless configured otherwise).
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kredete/herald/comms"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// MaxSegments is the most segments Herald lets one text take. Two segments
// still arrive as one message on every phone worth worrying about; more
// turns an update into an essay nobody reads on a lock screen.
const MaxSegments = 2

// DefaultSuffix ends a body that had to be cut to fit MaxSegments.
const DefaultSuffix = " (more by email)"

// defaultTimeout bounds one request when the caller gives no *http.Client,
// as twilio-go's own default client does.
const defaultTimeout = 10 * time.Second

// Config is what the adapter needs to reach Twilio. AuthToken is a secret:
// String, GoString and LogValue redact it, and no error carries it.
type Config struct {
	AccountSID string // AC…
	AuthToken  string // secret
	// From is the sender: an E.164 number (+15017122661) or a Messaging
	// Service SID (MG…), which lets Twilio pick the number.
	From string
	// APIURL, when set (HERALD_TWILIO_API_URL), replaces the scheme and host
	// (and prefixes the path) of every request: a local fake or a proxy.
	// twilio-go's base URL is fixed, so the adapter rewrites in its transport.
	APIURL string
	// StatusCallbackURL is the public URL of Herald's /webhooks/twilio/status.
	// Empty: Twilio sends no delivery updates.
	StatusCallbackURL string
	// Suffix ends a body cut to fit MaxSegments; DefaultSuffix when empty.
	Suffix string
	// HTTPClient supplies the transport, timeout and redirect policy;
	// nil: http.DefaultTransport, 10 s, redirects not followed.
	HTTPClient *http.Client
}

// String describes the configuration with the auth token redacted.
func (c Config) String() string {
	return fmt.Sprintf("sms.Config{AccountSID: %q, AuthToken: %s, From: %q, APIURL: %q, StatusCallbackURL: %q, Suffix: %q}",
		c.AccountSID, comms.Redacted(c.AuthToken), c.From, c.APIURL, c.StatusCallbackURL, c.Suffix)
}

// GoString keeps %#v from printing the auth token.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the auth token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", comms.Redacted(c.AuthToken)),
		slog.String("from", c.From),
		slog.String("api_url", c.APIURL),
		slog.String("status_callback_url", c.StatusCallbackURL),
	)
}

// Client sends texts through Twilio. It is safe for concurrent use.
type Client struct {
	cfg      Config
	api      *url.URL // nil: Twilio itself
	base     http.RoundTripper
	timeout  time.Duration
	redirect func(*http.Request, []*http.Request) error
	now      func() time.Time // for Retry-After given as a date
}

var (
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// New checks cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	// twilio-go refuses credentials that are not letters and digits at
	// request time (errors 21222, 21224); refuse them at start instead.
	if !strings.HasPrefix(cfg.AccountSID, "AC") || !alphanumeric.MatchString(cfg.AccountSID) {
		return nil, fmt.Errorf("sms: account SID %q: want AC followed by letters and digits", cfg.AccountSID)
	}
	if !alphanumeric.MatchString(cfg.AuthToken) {
		return nil, errors.New("sms: auth token: want a non-empty string of letters and digits")
	}
	switch {
	case strings.HasPrefix(cfg.From, "MG") && alphanumeric.MatchString(cfg.From):
	case e164.MatchString(cfg.From):
	default:
		return nil, fmt.Errorf("sms: from %q: want an E.164 number (+15017122661) or a Messaging Service SID (MG…)", cfg.From)
	}
	c := &Client{cfg: cfg, base: http.DefaultTransport, timeout: defaultTimeout, now: time.Now,
		redirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sms: API URL %q: want an absolute http or https URL", cfg.APIURL)
		}
		c.api = u
	}
	if cfg.StatusCallbackURL != "" {
		u, err := url.Parse(cfg.StatusCallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sms: status callback URL %q: want an absolute http or https URL", cfg.StatusCallbackURL)
		}
	}
	if c.cfg.Suffix == "" {
		c.cfg.Suffix = DefaultSuffix
	}
	// The suffix and an ellipsis must leave room for the message itself.
	if _, n, _ := segments(c.cfg.Suffix + "..."); n > 1 || len([]rune(c.cfg.Suffix)) > 60 {
		return nil, fmt.Errorf("sms: suffix %q: want at most 60 characters", c.cfg.Suffix)
	}
	if hc := cfg.HTTPClient; hc != nil {
		if hc.Transport != nil {
			c.base = hc.Transport
		}
		c.timeout = hc.Timeout // 0: the caller's context is the only bound
		if hc.CheckRedirect != nil {
			c.redirect = hc.CheckRedirect
		}
	}
	return c, nil
}

// Message is what Twilio accepted, and what Herald actually sent.
type Message struct {
	SID       string // SM…
	Status    string // queued, or accepted when a Messaging Service picks the sender
	To        string
	Body      string // as sent: cut when Truncated
	Segments  int    // as Herald counts them (herald.SMSSegments)
	Truncated bool   // the body was cut to fit MaxSegments
}

// Send texts body to the E.164 number to and returns Twilio's message SID
// as the receipt's ProviderID. See SendMessage.
func (c *Client) Send(ctx context.Context, to, body string) (comms.Receipt, error) {
	m, err := c.SendMessage(ctx, to, body)
	if err != nil {
		return comms.Receipt{}, err
	}
	return comms.Receipt{ProviderID: m.SID}, nil
}

// SendMessage texts body to the E.164 number to, cut to MaxSegments when
// longer (Message.Truncated says so). A rate limit, a 5xx or a network
// failure is a *comms.TemporaryError (with Twilio's Retry-After when it gave
// one); a refused number or recipient is an *APIError naming Twilio's code,
// matching ErrInvalidNumber, ErrUnsubscribed or ErrNotPermitted.
func (c *Client) SendMessage(ctx context.Context, to, body string) (Message, error) {
	return c.sendMessage(ctx, to, body, c.cfg.StatusCallbackURL)
}

// SendText texts body to the E.164 number to as SendMessage does (cut to
// fit, the same errors), but asks Twilio for no status callback: for a
// text that is no delivery of Herald's (a subscription's confirmation
// code), whose later states nobody records.
func (c *Client) SendText(ctx context.Context, to, body string) (Message, error) {
	return c.sendMessage(ctx, to, body, "")
}

func (c *Client) sendMessage(ctx context.Context, to, body, statusCallback string) (Message, error) {
	if err := ValidNumber(to); err != nil {
		return Message{}, fmt.Errorf("sms: send: %w", err)
	}
	if strings.TrimSpace(body) == "" {
		return Message{}, errors.New("sms: send: empty body")
	}
	text, truncated := Fit(body, c.cfg.Suffix, MaxSegments)

	params := &openapi.CreateMessageParams{}
	params.SetTo(to)
	params.SetBody(text)
	if strings.HasPrefix(c.cfg.From, "MG") {
		params.SetMessagingServiceSid(c.cfg.From)
	} else {
		params.SetFrom(c.cfg.From)
	}
	if statusCallback != "" {
		params.SetStatusCallback(statusCallback)
	}

	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel() // CreateMessage has read and closed the body by the time it returns
	}
	api, rt := c.service(ctx)
	res, err := api.CreateMessage(params)
	if err != nil {
		return Message{}, c.sendError(ctx, rt, err)
	}
	if res.Sid == nil || *res.Sid == "" {
		return Message{}, errors.New("sms: send: Twilio answered without a message SID")
	}
	_, n, _ := segments(text)
	m := Message{SID: *res.Sid, To: to, Body: text, Segments: n, Truncated: truncated}
	if res.Status != nil {
		m.Status = *res.Status
	}
	return m, nil
}

// service is twilio-go's API for one call. twilio-go sends with
// context.Background(); a transport made for this call carries ctx (and
// the timeout) to the requests, and keeps the last response's status and
// headers, which the library's errors drop.
func (c *Client) service(ctx context.Context) (*openapi.ApiService, *transport) {
	rt := &transport{base: c.base, api: c.api, ctx: ctx}
	tc := &client.Client{
		Credentials: client.NewCredentials(c.cfg.AccountSID, c.cfg.AuthToken),
		HTTPClient:  &http.Client{Transport: rt, CheckRedirect: c.redirect},
	}
	tc.SetAccountSid(c.cfg.AccountSID)
	// A RequestHandler of our own: NewRequestHandler would read TWILIO_EDGE
	// and TWILIO_REGION from the environment on every call.
	return openapi.NewApiService(&client.RequestHandler{Client: tc}), rt
}

// sendError sorts a failed request into worth retrying or not.
func (c *Client) sendError(ctx context.Context, rt *transport, err error) error {
	if rt.status == 0 { // no answer: refused, reset, timed out, cancelled
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return fmt.Errorf("sms: send: %w", ctx.Err())
		}
		return &comms.TemporaryError{Err: fmt.Errorf("sms: send: %w", err)}
	}
	if rt.status < 400 {
		// Twilio took the request but its answer was cut off or garbled:
		// the text has probably gone, and a retry would send it twice.
		return fmt.Errorf("sms: send: Twilio answered HTTP %d but the answer could not be read (the message may have been sent): %w", rt.status, err)
	}
	var apiErr error
	var rest *client.TwilioRestError
	if errors.As(err, &rest) {
		apiErr = &APIError{Status: rt.status, Code: rest.Code, Message: rest.Message, MoreInfo: rest.MoreInfo}
	} else {
		// Not Twilio's JSON (a proxy's HTML page, an empty body).
		apiErr = &APIError{Status: rt.status, Message: http.StatusText(rt.status)}
	}
	if rt.status == http.StatusTooManyRequests || rt.status >= 500 {
		return &comms.TemporaryError{
			Err:        fmt.Errorf("sms: send: %w", apiErr),
			RetryAfter: comms.RetryAfter(rt.header.Get("Retry-After"), c.now()),
		}
	}
	return fmt.Errorf("sms: send: %w", apiErr)
}

// ValidNumber reports whether to is an E.164 number: +, a country code and
// the subscriber number, digits only, at most 15 of them. The error matches
// ErrInvalidNumber.
func ValidNumber(to string) error {
	if !e164.MatchString(to) {
		return fmt.Errorf("%w: %q is not E.164 (want +, country code and number, digits only, e.g. +447700900123)", ErrInvalidNumber, to)
	}
	return nil
}

// transport points one call at APIURL (when set), carries the caller's
// context, and remembers the answer's status and headers.
type transport struct {
	base   http.RoundTripper
	api    *url.URL
	ctx    context.Context
	status int
	header http.Header
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx)
	if t.api != nil {
		r.URL.Scheme = t.api.Scheme
		r.URL.Host = t.api.Host
		r.URL.Path = strings.TrimSuffix(t.api.Path, "/") + r.URL.Path
		r.URL.RawPath = ""
		r.Host = t.api.Host
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.status, t.header = resp.StatusCode, resp.Header.Clone()
	return resp, nil
}
