package pagerduty

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
)

// Errors of an inbound webhook, for the handler to map to a status: a bad
// signature to 401 (PagerDuty's retries will not fix it, and nothing of the
// body is trusted), a malformed body to 400.
var (
	// ErrBadSignature: the request is unsigned, signed with no secret Herald
	// holds, its body was altered, or Herald holds no secret at all.
	ErrBadSignature = errors.New("pagerduty: webhook signature does not verify")
	// ErrMalformed: the body is not a V3 webhook Herald can read; the
	// error's text names the field.
	ErrMalformed = errors.New("pagerduty: malformed webhook")
)

// The V3 webhook event types Herald acts on. Others (incident.delegated,
// incident.responder.added, service.updated, ...) parse, and are Ignorable.
const (
	EventTriggered       = "incident.triggered"
	EventAcknowledged    = "incident.acknowledged"
	EventUnacknowledged  = "incident.unacknowledged"
	EventReassigned      = "incident.reassigned"
	EventAnnotated       = "incident.annotated"
	EventEscalated       = "incident.escalated"
	EventPriorityUpdated = "incident.priority_updated"
	EventResolved        = "incident.resolved"
	EventReopened        = "incident.reopened"
)

var recognised = map[string]bool{
	EventTriggered: true, EventAcknowledged: true, EventUnacknowledged: true, EventReassigned: true,
	EventAnnotated: true, EventEscalated: true, EventPriorityUpdated: true, EventResolved: true, EventReopened: true,
}

// MaxWebhookBody is the largest webhook body Verify reads. PagerDuty's
// events are a few kilobytes; go-pagerduty's verifier stops at 2 MB too.
const MaxWebhookBody = 2 << 20

// Verify checks the request's X-PagerDuty-Signature against each secret
// and accepts it when any verifies: during a rotation PagerDuty signs with
// the old and the new secret, and Herald may hold either or both. It leaves
// the body in place for the handler to read. Errors wrap ErrBadSignature,
// except for a body that cannot be read (ErrMalformed when too large).
func Verify(r *http.Request, secrets []string) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if r.Header.Get("X-PagerDuty-Signature") == "" {
		return fmt.Errorf("%w: no X-PagerDuty-Signature header", ErrBadSignature)
	}
	tried := 0
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		tried++
		// VerifySignature reads and restores the body; it is reset for
		// each secret all the same, should it ever stop restoring it.
		r.Body = io.NopCloser(bytes.NewReader(body))
		err := webhookv3.VerifySignature(r, secret)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, webhookv3.ErrMalformedHeader):
			return fmt.Errorf("%w: X-PagerDuty-Signature has no v1= signature", ErrBadSignature)
		case errors.Is(err, webhookv3.ErrMalformedBody):
			return fmt.Errorf("%w: empty body", ErrBadSignature)
		}
	}
	if tried == 0 {
		// Refusing is safer than accepting unsigned webhooks because a
		// secret was left out of the configuration.
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	}
	return fmt.Errorf("%w: no signature matches a configured secret", ErrBadSignature)
}

// readBody reads the whole body once and puts it back.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		r.Body = http.NoBody
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("pagerduty: webhook: read body: %w", err)
	}
	if len(b) > MaxWebhookBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxWebhookBody)
	}
	return b, nil
}

// Reference is PagerDuty's reference to another object: a user, a
// service, a team, an escalation policy, a priority.
type Reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"` // user_reference, service_reference, ...
	Summary string `json:"summary"`
	Self    string `json:"self"`
	HTMLURL string `json:"html_url"`
}

// EventClient is where an event was made ("PagerDuty", "Slack", ...).
type EventClient struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

// ConferenceBridge is an incident's call, when it has one.
type ConferenceBridge struct {
	ConferenceNumber string `json:"conference_number"`
	ConferenceURL    string `json:"conference_url"`
}

// Incident is the data of an incident event, as PagerDuty sends it. For
// incident.annotated it is the note's incident reference: only ID, Type,
// Summary (the title), Self and HTMLURL are set.
type Incident struct {
	ID               string            `json:"id"`
	Type             string            `json:"type"` // incident, or incident_reference
	Summary          string            `json:"summary"`
	Self             string            `json:"self"`
	HTMLURL          string            `json:"html_url"`
	Number           int               `json:"number"`
	Status           string            `json:"status"` // triggered, acknowledged, resolved
	IncidentKey      string            `json:"incident_key"`
	CreatedAt        string            `json:"created_at"` // RFC 3339, as sent: not checked, Herald does not key on it
	Title            string            `json:"title"`
	Service          *Reference        `json:"service"`
	Assignees        []Reference       `json:"assignees"`
	EscalationPolicy *Reference        `json:"escalation_policy"`
	Teams            []Reference       `json:"teams"`
	Priority         *Reference        `json:"priority"` // null when not set, or priorities are off
	Urgency          string            `json:"urgency"`  // high, low
	ConferenceBridge *ConferenceBridge `json:"conference_bridge"`
}

