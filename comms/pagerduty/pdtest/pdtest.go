// Package pdtest runs a local server that answers like PagerDuty's Events
// API v2 (POST /v2/enqueue with a JSON event): 202 with a dedup_key for an
// event it accepts (generated for a trigger without one), 400 "invalid
// event" with PagerDuty's errors list for one it refuses (a routing key of
// the wrong length or not the expected one, a missing or unknown
// event_action, a trigger without summary, source or a valid severity, an
// acknowledge or resolve without dedup_key), 405 for another method and 413
// for a body over PagerDuty's 512 KB. Injected faults answer 429 (with
// Retry-After when asked) or 5xx, and injected latency lets a client time
// out. It records every event it accepted and can wait for them without
// sleeping.
//
// It also signs V3 webhooks as PagerDuty does (SignWebhook,
// NewWebhookRequest), computed here independently of go-pagerduty and of
// package pagerduty, so a test that passes checks both against PagerDuty's
// documented rule.
package pdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// EnqueuePath is where PagerDuty takes events.
const EnqueuePath = "/v2/enqueue"

// MaxBody is PagerDuty's limit on an event's size.
const MaxBody = 512 << 10

// Event is an event the server accepted, decoded as PagerDuty reads it.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger, acknowledge, resolve
	DedupKey    string   `json:"dedup_key"`    // as sent; "" when the trigger had none
	Payload     *Payload `json:"payload"`
	Links       []Link   `json:"links"`
	Images      []Image  `json:"images"`
	Client      string   `json:"client"`
	ClientURL   string   `json:"client_url"`

	// Key is the dedup_key the server answered: DedupKey, or the one it
	// generated for a trigger without.
	Key string `json:"-"`
	// Raw is the body exactly as received, for assertions on the wire.
	Raw json.RawMessage `json:"-"`
	// Received is when the server accepted it.
	Received time.Time `json:"-"`
}

// Payload is a trigger's payload (PD-CEF).
type Payload struct {
	Summary       string `json:"summary"`
	Source        string `json:"source"`
	Severity      string `json:"severity"`
	Timestamp     string `json:"timestamp"`
	Component     string `json:"component"`
	Group         string `json:"group"`
	Class         string `json:"class"`
	CustomDetails any    `json:"custom_details"`
}

// Link is a link attached to an alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Image is an image attached to an alert.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href"`
	Alt  string `json:"alt"`
}

// Alert states, as a dedup_key's alert moves through them.
const (
	AlertTriggered    = "triggered"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

type fault struct {
	status     int
	retryAfter time.Duration
}

// Server is the fake. Its embedded *httptest.Server's URL is the origin;
// EventsURL is the value for HERALD_PAGERDUTY_EVENTS_URL. Close it to see
// refused connections. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	routingKey string
	events     []Event
	alerts     map[string]string // dedup_key → alert state
	changed    chan struct{}     // closed and replaced when an event is accepted
	faults     []fault
	latency    time.Duration
	requests   int
}

// New starts a fake that accepts events for routingKey (any well-formed
// key when "") and closes it when the test ends.
func New(t testing.TB, routingKey string) *Server {
	t.Helper()
	s := &Server{routingKey: routingKey, alerts: map[string]string{}, changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// EventsURL is the enqueue endpoint to give the client.
func (s *Server) EventsURL() string { return s.URL + EnqueuePath }

// SetRoutingKey changes the routing key the server accepts ("" for any
// well-formed key); events with another get 400 "Invalid routing key".
func (s *Server) SetRoutingKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routingKey = key
}

// FailNext makes the next n requests fail with status: 429 with a JSON
// body as PagerDuty's throttle, 5xx with an HTML page as from PagerDuty's
// load balancers. A Retry-After header (whole seconds, rounded up) is set
// when retryAfter > 0.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status, retryAfter})
	}
}

// SetLatency delays every answer by d before the server acts on the
// request: a client that gives up meanwhile has sent nothing.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Events returns the events accepted so far, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyEvents()
}

func (s *Server) copyEvents() []Event {
	out := make([]Event, len(s.events))
	for i, e := range s.events {
		e.Raw = append(json.RawMessage(nil), e.Raw...)
		e.Links = append([]Link(nil), e.Links...)
		e.Images = append([]Image(nil), e.Images...)
		if e.Payload != nil {
			p := *e.Payload
			e.Payload = &p
		}
		out[i] = e
	}
	return out
}

// WaitEvents returns the accepted events once there are at least n, or an
// error when ctx ends first: a test waits on the engine's work without
// sleeping.
func (s *Server) WaitEvents(ctx context.Context, n int) ([]Event, error) {
	for {
		s.mu.Lock()
		if len(s.events) >= n {
			out := s.copyEvents()
			s.mu.Unlock()
			return out, nil
		}
		changed, have := s.changed, len(s.events)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("pdtest: %d of %d events: %w", have, n, ctx.Err())
		}
	}
}

// AlertStatus is the state of the alert with that dedup_key as PagerDuty
// would have it after the events accepted so far; "" when none was
// triggered. A trigger after a resolve opens a new alert.
func (s *Server) AlertStatus(dedupKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alerts[dedupKey]
}

