package pagerduty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
)

const (
	routingKey = "R0uT1nGkEyD0N0tL3aK0123456789abc"
	consoleURL = "https://herald.example.com"
	incidentID = "inc_01JD9K4M2Q7X"
)

func newClient(t *testing.T, eventsURL string, edit ...func(*pagerduty.Config)) *pagerduty.Client {
	t.Helper()
	cfg := pagerduty.Config{RoutingKey: routingKey, EventsURL: eventsURL, ConsoleURL: consoleURL}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := pagerduty.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// noKey fails the test if err's text carries the routing key.
func noKey(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if strings.Contains(err.Error(), routingKey) {
		t.Errorf("error carries the routing key: %v", err)
	}
	if te, ok := errors.AsType[*comms.TemporaryError](err); ok && strings.Contains(te.Err.Error(), routingKey) {
		t.Errorf("TemporaryError.Err carries the routing key: %v", te.Err)
	}
}

func incident(impact herald.Impact) herald.Incident {
	return herald.Incident{
		ID:           incidentID,
		Kind:         herald.KindIncident,
		Name:         "Card payments failing in af-south-1",
		Status:       herald.Investigating,
		Impact:       impact,
		ComponentIDs: []string{"card-payments", "payouts"},
		StartedAt:    time.Date(2026, 11, 25, 9, 14, 3, 0, time.FixedZone("SAST", 2*60*60)),
	}
}

func page(kind herald.DeliveryKind, in herald.Incident) comms.Message {
	return comms.Message{
		Delivery: herald.Delivery{ID: "dlv_1", IncidentID: in.ID, Channel: herald.ChannelPagerDuty, Kind: kind,
			Subject: "[Kredete] SEV1: " + in.Name, Body: "Card authorisations fail for 40% of customers."},
		Incident:  in,
		Commander: "Ada Obi",
	}
}

// wire is what PagerDuty received, as generic JSON.
func wire(t *testing.T, ev pdtest.Event) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(ev.Raw, &v); err != nil {
		t.Fatalf("decode what PagerDuty received: %v", err)
	}
	return v
}

func TestDeliverTrigger(t *testing.T) {
	tests := []struct {
		impact   herald.Impact
		severity string
	}{
		{herald.ImpactCritical, "critical"},
		{herald.ImpactMajor, "error"},
		{herald.ImpactMinor, "warning"},
		{herald.ImpactNone, "info"},
	}
	for _, tt := range tests {
		t.Run(string(tt.impact), func(t *testing.T) {
			srv := pdtest.New(t, routingKey)
			c := newClient(t, srv.EventsURL())
			in := incident(tt.impact)
			rcpt, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, in))
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if rcpt.ProviderID != incidentID {
				t.Errorf("ProviderID = %q, want the dedup_key %q", rcpt.ProviderID, incidentID)
			}
			events := srv.Events()
			if len(events) != 1 {
				t.Fatalf("PagerDuty accepted %d events, want 1", len(events))
			}
			link := consoleURL + "/console/incidents/" + incidentID
			want := map[string]any{
				"routing_key":  routingKey,
				"event_action": "trigger",
				"dedup_key":    incidentID,
				"client":       "Herald",
				"client_url":   link,
				"links":        []any{map[string]any{"href": link, "text": "Incident in Herald"}},
				"payload": map[string]any{
					"summary":   "[Kredete] SEV1: Card payments failing in af-south-1",
					"source":    "herald",
					"severity":  tt.severity,
					"timestamp": "2026-11-25T07:14:03Z",
					"custom_details": map[string]any{
						"incident_id":   incidentID,
						"name":          "Card payments failing in af-south-1",
						"status":        "investigating",
						"impact":        string(tt.impact),
						"component_ids": []any{"card-payments", "payouts"},
						"body":          "Card authorisations fail for 40% of customers.",
						"commander":     "Ada Obi",
					},
				},
			}
			if diff := cmp.Diff(want, wire(t, events[0])); diff != "" {
				t.Errorf("event PagerDuty received (-want +got):\n%s", diff)
			}
			if got := srv.AlertStatus(incidentID); got != pdtest.AlertTriggered {
				t.Errorf("alert is %q, want triggered", got)
			}
			if got := pagerduty.Severity(tt.impact); got != tt.severity {
				t.Errorf("Severity(%s) = %q, want %q", tt.impact, got, tt.severity)
			}
		})
	}
}

