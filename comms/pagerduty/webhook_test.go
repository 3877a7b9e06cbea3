package pagerduty_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
)

const (
	oldSecret = "pd-webhook-secret-OLD-4c1b2a9e7f"
	newSecret = "pd-webhook-secret-NEW-93d0e5a1b8"
	hookURL   = "https://herald.example.com/webhooks/pagerduty"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	body := fixture(t, "incident_acknowledged.json")
	other := fixture(t, "incident_resolved.json")
	tests := []struct {
		name    string
		req     func() *http.Request
		secrets []string
		ok      bool
	}{
		{"signed with the secret", func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, newSecret) }, []string{newSecret}, true},
		{"rotation: signed with old and new, Herald holds the new",
			func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, oldSecret, newSecret) }, []string{newSecret}, true},
		{"rotation: signed with old and new, Herald holds the old",
			func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, oldSecret, newSecret) }, []string{oldSecret}, true},
		{"rotation: Herald holds two, only the second matches",
			func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, newSecret) }, []string{oldSecret, newSecret}, true},
		{"rotation: Herald holds two, only the first matches",
			func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, oldSecret) }, []string{oldSecret, newSecret}, true},
		{"an unknown signature version beside a good one", func() *http.Request {
			r := pdtest.NewWebhookRequest(hookURL, body)
			r.Header.Set("X-PagerDuty-Signature", "v2=deadbeef,"+pdtest.SignWebhook(body, newSecret))
			return r
		}, []string{newSecret}, true},
		{"unsigned", func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body) }, []string{newSecret}, false},
		{"tampered body", func() *http.Request {
			r := pdtest.NewWebhookRequest(hookURL, other, newSecret)
			r.Header.Set("X-PagerDuty-Signature", pdtest.SignWebhook(body, newSecret))
			return r
		}, []string{newSecret}, false},
		{"one byte changed", func() *http.Request {
			r := pdtest.NewWebhookRequest(hookURL, body, newSecret)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte("acknowledged"), []byte("acknowledgeD"), 1)))
			return r
		}, []string{newSecret}, false},
		{"wrong secret", func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, oldSecret) }, []string{newSecret}, false},
		{"no secrets configured", func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, newSecret) }, nil, false},
		{"only empty secrets configured", func() *http.Request { return pdtest.NewWebhookRequest(hookURL, body, "") }, []string{""}, false},
		{"signature not hex", func() *http.Request {
			r := pdtest.NewWebhookRequest(hookURL, body)
			r.Header.Set("X-PagerDuty-Signature", "v1=not-hex")
			return r
		}, []string{newSecret}, false},
		{"no v1 signature", func() *http.Request {
			r := pdtest.NewWebhookRequest(hookURL, body)
			r.Header.Set("X-PagerDuty-Signature", "v0="+strings.TrimPrefix(pdtest.SignWebhook(body, newSecret), "v1="))
			return r
		}, []string{newSecret}, false},
		{"empty body", func() *http.Request { return pdtest.NewWebhookRequest(hookURL, nil, newSecret) }, []string{newSecret}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req()
			sent, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			r.Body = io.NopCloser(bytes.NewReader(sent))

			err = pagerduty.Verify(r, tt.secrets)
			if tt.ok && err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, pagerduty.ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
			for _, s := range []string{oldSecret, newSecret} {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error carries a secret: %v", err)
				}
			}
			// The handler reads the body after Verify, whatever it said.
			after, err := io.ReadAll(r.Body)
			if err != nil || !bytes.Equal(after, sent) {
				t.Errorf("body after Verify: %d bytes (%v), want the %d sent", len(after), err, len(sent))
			}
		})
	}
}

func TestVerifyRefusesOversizedBody(t *testing.T) {
	body := bytes.Repeat([]byte("x"), pagerduty.MaxWebhookBody+1)
	err := pagerduty.Verify(pdtest.NewWebhookRequest(hookURL, body, newSecret), []string{newSecret})
	if !errors.Is(err, pagerduty.ErrMalformed) {
		t.Errorf("Verify = %v, want ErrMalformed", err)
	}
}

