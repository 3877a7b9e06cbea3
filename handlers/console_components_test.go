package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kredete/herald"
)

// TestEditComponent: an edit from the console reaches the public API, bad
// input comes back next to the field with nothing stored.
func TestEditComponent(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		id := c.ids["customer-portal"]
		doc := b.page("/console/components")
		if n := len(queryAll(t, doc, "[data-testid=edit-component]")); n != 5 {
			t.Fatalf("%d edit forms on the components page, want 5", n)
		}

		r := b.post("/console/components/"+id+"/edit", url.Values{"name": {""}, "description": {"x"}, "position": {"abc"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("empty name and bad position: %d, want 422", r.Code)
		}
		page := parseHTML(t, r.Body)
		for _, f := range []string{"name", "position"} {
			if text(queryOne(t, page, `[data-testid="error-`+id+"."+f+`"]`)) == "" {
				t.Errorf("no error shown next to %s", f)
			}
		}
		if strings.Contains(string(c.getOK("/api/v2/components.json").Body), `"name":""`) {
			t.Fatal("a refused edit reached the public API")
		}

		r = b.post("/console/components/"+id+"/edit", url.Values{"name": {"Borrower Portal"}, "description": {"Web and app."}, "position": {"2"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("edit: %d, want 303: %.300s", r.Code, r.Body)
		}
		if body := string(c.getOK("/api/v2/components.json").Body); !strings.Contains(body, `"name":"Borrower Portal"`) ||
			!strings.Contains(body, `"description":"Web and app."`) {
			t.Errorf("the public API does not show the edit: %.400s", body)
		}
	})
}

// TestIncidentAuditTrail: admins see an incident's audit trail on its page;
// a commander does not.
func TestIncidentAuditTrail(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		commander := c.as(t, herald.RoleCommander)
		id := c.declare(commander, nil)
		if n := len(queryAll(t, commander.page("/console/incidents/"+id), "[data-testid=incident-audit]")); n != 0 {
			t.Errorf("a commander sees the audit trail (%d tables)", n)
		}
		admin := c.as(t, herald.RoleAdmin)
		doc := admin.page("/console/incidents/" + id)
		rows := queryAll(t, doc, "[data-testid=incident-audit] tbody tr")
		if len(rows) == 0 || !strings.Contains(text(rows[len(rows)-1]), "incident.declare") {
			t.Errorf("the admin's audit trail has %d rows; want the declaration among them", len(rows))
		}
	})
}