// Without a subject the summary is the incident's name; without a console
// URL there is no link; the source is configurable; an incident without
// components still sends a list.
func TestDeliverTriggerMinimal(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	c := newClient(t, srv.EventsURL(), func(c *pagerduty.Config) { c.ConsoleURL = ""; c.Source = "herald.kredete.com" })
	in := incident(herald.ImpactMajor)
	in.ComponentIDs = nil
	in.StartedAt = time.Time{}
	m := comms.Message{Delivery: herald.Delivery{Kind: herald.KindPageTrigger}, Incident: in}
	if _, err := c.Deliver(t.Context(), m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	want := map[string]any{
		"routing_key":  routingKey,
		"event_action": "trigger",
		"dedup_key":    incidentID,
		"client":       "Herald",
		"payload": map[string]any{
			"summary":  "Card payments failing in af-south-1",
			"source":   "herald.kredete.com",
			"severity": "error",
			"custom_details": map[string]any{
				"incident_id":   incidentID,
				"name":          "Card payments failing in af-south-1",
				"status":        "investigating",
				"impact":        "major",
				"component_ids": []any{},
			},
		},
	}
	if diff := cmp.Diff(want, wire(t, srv.Events()[0])); diff != "" {
		t.Errorf("event PagerDuty received (-want +got):\n%s", diff)
	}
}

// PagerDuty caps the summary at 1024 characters; the fake refuses more.
func TestDeliverTriggerTruncatesSummary(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	c := newClient(t, srv.EventsURL())
	m := page(herald.KindPageTrigger, incident(herald.ImpactCritical))
	m.Delivery.Subject = strings.Repeat("Paiements refusés ", 100) // 1800 characters, some of two bytes
	if _, err := c.Deliver(t.Context(), m); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	got := srv.Events()[0].Payload.Summary
	if n := utf8.RuneCountInString(got); n > pagerduty.MaxSummary || n < pagerduty.MaxSummary-2 {
		t.Errorf("summary has %d characters, want just under %d", n, pagerduty.MaxSummary)
	}
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || !strings.HasPrefix(m.Delivery.Subject, strings.TrimSuffix(got, "…")) {
		t.Errorf("summary is not the subject cut with an ellipsis: …%q", got[len(got)-20:])
	}
}

func TestDeliverResolve(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	c := newClient(t, srv.EventsURL())
	in := incident(herald.ImpactCritical)
	if _, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, in)); err != nil {
		t.Fatalf("trigger: %v", err)
	}
	in.Status = "resolved"
	rcpt, err := c.Deliver(t.Context(), page(herald.KindPageResolve, in))
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if rcpt.ProviderID != incidentID {
		t.Errorf("ProviderID = %q, want %q", rcpt.ProviderID, incidentID)
	}
	events := srv.Events()
	if len(events) != 2 {
		t.Fatalf("PagerDuty accepted %d events, want 2", len(events))
	}
	want := map[string]any{"routing_key": routingKey, "event_action": "resolve", "dedup_key": incidentID}
	if diff := cmp.Diff(want, wire(t, events[1])); diff != "" {
		t.Errorf("resolve PagerDuty received (-want +got):\n%s", diff)
	}
	if got := srv.AlertStatus(incidentID); got != pdtest.AlertResolved {
		t.Errorf("alert is %q, want resolved", got)
	}
	// Resolving again is harmless: PagerDuty drops it and answers 202.
	if _, err := c.Deliver(t.Context(), page(herald.KindPageResolve, in)); err != nil {
		t.Errorf("second resolve: %v", err)
	}
	// A message built with the delivery only still resolves the right alert.
	m := comms.Message{Delivery: herald.Delivery{IncidentID: "inc_other", Kind: herald.KindPageResolve}}
	if rcpt, err := c.Deliver(t.Context(), m); err != nil || rcpt.ProviderID != "inc_other" {
		t.Errorf("resolve by the delivery's incident id: %+v, %v", rcpt, err)
	}
}

