package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	pdapi "github.com/PagerDuty/go-pagerduty"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

var _ comms.Channel = (*Client)(nil)

// PagerDuty's limits on an event's fields.
const (
	MaxSummary  = 1024 // characters; PagerDuty's cap on payload.summary
	MaxDedupKey = 255  // characters; PagerDuty's cap on dedup_key
)

// Event actions of the Events API v2 that Herald sends.
const (
	actionTrigger = "trigger"
	actionResolve = "resolve"
)

// Deliver pages (herald.KindPageTrigger) or stands the page down
// (herald.KindPageResolve) for m's incident. The dedup_key is the incident's
// id, so a trigger sent again updates the open alert and the resolve closes
// it. The receipt's ProviderID is the dedup_key PagerDuty answered.
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	d := m.Delivery
	switch d.Kind {
	case herald.KindPageTrigger:
		return c.trigger(ctx, m)
	case herald.KindPageResolve:
		return c.resolve(ctx, incidentID(m))
	}
	return comms.Receipt{}, fmt.Errorf("pagerduty: cannot deliver a %q delivery: want %s or %s",
		d.Kind, herald.KindPageTrigger, herald.KindPageResolve)
}

// trigger sends m's incident as a trigger event: the summary is the
// delivery's subject (else the incident's name), the severity follows the
// impact, and the details carry what the on-call needs before opening
// Herald, with a link to the incident in the console.
func (c *Client) trigger(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	key := incidentID(m)
	if err := checkDedupKey(actionTrigger, key); err != nil {
		return comms.Receipt{}, err
	}
	return c.send(ctx, c.triggerEvent(m, key))
}

// resolve sends a resolve event for the incident's alert. PagerDuty answers
// 202 even when no alert is open under that key (it drops the event), so
// resolving twice is harmless.
func (c *Client) resolve(ctx context.Context, incidentID string) (comms.Receipt, error) {
	if err := checkDedupKey(actionResolve, incidentID); err != nil {
		return comms.Receipt{}, err
	}
	return c.send(ctx, &pdapi.V2Event{RoutingKey: c.routingKey, Action: actionResolve, DedupKey: incidentID})
}

// incidentID is the dedup_key: the incident's id, or the delivery's when
// the message was built without the incident.
func incidentID(m comms.Message) string {
	if m.Incident.ID != "" {
		return m.Incident.ID
	}
	return m.Delivery.IncidentID
}

func checkDedupKey(action, key string) error {
	switch {
	case key == "":
		// Without a dedup_key PagerDuty would open a new alert for every
		// trigger and could never resolve it.
		return fmt.Errorf("pagerduty: %s: no incident id for the dedup_key", action)
	case utf8.RuneCountInString(key) > MaxDedupKey:
		return fmt.Errorf("pagerduty: %s: incident id longer than PagerDuty's %d-character dedup_key", action, MaxDedupKey)
	}
	return nil
}

func (c *Client) triggerEvent(m comms.Message, key string) *pdapi.V2Event {
	in := m.Incident
	summary := strings.TrimSpace(m.Delivery.Subject)
	if summary == "" {
		summary = strings.TrimSpace(in.Name)
	}
	if summary == "" {
		summary = "Herald incident " + key
	}
	components := in.ComponentIDs
	if components == nil {
		components = []string{}
	}
	details := map[string]any{
		"incident_id":   key,
		"name":          in.Name,
		"status":        string(in.Status),
		"impact":        string(in.Impact),
		"component_ids": components,
	}
	if body := strings.TrimSpace(m.Delivery.Body); body != "" {
		details["body"] = body
	}
	if m.Commander != "" {
		details["commander"] = m.Commander
	}
	payload := &pdapi.V2Payload{
		Summary:  truncate(summary, MaxSummary),
		Source:   c.source,
		Severity: Severity(in.Impact),
		Details:  details,
	}
	if !in.StartedAt.IsZero() {
		payload.Timestamp = in.StartedAt.UTC().Format(time.RFC3339)
	}
	ev := &pdapi.V2Event{
		RoutingKey: c.routingKey,
		Action:     actionTrigger,
		DedupKey:   key,
		Client:     "Herald",
		Payload:    payload,
	}
	if u := c.IncidentURL(key); u != "" {
		// client_url is PagerDuty's "View in Herald"; the link shows in the
		// alert's details, the mobile app included.
		ev.ClientURL = u
		ev.Links = []any{map[string]string{"href": u, "text": "Incident in Herald"}}
	}
	return ev
}