// Note is the data of incident.annotated.
type Note struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"` // incident_note
	Incident Incident `json:"incident"`
	Content  string   `json:"content"`
	Trimmed  bool     `json:"trimmed"` // PagerDuty cut a long note short
}

// WebhookEvent is one V3 webhook: PagerDuty sends one event per request.
// Incident is set for incident events whose data is an incident (and for
// incident.annotated, the note's incident); Annotation for
// incident.annotated.
// Data keeps the event's data as sent, for the event types Herald does not
// read.
type WebhookEvent struct {
	ID           string
	EventType    string // incident.acknowledged, ...
	ResourceType string // incident, service, ...
	OccurredAt   time.Time
	AgentRef     *Reference   // who or what did it; nil when PagerDuty sends null
	Client       *EventClient // nil when PagerDuty sends null
	Incident     *Incident
	Annotation   *Note
	Data         json.RawMessage
}

// wireEvent is the envelope as sent, before validation.
type wireEvent struct {
	Event *struct {
		ID           string          `json:"id"`
		EventType    string          `json:"event_type"`
		ResourceType string          `json:"resource_type"`
		OccurredAt   string          `json:"occurred_at"`
		Agent        *Reference      `json:"agent"`
		Client       *EventClient    `json:"client"`
		Data         json.RawMessage `json:"data"`
	} `json:"event"`
}

// ParseWebhook reads a V3 webhook body (verify it first). It requires what
// Herald keys on: event.id (to drop PagerDuty's redeliveries),
// event.event_type, an RFC 3339 event.occurred_at, and for the incident
// events Herald acts on, the incident's id. Errors wrap ErrMalformed and
// name the field. Event types Herald does not act on parse with fewer
// checks and are Ignorable: refusing them would only make PagerDuty retry.
func ParseWebhook(body []byte) (WebhookEvent, error) {
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil {
		return WebhookEvent{}, malformed("body", jsonReason(err))
	}
	e := w.Event
	switch {
	case e == nil:
		return WebhookEvent{}, malformed("event", "missing")
	case strings.TrimSpace(e.ID) == "":
		return WebhookEvent{}, malformed("event.id", "missing or empty")
	case strings.TrimSpace(e.EventType) == "":
		return WebhookEvent{}, malformed("event.event_type", "missing or empty")
	}
	at, err := time.Parse(time.RFC3339, e.OccurredAt)
	if err != nil {
		return WebhookEvent{}, malformed("event.occurred_at", fmt.Sprintf("%q is not an RFC 3339 time", e.OccurredAt))
	}
	ev := WebhookEvent{
		ID:           e.ID,
		EventType:    e.EventType,
		ResourceType: e.ResourceType,
		OccurredAt:   at,
		AgentRef:     e.Agent,
		Client:       e.Client,
		Data:         e.Data,
	}
	if !strings.HasPrefix(e.EventType, "incident.") {
		return ev, nil
	}
	data := e.Data
	if isNull(data) {
		data = nil
	}
	switch {
	case e.EventType == EventAnnotated:
		if data == nil {
			return WebhookEvent{}, malformed("event.data", "missing")
		}
		var n Note
		if err := json.Unmarshal(data, &n); err != nil {
			return WebhookEvent{}, malformed("event.data", jsonReason(err))
		}
		if strings.TrimSpace(n.Incident.ID) == "" {
			return WebhookEvent{}, malformed("event.data.incident.id", "missing or empty")
		}
		ev.Annotation, ev.Incident = &n, &n.Incident
	case recognised[e.EventType]:
		if data == nil {
			return WebhookEvent{}, malformed("event.data", "missing")
		}
		var in Incident
		if err := json.Unmarshal(data, &in); err != nil {
			return WebhookEvent{}, malformed("event.data", jsonReason(err))
		}
		if strings.TrimSpace(in.ID) == "" {
			return WebhookEvent{}, malformed("event.data.id", "missing or empty")
		}
		ev.Incident = &in
	default:
		// An incident event Herald does not act on: its data is an
		// incident (incident.delegated) or names one (data.incident:
		// responders, status updates). Read what can be read.
		var probe struct {
			Incident *Incident `json:"incident"`
		}
		if json.Unmarshal(data, &probe) == nil && probe.Incident != nil && probe.Incident.ID != "" {
			ev.Incident = probe.Incident
			break
		}
		var in Incident
		if json.Unmarshal(data, &in) == nil && in.ID != "" && in.Type != "incident_reference" {
			ev.Incident = &in
		}
	}
	return ev, nil
}

