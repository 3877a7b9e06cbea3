package pagerduty

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ErrInvalidRoutingKey matches the *APIError of an event PagerDuty refused
// for its routing key: the key is wrong or its integration was deleted, and
// every page will fail until the configuration changes.
var ErrInvalidRoutingKey = errors.New("pagerduty: invalid routing key")

// APIError is PagerDuty's answer to an event it did not accept, from the
// Events API's JSON ({"status","message","errors"}) when it sent one.
type APIError struct {
	StatusCode int      // HTTP status
	Status     string   // PagerDuty's status, e.g. "invalid event"; "" when the answer was not its JSON
	Message    string   // PagerDuty's message, e.g. "Event object is invalid"; else the status text
	Errors     []string // PagerDuty's explanations, e.g. "Invalid routing key"
}

// Error names the HTTP status, PagerDuty's message and every explanation:
// the explanation is what says which field to fix.
func (e *APIError) Error() string {
	msg := "HTTP " + strconv.Itoa(e.StatusCode)
	if e.Status != "" {
		msg += " " + e.Status
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if len(e.Errors) > 0 {
		msg += ": " + strings.Join(e.Errors, "; ")
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalidRoutingKey) true for a refused key:
// PagerDuty answers 400 with "Invalid routing key", or a length complaint
// about 'routing_key'.
func (e *APIError) Is(target error) bool {
	if target != ErrInvalidRoutingKey || e.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, s := range e.Errors {
		if l := strings.ToLower(s); strings.Contains(l, "routing key") || strings.Contains(l, "routing_key") {
			return true
		}
	}
	return false
}

// maxErrorBody bounds how much of a refusal the transport keeps.
const maxErrorBody = 64 << 10

// apiError reads the refusal the transport kept. The routing key is
// scrubbed from PagerDuty's text, should it ever echo it.
func (c *Client) apiError(rt *transport) *APIError {
	e := &APIError{StatusCode: rt.status}
	var body struct {
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Errors  json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(rt.body, &body) == nil {
		e.Status, e.Message = c.scrub(body.Status), c.scrub(body.Message)
		var list []string
		var one string
		switch {
		case json.Unmarshal(body.Errors, &list) == nil:
		case json.Unmarshal(body.Errors, &one) == nil && one != "":
			list = []string{one}
		}
		for _, s := range list {
			e.Errors = append(e.Errors, c.scrub(s))
		}
	}
	if e.Message == "" {
		// Not PagerDuty's JSON: a load balancer's HTML page, an empty body.
		e.Message = http.StatusText(rt.status)
	}
	return e
}

// scrub keeps the routing key out of a text.
func (c *Client) scrub(s string) string {
	if c.routingKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.routingKey, "[redacted]")
}

// transport remembers one call's answer: its status and headers, and the
// body of a refusal (go-pagerduty decodes it as a REST API error and loses
// the Events API's message), or the error when there was no answer.
type transport struct {
	base   http.RoundTripper
	status int
	header http.Header
	body   []byte
	err    error
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.status, t.header, t.body, t.err = 0, nil, nil, err
		return nil, err
	}
	t.status, t.header, t.body, t.err = resp.StatusCode, resp.Header.Clone(), nil, nil
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		if rerr != nil {
			return nil, fmt.Errorf("read HTTP %d answer: %w", resp.StatusCode, rerr)
		}
		t.body = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, nil
}