// Severity is the PagerDuty severity for an impact. With PagerDuty's
// severity-based urgency, critical and error page at high urgency, warning
// and info at low. An impact Herald does not know pages as error: a page
// that was meant to go out should not go out quietly.
func Severity(i herald.Impact) string {
	switch i {
	case herald.ImpactCritical:
		return "critical"
	case herald.ImpactMajor:
		return "error"
	case herald.ImpactMinor:
		return "warning"
	case herald.ImpactNone:
		return "info"
	}
	return "error"
}

// truncate cuts s to at most n characters, the last an ellipsis, between
// runes so PagerDuty never gets half a character.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// send posts one event and sorts its failure. go-pagerduty gets a client
// made for this call: its transport remembers the answer (status, headers,
// and the body of a refusal), which go-pagerduty's errors drop.
func (c *Client) send(ctx context.Context, ev *pdapi.V2Event) (comms.Receipt, error) {
	rt := &transport{base: c.base}
	api := pdapi.NewClient("", pdapi.WithV2EventsAPIEndpoint(c.endpoint))
	api.HTTPClient = &http.Client{Transport: rt, Timeout: c.timeout, CheckRedirect: c.redirect, Jar: c.jar}
	res, err := api.ManageEventWithContext(ctx, ev)
	if err != nil {
		if rt.status >= 200 && rt.status <= 299 {
			// PagerDuty accepted the event (202) and its answer was lost or
			// garbled: the dedup_key is ours, so nothing is missing.
			return comms.Receipt{ProviderID: ev.DedupKey}, nil
		}
		return comms.Receipt{}, c.classify(ctx, ev.Action, rt, err)
	}
	key := res.DedupKey
	if key == "" {
		key = ev.DedupKey
	}
	return comms.Receipt{ProviderID: key}, nil
}

// classify sorts a failed request into worth retrying or not.
func (c *Client) classify(ctx context.Context, action string, rt *transport, err error) error {
	if rt.status == 0 { // no answer: refused, reset, timed out, cancelled
		if errors.Is(ctx.Err(), context.Canceled) {
			// The caller gave up (shutdown): not a failure of PagerDuty's.
			return fmt.Errorf("pagerduty: %s: %w", action, ctx.Err())
		}
		cause := rt.err
		if cause == nil {
			cause = err
		}
		// go-pagerduty flattens the cause to text (%v); keep its text, which
		// names the URL, and the transport's error for errors.Is.
		return &comms.TemporaryError{Err: &described{
			msg: c.scrub("pagerduty: " + action + ": " + err.Error()),
			err: cause,
		}}
	}
	apiErr := c.apiError(rt)
	switch {
	case rt.status == http.StatusTooManyRequests, rt.status == http.StatusRequestTimeout, rt.status >= 500:
		return &comms.TemporaryError{
			Err:        fmt.Errorf("pagerduty: %s: %w", action, apiErr),
			RetryAfter: comms.RetryAfter(rt.header.Get("Retry-After"), c.now()),
		}
	}
	return fmt.Errorf("pagerduty: %s: %w", action, apiErr)
}

// described is an error with its own text and its cause kept for errors.Is
// and errors.As.
type described struct {
	msg string
	err error
}

func (d *described) Error() string { return d.msg }
func (d *described) Unwrap() error { return d.err }