func TestDeliverRefusesWhatItCannotSend(t *testing.T) {
	tests := []struct {
		name string
		m    comms.Message
		want string
	}{
		{"another kind", page(herald.KindMessage, incident(herald.ImpactMajor)), `"message"`},
		{"no kind", page("", incident(herald.ImpactMajor)), `""`},
		{"no incident id", comms.Message{Delivery: herald.Delivery{Kind: herald.KindPageTrigger}}, "no incident id"},
		{"resolve without incident id", comms.Message{Delivery: herald.Delivery{Kind: herald.KindPageResolve}}, "no incident id"},
		{"incident id too long", func() comms.Message {
			in := incident(herald.ImpactMajor)
			in.ID = strings.Repeat("x", 256)
			return page(herald.KindPageTrigger, in)
		}(), "255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pdtest.New(t, routingKey)
			c := newClient(t, srv.EventsURL())
			_, err := c.Deliver(t.Context(), tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %s", err, tt.want)
			}
			if ok, _ := comms.Retryable(err); ok {
				t.Errorf("retryable: %v", err)
			}
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d requests reached PagerDuty", n)
			}
		})
	}
}

func TestDeliverTemporaryErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, 30 * time.Second},
		{"429 without Retry-After", http.StatusTooManyRequests, 0},
		{"408", http.StatusRequestTimeout, 0},
		{"500", http.StatusInternalServerError, 0},
		{"502", http.StatusBadGateway, 0},
		{"503 with Retry-After", http.StatusServiceUnavailable, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := pdtest.New(t, routingKey)
			srv.FailNext(1, tt.status, tt.retryAfter)
			c := newClient(t, srv.EventsURL())
			m := page(herald.KindPageTrigger, incident(herald.ImpactCritical))
			_, err := c.Deliver(t.Context(), m)
			if _, ok := errors.AsType[*comms.TemporaryError](err); !ok {
				t.Fatalf("err = %v, want a *comms.TemporaryError", err)
			}
			if ok, after := comms.Retryable(err); !ok || after != tt.retryAfter {
				t.Errorf("Retryable = %v, %v; want true, %v", ok, after, tt.retryAfter)
			}
			apiErr, ok := errors.AsType[*pagerduty.APIError](err)
			if !ok || apiErr.StatusCode != tt.status {
				t.Errorf("APIError = %+v, want status %d", apiErr, tt.status)
			}
			noKey(t, err)
			// The fault is spent: the retry goes through.
			if _, err := c.Deliver(t.Context(), m); err != nil {
				t.Errorf("retry: %v", err)
			}
			if n := len(srv.Events()); n != 1 {
				t.Errorf("PagerDuty accepted %d events, want 1", n)
			}
		})
	}
}