func malformed(field, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, field, reason)
}

// jsonReason says what is wrong with the JSON, naming the field of a value
// of the wrong type.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: want a JSON %s, got %s", te.Field, te.Type, te.Value)
	}
	return "invalid JSON: " + err.Error()
}

func isNull(b json.RawMessage) bool {
	s := bytes.TrimSpace(b)
	return len(s) == 0 || bytes.Equal(s, []byte("null"))
}

// Ignorable reports whether Herald does nothing with this event type:
// acknowledge it (2xx) and drop it.
func (e WebhookEvent) Ignorable() bool { return !recognised[e.EventType] }

// IncidentID is PagerDuty's id of the incident (PGR0VU2), "" for events
// about something else.
func (e WebhookEvent) IncidentID() string {
	if e.Incident == nil {
		return ""
	}
	return e.Incident.ID
}

// IncidentKey is the incident's dedup key: Herald's incident id for an
// incident Herald paged, which is how a webhook finds its Herald incident.
// "" when the event does not carry it (incident.annotated).
func (e WebhookEvent) IncidentKey() string {
	if e.Incident == nil {
		return ""
	}
	return e.Incident.IncidentKey
}

// Number is the incident's number in the account (#4213), 0 when the event
// does not carry it.
func (e WebhookEvent) Number() int {
	if e.Incident == nil {
		return 0
	}
	return e.Incident.Number
}

// Status is the incident's status after the event (triggered,
// acknowledged, resolved); "" when the event does not say.
func (e WebhookEvent) Status() string {
	if e.Incident == nil {
		return ""
	}
	return e.Incident.Status
}

// ServiceID is the PagerDuty service of the incident, "" when not sent.
func (e WebhookEvent) ServiceID() string {
	if e.Incident == nil || e.Incident.Service == nil {
		return ""
	}
	return e.Incident.Service.ID
}

// ServiceName is the service's name as PagerDuty shows it.
func (e WebhookEvent) ServiceName() string {
	if e.Incident == nil || e.Incident.Service == nil {
		return ""
	}
	return e.Incident.Service.Summary
}

// Title is the incident's title; for a note, the summary of its incident
// reference, which is the title.
func (e WebhookEvent) Title() string {
	if e.Incident == nil {
		return ""
	}
	if e.Incident.Title != "" {
		return e.Incident.Title
	}
	return e.Incident.Summary
}

// HTMLURL is the incident's page in PagerDuty.
func (e WebhookEvent) HTMLURL() string {
	if e.Incident == nil {
		return ""
	}
	return e.Incident.HTMLURL
}

// Priority is the incident's priority as named in the account ("P1"), ""
// when it has none.
func (e WebhookEvent) Priority() string {
	if e.Incident == nil || e.Incident.Priority == nil {
		return ""
	}
	return e.Incident.Priority.Summary
}

// Urgency is "high" or "low", "" when not sent.
func (e WebhookEvent) Urgency() string {
	if e.Incident == nil {
		return ""
	}
	return e.Incident.Urgency
}

// Agent is who or what made the change: a user's name, or a service or
// integration's summary; "" when PagerDuty did it itself.
func (e WebhookEvent) Agent() string {
	if e.AgentRef == nil {
		return ""
	}
	return e.AgentRef.Summary
}

// Assignees are the names of the people the incident is assigned to after
// the event (for incident.reassigned, the new ones).
func (e WebhookEvent) Assignees() []string {
	if e.Incident == nil {
		return nil
	}
	out := make([]string, 0, len(e.Incident.Assignees))
	for _, a := range e.Incident.Assignees {
		out = append(out, a.Summary)
	}
	return out
}

// Note is the text of an incident.annotated note, "" for other events.
func (e WebhookEvent) Note() string {
	if e.Annotation == nil {
		return ""
	}
	return e.Annotation.Content
}
