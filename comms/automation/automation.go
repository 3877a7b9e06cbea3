// Package automation calls failover actions' automation endpoints: once an
// action may run, Herald posts it, signed (herald.SignAutomation), to the
// URL the catalogue names; the automation reports its steps back through
// Herald's callback API with the same signature. Calls go through the
// engine's durable delivery, so a slow or failing endpoint is retried with
// backoff, given up after the bound, and the commander is told.
package automation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

// Client posts automation calls.
type Client struct {
	secret      string
	callbackURL string
	http        *http.Client
	now         func() time.Time
}

// Config configures the client.
type Config struct {
	Secret string // HMAC-SHA256 key shared with the automation; never logged
	// PublicURL is Herald's base URL: the callback for step reports is
	// PublicURL/api/automation/actions/{id}.
	PublicURL  string
	HTTPClient *http.Client // 30 s timeout when nil
	Now        func() time.Time
}

var _ comms.Channel = (*Client)(nil)

// New makes a client.
func New(c Config) (*Client, error) {
	if c.Secret == "" {
		return nil, errors.New("automation: a signing secret is required (HERALD_AUTOMATION_SECRET)")
	}
	cl := &Client{secret: c.Secret, callbackURL: strings.TrimRight(c.PublicURL, "/"), http: c.HTTPClient, now: c.Now}
	if cl.http == nil {
		cl.http = &http.Client{Timeout: 30 * time.Second}
	}
	if cl.now == nil {
		cl.now = time.Now
	}
	return cl, nil
}

// Deliver posts the call. 2xx is accepted; 408, 425, 429 and 5xx are
// retried (Retry-After honoured); any other answer is permanent.
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	d := m.Delivery
	if d.Kind != herald.KindAutomation {
		return comms.Receipt{}, fmt.Errorf("automation: cannot deliver a %s", d.Kind)
	}
	body := []byte(d.Body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Recipient, bytes.NewReader(body))
	if err != nil {
		return comms.Receipt{}, fmt.Errorf("automation: %w", err)
	}
	now := c.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Automation/1")
	req.Header.Set(herald.AutomationTimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(herald.AutomationSignatureHeader, herald.SignAutomation(c.secret, now, body))
	// The receiver may see a retry of a call it took: the delivery id
	// stays the same across attempts, so it can ignore the copy.
	req.Header.Set("Idempotency-Key", d.ID)
	if c.callbackURL != "" {
		if actionID, _, ok := strings.Cut(d.Key, "/"); ok {
			req.Header.Set("X-Herald-Callback", c.callbackURL+"/api/automation/actions/"+actionID)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// net/http's error quotes the whole URL, token and all: keep only
		// what went wrong. Every transport failure is worth a retry.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return comms.Receipt{}, &comms.TemporaryError{Err: fmt.Errorf("automation: %s: %w", host(d.Recipient), err)}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		id := resp.Header.Get("X-Request-Id")
		if id == "" {
			id = d.ID
		}
		return comms.Receipt{ProviderID: id}, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout ||
		resp.StatusCode == http.StatusTooEarly || resp.StatusCode >= 500:
		return comms.Receipt{}, &comms.TemporaryError{Err: fmt.Errorf("automation: %s answered %d: %s", host(d.Recipient),
			resp.StatusCode, strings.TrimSpace(string(msg))), RetryAfter: comms.RetryAfter(resp.Header.Get("Retry-After"), c.now())}
	}
	return comms.Receipt{}, fmt.Errorf("automation: %s refused the call (%d): %s", host(d.Recipient), resp.StatusCode,
		strings.TrimSpace(string(msg)))
}

// host names the endpoint in errors by its host alone.
func host(raw string) string { return herald.EndpointHost(raw) }
