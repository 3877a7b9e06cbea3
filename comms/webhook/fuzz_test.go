package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/statusapi"
)

// FuzzRenderWebhook writes subscriber webhook notifications (an incident's,
// a maintenance's, a component's) with fuzzed names and text: each is JSON,
// and gives the names and the update's text back as written.
func FuzzRenderWebhook(f *testing.F) {
	f.Add("Card payments failing", "We are investigating.", "API Platform")
	f.Add("</script><script>alert(1)</script>", "\u2028\u2029 & < > \" \\ \x00", "\xff")
	f.Add("", "{\"incident\":null}", "}]")
	f.Fuzz(func(t *testing.T, name, text, component string) {
		at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
		r := webhook.Renderer{Page: herald.Page{ID: "kredete", Name: "Kredete", URL: "https://status.example.com"},
			Documentation: "https://status.example.com/subscribe?via=webhook"}
		comps := []herald.Component{{ID: "cmp_api", Name: component, Status: herald.MajorOutage, CreatedAt: at, UpdatedAt: at}}
		for _, kind := range []herald.Kind{herald.KindIncident, herald.KindMaintenance} {
			in := herald.Incident{ID: "inc1", Kind: kind, Name: name, Status: herald.Identified, Impact: herald.ImpactMajor, CreatedAt: at,
				StartedAt: at, UpdatedAt: at, ComponentIDs: []string{"cmp_api"},
				Updates: []herald.Update{{ID: "u1", Status: herald.Identified, Body: text, CreatedAt: at, DisplayAt: at}}}
			if kind == herald.KindMaintenance {
				in.Status, in.ScheduledFor, in.ScheduledUntil = herald.Scheduled, &at, &at
				in.Updates[0].Status = herald.Scheduled
			}
			body, err := r.Render(comms.WebhookNotice{Incident: &in, Components: comps, Open: []herald.Incident{in},
				Unsubscribe: "https://status.example.com/subscriptions/unsubscribe?token=a&b=c"})
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			var got struct {
				Incident statusapi.Incident `json:"incident"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s notification is not JSON: %v\n%s", kind, err, body)
			}
			if utf8.ValidString(name) && utf8.ValidString(text) && utf8.ValidString(component) && (got.Incident.Name != name || got.Incident.IncidentUpdates[0].Body != text ||
				got.Incident.Components[0].Name != component) {
				t.Fatalf("%s notification does not give the text back as written:\n%s", kind, body)
			}
			if strings.Contains(string(body), "\n") {
				t.Fatalf("%s notification is not one line:\n%s", kind, body)
			}
		}
		body, err := r.Render(comms.WebhookNotice{Components: comps, Change: &herald.ComponentChangeNotice{ChangeID: 9, ComponentID: "cmp_api",
			Old: herald.Operational, New: herald.MajorOutage, At: at}})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Component statusapi.Component `json:"component"`
		}
		if err := json.Unmarshal(body, &got); err != nil || utf8.ValidString(component) && got.Component.Name != component {
			t.Fatalf("component notification: %v\n%s", err, body)
		}
	})
}
