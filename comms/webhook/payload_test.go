package webhook_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/statusapi"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

func fixture(t *testing.T) (webhook.Meta, webhook.Page, *time.Location) {
	t.Helper()
	lagos, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		t.Fatal(err)
	}
	meta := webhook.Meta{
		Unsubscribe:   "https://status.kredete.example/subscriptions/unsubscribe?token=u-123&via=webhook",
		Documentation: "https://status.kredete.example/help/webhooks",
	}
	page := webhook.PageOf(herald.Page{ID: "kredete0page", Name: "Kredete", URL: "https://status.kredete.example"},
		herald.PageStatus{Indicator: "major", Description: "Partial System Outage"})
	return meta, page, lagos
}

func at(t *testing.T, loc *time.Location, s string) statusapi.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return statusapi.Time{Time: v.In(loc)}
}

func component(t *testing.T, loc *time.Location) statusapi.Component {
	start := "2026-01-05"
	return statusapi.Component{ID: "cmpapi000001", Name: "API Platform", Status: "partial_outage",
		CreatedAt: at(t, loc, "2026-01-05T09:00:00Z"), UpdatedAt: at(t, loc, "2026-11-25T14:05:09.123Z"),
		Position: 1, StartDate: &start, PageID: "kredete0page"}
}

func payloads(t *testing.T) map[string][]byte {
	meta, page, loc := fixture(t)
	comp := component(t, loc)
	updated := at(t, loc, "2026-11-25T14:05:09.123Z")
	incident := statusapi.Incident{ID: "inc000000001", Name: "Card payments failing", Status: "identified",
		CreatedAt: at(t, loc, "2026-11-25T13:58:00Z"), UpdatedAt: &updated, Impact: "major",
		Shortlink: "https://status.kredete.example/incidents/inc000000001", StartedAt: at(t, loc, "2026-11-25T13:55:00Z"),
		PageID: "kredete0page",
		IncidentUpdates: []statusapi.IncidentUpdate{{ID: "upd000000002", Status: "identified",
			Body: "The card processor's API is failing; we are failing over.", IncidentID: "inc000000001",
			CreatedAt: updated, UpdatedAt: updated, DisplayAt: updated,
			AffectedComponents: []statusapi.AffectedComponent{{Code: "cmpapi000001", Name: "API Platform",
				OldStatus: "degraded_performance", NewStatus: "partial_outage"}},
			DeliverNotifications: true}},
		Components: []statusapi.Component{comp}}
	inc, err := webhook.IncidentPayload(meta, page, incident)
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := webhook.ComponentPayload(meta, page, webhook.ComponentUpdate{
		CreatedAt: updated.Time, NewStatus: herald.PartialOutage, OldStatus: herald.DegradedPerformance,
		ID: "cupd00000001", ComponentID: "cmpapi000001"}, comp)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"incident": inc, "component": cmp}
}

func TestPayloadGolden(t *testing.T) {
	for name, body := range payloads(t) {
		t.Run(name, func(t *testing.T) {
			if bytes.ContainsRune(body, '\n') {
				t.Error("the body is not compact")
			}
			var got bytes.Buffer
			if err := json.Indent(&got, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./comms/webhook -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from %s (run with -update if the change is intended):\ngot:\n%s", name, path, got.Bytes())
			}
		})
	}
}

// TestPayloadShape reads the golden files back as a Statuspage receiver
// would and checks the envelope's keys, in Statuspage's order: the golden
// files are what subscribers get, so they are checked, not the Go values.
func TestPayloadShape(t *testing.T) {
	tests := []struct {
		file string
		keys map[string][]string // object -> its keys in order ("" the top level)
	}{
		{"incident", map[string][]string{
			"":     {"meta", "page", "incident"},
			"meta": {"unsubscribe", "documentation"},
			"page": {"id", "status_indicator", "status_description"},
		}},
		{"component", map[string][]string{
			"":                 {"meta", "page", "component_update", "component"},
			"meta":             {"unsubscribe", "documentation"},
			"page":             {"id", "status_indicator", "status_description"},
			"component_update": {"created_at", "new_status", "old_status", "id", "component_id"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			var top map[string]json.RawMessage
			if err := json.Unmarshal(b, &top); err != nil {
				t.Fatal(err)
			}
			for obj, want := range tt.keys {
				raw := b
				if obj != "" {
					raw = top[obj]
				}
				if got := keys(t, raw); !reflect.DeepEqual(got, want) {
					t.Errorf("%q keys = %v, want %v", obj, got, want)
				}
			}
			var body struct {
				Incident *struct {
					ID              string         `json:"id"`
					Status          string         `json:"status"`
					CreatedAt       statusapi.Time `json:"created_at"`
					IncidentUpdates []struct {
						Body string `json:"body"`
					} `json:"incident_updates"`
				} `json:"incident"`
				ComponentUpdate *struct {
					CreatedAt statusapi.Time `json:"created_at"`
					NewStatus string         `json:"new_status"`
				} `json:"component_update"`
				Component *struct {
					ID, Name, Status string
					CreatedAt        statusapi.Time `json:"created_at"`
				} `json:"component"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("a Statuspage receiver cannot read it: %v", err)
			}
			switch tt.file {
			case "incident":
				if i := body.Incident; i == nil || i.ID != "inc000000001" || i.Status != "identified" || len(i.IncidentUpdates) != 1 {
					t.Errorf("incident = %+v", body.Incident)
				}
			case "component":
				if u := body.ComponentUpdate; u == nil || u.NewStatus != "partial_outage" || u.CreatedAt.IsZero() {
					t.Errorf("component_update = %+v", body.ComponentUpdate)
				}
				if c := body.Component; c == nil || c.ID != "cmpapi000001" || c.Status != "partial_outage" {
					t.Errorf("component = %+v", body.Component)
				}
			}
		})
	}
}

// keys lists a JSON object's keys in the order written.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestComponentUpdateTimeIsStatusapis keeps the package's timestamp form
// the same as Herald's Statuspage API's.
func TestComponentUpdateTimeIsStatusapis(t *testing.T) {
	_, _, lagos := fixture(t)
	ts := time.Date(2026, 11, 25, 14, 5, 9, 123456789, time.UTC).In(lagos)
	b, err := json.Marshal(webhook.ComponentUpdate{CreatedAt: ts})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		CreatedAt json.RawMessage `json:"created_at"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := statusapi.Time{Time: ts}.MarshalJSON()
	if string(got.CreatedAt) != string(want) {
		t.Errorf("created_at = %s, want statusapi's %s", got.CreatedAt, want)
	}
}

func TestPayloadNeedsItsObject(t *testing.T) {
	meta, page, _ := fixture(t)
	if _, err := webhook.IncidentPayload(meta, page, nil); err == nil {
		t.Error("IncidentPayload without an incident succeeded")
	}
	if _, err := webhook.ComponentPayload(meta, page, webhook.ComponentUpdate{}, nil); err == nil {
		t.Error("ComponentPayload without a component succeeded")
	}
}