// Requests is how many requests reached the server, refused ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		// The body is read first: only then does net/http notice a client
		// that hangs up, and end the request's context.
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return // the client gave up: nothing was done
		}
	}

	s.mu.Lock()
	var f *fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	if f != nil {
		writeFault(w, *f)
		return
	}

	if r.URL.Path != EnqueuePath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"status": "method not allowed", "message": "Only POST is allowed"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		invalid(w, "Could not read the request body")
		return
	}
	if len(body) > MaxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
			"status": "invalid event", "message": "Request entity too large",
			"errors": []string{"Event size exceeds the 512 KB limit"},
		})
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			invalid(w, fmt.Sprintf("'%s' is invalid", te.Field))
			return
		}
		invalid(w, "Malformed JSON: "+err.Error())
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if errs := validate(ev, s.routingKey); len(errs) > 0 {
		invalid(w, errs...)
		return
	}
	ev.Key = ev.DedupKey
	if ev.Key == "" {
		ev.Key = newKey() // a trigger without a key: PagerDuty makes one
	}
	ev.Raw = json.RawMessage(body)
	ev.Received = time.Now()
	s.events = append(s.events, ev)
	switch state := s.alerts[ev.Key]; ev.EventAction {
	case "trigger":
		if state == "" || state == AlertResolved {
			s.alerts[ev.Key] = AlertTriggered
		}
	case "acknowledge":
		if state == AlertTriggered {
			s.alerts[ev.Key] = AlertAcknowledged
		}
	case "resolve":
		// PagerDuty drops a resolve for no open alert, and answers 202.
		if state == AlertTriggered || state == AlertAcknowledged {
			s.alerts[ev.Key] = AlertResolved
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.Key})
}

var severities = map[string]bool{"critical": true, "error": true, "warning": true, "info": true}

// validate lists what PagerDuty would refuse in ev, in its words.
func validate(ev Event, routingKey string) []string {
	var errs []string
	switch {
	case ev.RoutingKey == "":
		errs = append(errs, "'routing_key' is missing or blank")
	case len(ev.RoutingKey) != 32:
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	case routingKey != "" && ev.RoutingKey != routingKey:
		errs = append(errs, "Invalid routing key")
	}
	if utf8.RuneCountInString(ev.DedupKey) > 255 {
		errs = append(errs, "Length of 'dedup_key' is incorrect (should be at most 255 characters)")
	}
	switch ev.EventAction {
	case "":
		errs = append(errs, "'event_action' is missing or blank")
	case "trigger":
		errs = append(errs, validatePayload(ev.Payload)...)
		for i, l := range ev.Links {
			if l.Href == "" {
				errs = append(errs, fmt.Sprintf("'links[%d].href' is missing or blank", i))
			}
		}
		for i, im := range ev.Images {
			if !strings.HasPrefix(im.Src, "https://") {
				errs = append(errs, fmt.Sprintf("'images[%d].src' must be an HTTPS URL", i))
			}
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
	default:
		errs = append(errs, "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
	}
	return errs
}

func validatePayload(p *Payload) []string {
	if p == nil {
		return []string{"'payload' is missing or blank"}
	}
	var errs []string
	switch n := utf8.RuneCountInString(p.Summary); {
	case strings.TrimSpace(p.Summary) == "":
		errs = append(errs, "'payload.summary' is missing or blank")
	case n > 1024:
		errs = append(errs, "Length of 'payload.summary' is incorrect (should be at most 1024 characters)")
	}
	if strings.TrimSpace(p.Source) == "" {
		errs = append(errs, "'payload.source' is missing or blank")
	}
	switch {
	case p.Severity == "":
		errs = append(errs, "'payload.severity' is missing or blank")
	case !severities[p.Severity]:
		errs = append(errs, "'payload.severity' is invalid (must be one of: critical, error, warning, info)")
	}
	if p.Timestamp != "" && !validTimestamp(p.Timestamp) {
		errs = append(errs, "'payload.timestamp' is invalid (should be an ISO 8601 timestamp)")
	}
	if p.CustomDetails != nil {
		if _, ok := p.CustomDetails.(map[string]any); !ok {
			if _, ok := p.CustomDetails.(string); !ok {
				errs = append(errs, "'payload.custom_details' is invalid (should be an object)")
			}
		}
	}
	return errs
}

// validTimestamp accepts RFC 3339 and the offset without a colon of
// PagerDuty's own examples (2015-07-17T08:42:58.315+0000).
func validTimestamp(s string) bool {
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return true
	}
	_, err := time.Parse("2006-01-02T15:04:05.999999999-0700", s)
	return err == nil
}

func invalid(w http.ResponseWriter, errs ...string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"status": "invalid event", "message": "Event object is invalid", "errors": errs,
	})
}

func writeFault(w http.ResponseWriter, f fault) {
	if f.retryAfter > 0 {
		secs := (f.retryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
	}
	switch {
	case f.status == http.StatusTooManyRequests:
		writeJSON(w, f.status, map[string]any{"status": "throttle event", "message": "Request Limit Exceeded"})
	case f.status >= 500:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.status, http.StatusText(f.status))
	default:
		writeJSON(w, f.status, map[string]any{"status": "error", "message": http.StatusText(f.status)})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newKey is 32 hex digits, as PagerDuty's generated dedup keys.
func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