// answer is a server that answers every request with status and body, as
// PagerDuty or something in front of it might.
func answer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDeliverPermanentErrors(t *testing.T) {
	t.Run("invalid event", func(t *testing.T) {
		// PagerDuty's documented answer to an invalid event.
		srv := answer(t, http.StatusBadRequest,
			`{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing or blank","'payload.severity' is invalid"]}`)
		c := newClient(t, srv.URL+"/v2/enqueue")
		_, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, incident(herald.ImpactMinor)))
		apiErr, ok := errors.AsType[*pagerduty.APIError](err)
		if !ok {
			t.Fatalf("err = %v, want an *APIError", err)
		}
		want := &pagerduty.APIError{StatusCode: 400, Status: "invalid event", Message: "Event object is invalid",
			Errors: []string{"'payload.summary' is missing or blank", "'payload.severity' is invalid"}}
		if diff := cmp.Diff(want, apiErr); diff != "" {
			t.Errorf("APIError (-want +got):\n%s", diff)
		}
		for _, s := range []string{"trigger", "400", "Event object is invalid", "'payload.summary' is missing or blank", "'payload.severity' is invalid"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
		if ok, _ := comms.Retryable(err); ok {
			t.Errorf("retryable: %v", err)
		}
		if errors.Is(err, pagerduty.ErrInvalidRoutingKey) {
			t.Errorf("an invalid payload matches ErrInvalidRoutingKey")
		}
		noKey(t, err)
	})

	t.Run("wrong routing key", func(t *testing.T) {
		srv := pdtest.New(t, "0123456789abcdef0123456789abcdef")
		c := newClient(t, srv.EventsURL())
		_, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, incident(herald.ImpactCritical)))
		if !errors.Is(err, pagerduty.ErrInvalidRoutingKey) || !strings.Contains(err.Error(), "Invalid routing key") {
			t.Fatalf("err = %v, want ErrInvalidRoutingKey naming PagerDuty's error", err)
		}
		if ok, _ := comms.Retryable(err); ok {
			t.Errorf("retryable: %v", err)
		}
		noKey(t, err)
		if n := len(srv.Events()); n != 0 {
			t.Errorf("PagerDuty accepted %d events", n)
		}
	})

	t.Run("other 4xx", func(t *testing.T) {
		for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge} {
			srv := pdtest.New(t, routingKey)
			srv.FailNext(1, status, 0)
			c := newClient(t, srv.EventsURL())
			_, err := c.Deliver(t.Context(), page(herald.KindPageResolve, incident(herald.ImpactCritical)))
			apiErr, ok := errors.AsType[*pagerduty.APIError](err)
			if !ok || apiErr.StatusCode != status {
				t.Errorf("HTTP %d: err = %v, want an *APIError with the status", status, err)
			}
			if ok, _ := comms.Retryable(err); ok {
				t.Errorf("HTTP %d retryable: %v", status, err)
			}
		}
	})

	t.Run("routing key echoed back", func(t *testing.T) {
		// Should PagerDuty ever quote the key, Herald does not pass it on.
		srv := answer(t, http.StatusBadRequest, fmt.Sprintf(
			`{"status":"invalid event","message":"Event object is invalid for %s","errors":["Invalid routing key %s"]}`, routingKey, routingKey))
		c := newClient(t, srv.URL)
		_, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, incident(herald.ImpactCritical)))
		if !errors.Is(err, pagerduty.ErrInvalidRoutingKey) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("err = %v, want ErrInvalidRoutingKey with the key redacted", err)
		}
		noKey(t, err)
	})
}

func TestDeliverNetworkErrorsAreTemporary(t *testing.T) {
	m := page(herald.KindPageTrigger, incident(herald.ImpactCritical))

	t.Run("connection refused", func(t *testing.T) {
		srv := pdtest.New(t, routingKey)
		c := newClient(t, srv.EventsURL())
		srv.Close()
		_, err := c.Deliver(t.Context(), m)
		if ok, after := comms.Retryable(err); !ok || after != 0 {
			t.Errorf("err = %v, want retryable with no wait", err)
		}
		noKey(t, err)
	})

	t.Run("timeout", func(t *testing.T) {
		srv := pdtest.New(t, routingKey)
		srv.SetLatency(time.Minute) // ends when the client hangs up
		c := newClient(t, srv.EventsURL(), func(c *pagerduty.Config) {
			c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
		})
		_, err := c.Deliver(t.Context(), m)
		if ok, _ := comms.Retryable(err); !ok {
			t.Errorf("err = %v, want retryable", err)
		}
		noKey(t, err)
		if n := len(srv.Events()); n != 0 {
			t.Errorf("PagerDuty accepted %d events", n)
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		srv := pdtest.New(t, routingKey)
		srv.SetLatency(time.Minute)
		c := newClient(t, srv.EventsURL())
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Deliver(ctx, m)
		if ok, _ := comms.Retryable(err); !ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want retryable and context.DeadlineExceeded", err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		// The caller gave up (shutdown): not a failure to retry later.
		srv := pdtest.New(t, routingKey)
		c := newClient(t, srv.EventsURL())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Deliver(ctx, m)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if ok, _ := comms.Retryable(err); ok {
			t.Errorf("cancelled delivery retryable: %v", err)
		}
		if n := srv.Requests(); n != 0 {
			t.Errorf("%d requests reached PagerDuty", n)
		}
	})
}

// A 202 whose answer cannot be read is still an accepted event: the
// dedup_key is Herald's own.
func TestDeliverUnreadableAcceptance(t *testing.T) {
	srv := answer(t, http.StatusAccepted, `{"status":"succ`)
	c := newClient(t, srv.URL+"/v2/enqueue")
	rcpt, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, incident(herald.ImpactCritical)))
	if err != nil || rcpt.ProviderID != incidentID {
		t.Errorf("Deliver = %+v, %v; want the incident's dedup_key", rcpt, err)
	}
}