// A handler in front of Verify and ParseWebhook, reached over HTTP as
// PagerDuty reaches Herald.
func TestVerifyAndParseOverHTTP(t *testing.T) {
	got := make(chan pagerduty.WebhookEvent, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := pagerduty.Verify(r, []string{oldSecret, newSecret}); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ev, err := pagerduty.ParseWebhook(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	body := fixture(t, "incident_reassigned.json")
	resp, err := srv.Client().Do(pdtest.NewWebhookRequest(srv.URL, body, newSecret))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	if ev := <-got; ev.EventType != pagerduty.EventReassigned || ev.IncidentID() != "Q2K9Z3LHT8ABCD" {
		t.Errorf("handler parsed %s for %s", ev.EventType, ev.IncidentID())
	}

	resp, err = srv.Client().Do(pdtest.NewWebhookRequest(srv.URL, body, "someone-elses-secret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: status %d, want 401", resp.StatusCode)
	}
}

// parsed is what Herald reads from an event, through the accessors.
type parsed struct {
	ID, EventType, ResourceType string
	OccurredAt                  time.Time
	Ignorable                   bool
	IncidentID, Status          string
	IncidentKey                 string
	Number                      int
	ServiceID, ServiceName      string
	Title, HTMLURL              string
	Priority, Urgency           string
	Agent                       string
	Assignees                   []string
	Note                        string
}

func read(ev pagerduty.WebhookEvent) parsed {
	return parsed{
		ID: ev.ID, EventType: ev.EventType, ResourceType: ev.ResourceType, OccurredAt: ev.OccurredAt,
		Ignorable: ev.Ignorable(), IncidentID: ev.IncidentID(), Status: ev.Status(), IncidentKey: ev.IncidentKey(), Number: ev.Number(),
		ServiceID: ev.ServiceID(), ServiceName: ev.ServiceName(), Title: ev.Title(), HTMLURL: ev.HTMLURL(),
		Priority: ev.Priority(), Urgency: ev.Urgency(), Agent: ev.Agent(), Assignees: ev.Assignees(), Note: ev.Note(),
	}
}

func TestParseWebhook(t *testing.T) {
	const (
		id      = "Q2K9Z3LHT8ABCD"
		title   = "[Kredete] Card payments failing in af-south-1"
		htmlURL = "https://kredete.pagerduty.com/incidents/Q2K9Z3LHT8ABCD"
		svcID   = "PF9KMXH"
		svc     = "Payments API"
	)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	incidentEvent := func(evID, typ, occurred, status, priority, urgency, agent string, assignees ...string) parsed {
		if assignees == nil {
			assignees = []string{}
		}
		return parsed{ID: evID, EventType: typ, ResourceType: "incident", OccurredAt: at(occurred),
			IncidentID: id, Status: status, IncidentKey: "inc_01JD9K4M2Q7X", Number: 4213, ServiceID: svcID, ServiceName: svc, Title: title, HTMLURL: htmlURL,
			Priority: priority, Urgency: urgency, Agent: agent, Assignees: assignees}
	}
	tests := []struct {
		file string
		want parsed
	}{
		{"incident_triggered.json", incidentEvent("01DEN8M3R7AQ6Y2VZ4T6GK8E1A", pagerduty.EventTriggered, "2026-11-25T09:14:03.412Z",
			"triggered", "P1", "high", "Herald (Events API v2)", "Ada Obi")},
		{"incident_acknowledged.json", incidentEvent("01DEN8N1XKZP0B7W5C3R9QH2FM", pagerduty.EventAcknowledged, "2026-11-25T09:16:41.020Z",
			"acknowledged", "P1", "high", "Ada Obi", "Ada Obi")},
		{"incident_unacknowledged.json", incidentEvent("01DEN8Q7TJ4M1S9V2Y8N6PWD3C", pagerduty.EventUnacknowledged, "2026-11-25T09:46:41.005Z",
			"triggered", "P1", "high", "", "Ada Obi")},
		{"incident_reassigned.json", incidentEvent("01DEN8R2B5C8F1H4K7M0P3S6VX", pagerduty.EventReassigned, "2026-11-25T09:20:12.887Z",
			"acknowledged", "P1", "high", "Ada Obi", "Kofi Mensah")},
		{"incident_annotated.json", parsed{ID: "01DEN8S9D2G5J8L1N4Q7T0W3ZB", EventType: pagerduty.EventAnnotated, ResourceType: "incident",
			OccurredAt: at("2026-11-25T09:22:30.118Z"), IncidentID: id, Title: title, HTMLURL: htmlURL, Agent: "Kofi Mensah",
			Assignees: []string{}, Note: "Failover to eu-west-1 started; card auth rate recovering. — Kofi 🇬🇭"}},
		{"incident_escalated.json", incidentEvent("01DEN8T4F7J0L3N6Q9S2V5X8ZC", pagerduty.EventEscalated, "2026-11-25T09:44:03.5Z",
			"triggered", "P1", "high", "", "Kofi Mensah")},
		{"incident_priority_updated.json", incidentEvent("01DEN8V6H9K2M5P8R1T4W7Y0ZD", pagerduty.EventPriorityUpdated, "2026-11-25T09:25:00Z",
			"acknowledged", "P2", "high", "Ada Obi", "Ada Obi")},
		{"incident_resolved.json", incidentEvent("01DEN8W8J1L4N7Q0S3V6X9Z2BE", pagerduty.EventResolved, "2026-11-25T10:02:17.331Z",
			"resolved", "P1", "high", "Herald (Events API v2)")},
		{"incident_reopened.json", incidentEvent("01DEN8X0K3M6P9R2T5W8Y1Z4CF", pagerduty.EventReopened, "2026-11-25T10:30:05.001Z",
			"triggered", "", "low", "Ada Obi", "Ada Obi")},
		// Parsed, read where they can be, and ignorable.
		{"incident_delegated.json", func() parsed {
			p := incidentEvent("01DEN8Y2M5P8R1T4W7Z0B3D6FG", "incident.delegated", "2026-11-25T09:30:00Z",
				"acknowledged", "P1", "high", "Ada Obi", "Ada Obi")
			p.Ignorable = true
			return p
		}()},
		{"incident_responder_added.json", parsed{ID: "01DEN8Z4P7R0T3W6Y9B2D5F8HJ", EventType: "incident.responder.added", ResourceType: "incident",
			OccurredAt: at("2026-11-25T09:31:00Z"), Ignorable: true, IncidentID: id, Title: title, HTMLURL: htmlURL, Agent: "Ada Obi",
			Assignees: []string{}}},
		{"service_updated.json", parsed{ID: "01BRB6ZP4M6T8ZG4X6BP63ZB9O", EventType: "service.updated", ResourceType: "service",
			OccurredAt: at("2026-11-25T13:35:11.682Z"), Ignorable: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ev, err := pagerduty.ParseWebhook(fixture(t, tt.file))
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if diff := cmp.Diff(tt.want, read(ev)); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
			if len(ev.Data) == 0 {
				t.Error("Data not kept")
			}
		})
	}
}

// The incident's full data is kept for what the accessors do not cover.
func TestParseWebhookIncidentDetails(t *testing.T) {
	ev, err := pagerduty.ParseWebhook(fixture(t, "incident_triggered.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := ev.Incident
	if in == nil || in.Number != 4213 || in.IncidentKey != "inc_01JD9K4M2Q7X" || in.EscalationPolicy.Summary != "Payments on-call" ||
		len(in.Teams) != 1 || in.ConferenceBridge == nil || in.ConferenceBridge.ConferenceURL != "https://meet.example.com/kredete-sev1" {
		t.Errorf("incident = %+v", in)
	}
	if ev.Client != nil || ev.AgentRef == nil || ev.AgentRef.Type != "events_api_v2_inbound_integration_reference" {
		t.Errorf("client %+v agent %+v", ev.Client, ev.AgentRef)
	}
	note, err := pagerduty.ParseWebhook(fixture(t, "incident_annotated.json"))
	if err != nil {
		t.Fatal(err)
	}
	if note.Annotation == nil || note.Annotation.ID != "P2LA89X" || note.Client == nil || note.Client.Name != "Slack" {
		t.Errorf("annotation %+v client %+v", note.Annotation, note.Client)
	}
}

func TestParseWebhookMalformed(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"empty", ``, "body"},
		{"bad JSON", `{"event": {"id": "E1",`, "invalid JSON"},
		{"not an object", `[1, 2]`, "body"},
		{"no event", `{}`, "event"},
		{"event null", `{"event": null}`, "event"},
		{"missing id", `{"event": {"event_type": "incident.acknowledged", "occurred_at": "2026-11-25T09:16:41Z", "data": {"id": "Q1"}}}`, "event.id"},
		{"blank id", `{"event": {"id": "  ", "event_type": "incident.acknowledged", "occurred_at": "2026-11-25T09:16:41Z", "data": {"id": "Q1"}}}`, "event.id"},
		{"id of the wrong type", `{"event": {"id": 42, "event_type": "incident.acknowledged", "occurred_at": "2026-11-25T09:16:41Z"}}`, "event.id"},
		{"missing event_type", `{"event": {"id": "E1", "occurred_at": "2026-11-25T09:16:41Z", "data": {"id": "Q1"}}}`, "event.event_type"},
		{"missing occurred_at", `{"event": {"id": "E1", "event_type": "incident.acknowledged", "data": {"id": "Q1"}}}`, "event.occurred_at"},
		{"bad occurred_at", `{"event": {"id": "E1", "event_type": "incident.acknowledged", "occurred_at": "25/11/2026 09:16", "data": {"id": "Q1"}}}`, "event.occurred_at"},
		{"occurred_at without zone", `{"event": {"id": "E1", "event_type": "incident.acknowledged", "occurred_at": "2026-11-25T09:16:41", "data": {"id": "Q1"}}}`, "event.occurred_at"},
		{"incident without data", `{"event": {"id": "E1", "event_type": "incident.acknowledged", "occurred_at": "2026-11-25T09:16:41Z"}}`, "event.data"},
		{"incident with null data", `{"event": {"id": "E1", "event_type": "incident.resolved", "occurred_at": "2026-11-25T09:16:41Z", "data": null}}`, "event.data"},
		{"incident without data.id", `{"event": {"id": "E1", "event_type": "incident.triggered", "occurred_at": "2026-11-25T09:16:41Z", "data": {"type": "incident", "title": "x"}}}`, "event.data.id"},
		{"incident data of the wrong shape", `{"event": {"id": "E1", "event_type": "incident.triggered", "occurred_at": "2026-11-25T09:16:41Z", "data": {"id": "Q1", "number": "four"}}}`, "number"},
		{"note without incident", `{"event": {"id": "E1", "event_type": "incident.annotated", "occurred_at": "2026-11-25T09:16:41Z", "data": {"id": "N1", "content": "hi"}}}`, "event.data.incident.id"},
		{"note with data.id only", `{"event": {"id": "E1", "event_type": "incident.annotated", "occurred_at": "2026-11-25T09:16:41Z", "data": {"id": "Q1", "incident": {"id": ""}}}}`, "event.data.incident.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pagerduty.ParseWebhook([]byte(tt.body))
			if !errors.Is(err, pagerduty.ErrMalformed) {
				t.Fatalf("ParseWebhook = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %s", err, tt.field)
			}
		})
	}
}

func FuzzParseWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event":{"id":"E1","event_type":"incident.annotated","occurred_at":"2026-11-25T09:16:41Z","data":{"incident":{"id":"Q1"}}}}`))
	f.Add([]byte(`{"event":{"id":"E1","event_type":"incident.responder.added","occurred_at":"2026-11-25T09:16:41Z","data":null}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := pagerduty.ParseWebhook(body)
		if err != nil {
			if !errors.Is(err, pagerduty.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if strings.TrimSpace(ev.ID) == "" || strings.TrimSpace(ev.EventType) == "" {
			t.Fatalf("parsed without an id or event type: %+v", ev)
		}
		if !ev.Ignorable() && strings.TrimSpace(ev.IncidentID()) == "" {
			t.Fatalf("recognised %s without an incident id", ev.EventType)
		}
		// The accessors never panic, whatever parsed.
		_ = read(ev)
	})
}
