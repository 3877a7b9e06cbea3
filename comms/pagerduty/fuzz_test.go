package pagerduty_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/comms/pagerduty/pdtest"
)

// FuzzReadWebhook is FuzzParseWebhook through the door PagerDuty uses: the
// body arrives signed with the secret Herald holds, so the signature always
// verifies and the fuzzer reaches the parser, and what comes out is
// Herald's event as the store records it. A signed body is never taken for
// a forgery; an unreadable one is malformed; an event read has what the
// store keys on, and its timeline line reads.
func FuzzReadWebhook(f *testing.F) {
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
	f.Add([]byte(`{"event":{"id":"E1","event_type":"incident.annotated","occurred_at":"2026-11-25T09:16:41Z","data":{"incident":{"id":"Q1"},"content":"<script>alert(1)</script>"}}}`))
	const secret = "whsec-fuzz-0123456789"
	f.Fuzz(func(t *testing.T, body []byte) {
		r := pdtest.NewWebhookRequest("https://herald.example/webhooks/pagerduty", body, secret)
		ev, err := pagerduty.ReadWebhook(r, []string{"an-old-secret-0123456789", secret})
		if err != nil {
			switch {
			case errors.Is(err, herald.ErrBadSignature) && len(body) > 0:
				t.Fatalf("a body signed with the secret is refused as a forgery: %v", err)
			case !errors.Is(err, herald.ErrBadSignature) && !errors.Is(err, pagerduty.ErrMalformed):
				t.Fatalf("error %v is neither a bad signature nor malformed", err)
			}
			return
		}
		if strings.TrimSpace(ev.ID) == "" || strings.TrimSpace(ev.Type) == "" || ev.OccurredAt.IsZero() {
			t.Fatalf("read without an id, a type or a time: %+v", ev)
		}
		line := herald.PagerDutyTimeline(ev)
		switch ev.Type {
		case herald.PDTriggered, herald.PDAcknowledged, herald.PDUnacknowledged, herald.PDReassigned, herald.PDAnnotated,
			herald.PDEscalated, herald.PDPriorityUpdated, herald.PDResolved, herald.PDReopened:
			if strings.TrimSpace(ev.IncidentID) == "" {
				t.Fatalf("%s read without an incident id", ev.Type)
			}
			if line == "" {
				t.Fatalf("%s has no timeline line", ev.Type)
			}
		default:
			if line != "" {
				t.Fatalf("%s, not acted on, has a timeline line %q", ev.Type, line)
			}
		}
		for _, s := range append([]string{ev.ID, ev.Type, ev.IncidentID, ev.IncidentKey, ev.ServiceID, ev.ServiceName, ev.Title,
			ev.HTMLURL, ev.Priority, ev.Urgency, ev.Status, ev.Agent, ev.Note, line}, ev.Assignees...) {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in the event: %q", s)
			}
		}
	})
}