// The events URL may be the enqueue URL, behind a path prefix (a proxy),
// with a trailing slash, or a bare origin.
func TestEventsURLForms(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	proxy := httptest.NewServer(http.StripPrefix("/pagerduty", srv.Config.Handler))
	t.Cleanup(proxy.Close)
	for _, u := range []string{srv.EventsURL(), srv.EventsURL() + "/", srv.URL, srv.URL + "/", proxy.URL + "/pagerduty/v2/enqueue"} {
		c := newClient(t, u)
		if _, err := c.Deliver(t.Context(), page(herald.KindPageResolve, incident(herald.ImpactCritical))); err != nil {
			t.Errorf("events URL %s: %v", u, err)
		}
	}
	if n := len(srv.Events()); n != 5 {
		t.Errorf("PagerDuty accepted %d events, want 5", n)
	}
}

type countingTransport struct{ n int }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return http.DefaultTransport.RoundTrip(r)
}

func TestInjectedHTTPClient(t *testing.T) {
	srv := pdtest.New(t, routingKey)
	rt := &countingTransport{}
	c := newClient(t, srv.EventsURL(), func(c *pagerduty.Config) { c.HTTPClient = &http.Client{Transport: rt, Timeout: 5 * time.Second} })
	if _, err := c.Deliver(t.Context(), page(herald.KindPageTrigger, incident(herald.ImpactCritical))); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if rt.n != 1 {
		t.Errorf("injected transport used %d times, want 1", rt.n)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ok := pagerduty.Config{RoutingKey: routingKey}
	tests := []struct {
		name string
		edit func(*pagerduty.Config)
	}{
		{"no routing key", func(c *pagerduty.Config) { c.RoutingKey = "" }},
		{"routing key too short", func(c *pagerduty.Config) { c.RoutingKey = routingKey[:31] }},
		{"routing key with a space", func(c *pagerduty.Config) { c.RoutingKey = routingKey[:31] + " " }},
		{"REST API token", func(c *pagerduty.Config) { c.RoutingKey = "u+" + routingKey[:18] }},
		{"events URL without scheme", func(c *pagerduty.Config) { c.EventsURL = "events.pagerduty.com/v2/enqueue" }},
		{"events URL to another path", func(c *pagerduty.Config) { c.EventsURL = "https://events.pagerduty.com/v2/change/enqueue" }},
		{"relative console URL", func(c *pagerduty.Config) { c.ConsoleURL = "/console" }},
	}
	if _, err := pagerduty.New(ok); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := pagerduty.New(cfg)
			if err == nil {
				t.Fatal("New: no error")
			}
			if cfg.RoutingKey != "" && strings.Contains(err.Error(), cfg.RoutingKey) {
				t.Errorf("error carries the routing key: %v", err)
			}
		})
	}
}

func TestConfigRedactsRoutingKey(t *testing.T) {
	cfg := pagerduty.Config{RoutingKey: routingKey, EventsURL: pagerduty.DefaultEventsURL, ConsoleURL: consoleURL}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "pagerduty", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logged.String()} {
		if strings.Contains(s, routingKey) {
			t.Errorf("printed the routing key: %s", s)
		}
		if !strings.Contains(s, consoleURL) {
			t.Errorf("printed without the console URL: %s", s)
		}
	}
}

func TestIncidentURL(t *testing.T) {
	c := newClient(t, "", func(c *pagerduty.Config) { c.ConsoleURL = consoleURL + "/" })
	if got, want := c.IncidentURL("inc_1"), consoleURL+"/console/incidents/inc_1"; got != want {
		t.Errorf("IncidentURL = %q, want %q", got, want)
	}
	if got := newClient(t, "", func(c *pagerduty.Config) { c.ConsoleURL = "" }).IncidentURL("inc_1"); got != "" {
		t.Errorf("IncidentURL without a console URL = %q", got)
	}
}
