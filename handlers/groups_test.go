package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/kredete/herald"
)

// apiGroupedComponent is a component of the public API with the group keys.
type apiGroupedComponent struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	Group      bool     `json:"group"`
	GroupID    *string  `json:"group_id"`
	Components []string `json:"components"`
}

func (e *env) groupedComponents(path string) []apiGroupedComponent {
	e.t.Helper()
	var doc struct {
		Components []apiGroupedComponent `json:"components"`
	}
	if err := json.Unmarshal(e.getOK(path).Body, &doc); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return doc.Components
}

// groupPlan puts credit-origination and partner-integrations of the default
// plan in a group "lending", as a configuration file with groups: would,
// syncs it and rebuilds the public snapshot. It returns the group's id.
func (e *env) groupPlan() string {
	e.t.Helper()
	ctx := context.Background()
	groups := []herald.GroupSpec{{Key: "lending", Name: "Lending", Description: "Everything a borrower touches."}}
	specs := slices.Clone(e.plan.Components)
	for i := range specs {
		if specs[i].Key == "credit-origination" || specs[i].Key == "partner-integrations" {
			specs[i].Group = "lending"
		}
	}
	p := e.plan
	p.Groups, p.Components = groups, specs
	if err := p.Validate(); err != nil {
		e.t.Fatalf("the grouped plan is invalid: %v", err)
	}
	if err := e.store.SyncComponents(ctx, p.Groups, p.Components); err != nil {
		e.t.Fatal(err)
	}
	if err := e.public.Refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
	list, err := e.store.Groups(ctx)
	if err != nil || len(list) != 1 {
		e.t.Fatalf("Groups = %+v, %v; want lending", list, err)
	}
	return list[0].ID
}

// groupRow is the group's row on the public page.
func groupRow(t testing.TB, doc *html.Node, id string) *html.Node {
	t.Helper()
	return queryOne(t, doc, `ul[data-testid=components] li[data-testid=component-group][data-group=`+id+`]`)
}

func memberIDs(t testing.TB, row *html.Node) []string {
	t.Helper()
	var ids []string
	for _, li := range queryAll(t, row, "li[data-testid=component]") {
		v, _ := attr(li, "data-component")
		ids = append(ids, v)
	}
	return ids
}

// TestComponentGroupsPublic: a configured group is a Statuspage group in the
// API and a row on the page showing its worst member's status.
func TestComponentGroupsPublic(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		gid := e.groupPlan()
		credit, partner := e.ids["credit-origination"], e.ids["partner-integrations"]

		for _, path := range []string{"/api/v2/components.json", "/api/v2/summary.json"} {
			comps := e.groupedComponents(path)
			var ids []string
			for _, c := range comps {
				ids = append(ids, c.ID)
			}
			want := []string{e.ids["api-platform"], gid, credit, partner, e.ids["customer-portal"], e.ids["admin-dashboard"]}
			if !slices.Equal(ids, want) {
				t.Fatalf("%s lists %q, want %q (the group, then its members)", path, ids, want)
			}
			g := comps[1]
			if !g.Group || g.Name != "Lending" || g.Status != "operational" || !slices.Equal(g.Components, []string{credit, partner}) {
				t.Errorf("%s: group = %+v; want Lending, group: true, operational, components [credit partner]", path, g)
			}
			for _, m := range comps[2:4] {
				if m.Group || m.GroupID == nil || *m.GroupID != gid {
					t.Errorf("%s: member %s = %+v; want group_id %s", path, m.Name, m, gid)
				}
			}
			for _, c := range []apiGroupedComponent{comps[0], comps[4], comps[5]} {
				if c.Group || c.GroupID != nil || c.Components != nil {
					t.Errorf("%s: stand-alone %s = %+v", path, c.Name, c)
				}
			}
		}

		doc := parseHTML(t, e.getOK("/").Body)
		row := groupRow(t, doc, gid)
		if !strings.Contains(text(row), "Lending") {
			t.Errorf("group row %q does not name the group", text(row))
		}
		if _, open := attr(queryOne(t, row, "details"), "open"); open {
			t.Error("the group row is open while every member is operational")
		}
		if got := text(queryOne(t, row, "[data-testid=group-status]")); !strings.HasSuffix(got, " "+herald.Operational.Label()) {
			t.Errorf("group status = %q, want %q", got, herald.Operational.Label())
		}
		if got := memberIDs(t, row); !slices.Equal(got, []string{credit, partner}) {
			t.Errorf("group members on the page = %q, want credit and partner", got)
		}
		if n := len(queryAll(t, doc, "ul[data-testid=components] li[data-testid=component]")); n != 5 {
			t.Errorf("%d component rows on the page, want 5 (3 alone, 2 in the group)", n)
		}

		r := e.admin(http.MethodPatch, "/admin/api/components/"+partner, map[string]string{"status": "partial_outage"})
		if r.Code != http.StatusOK {
			t.Fatalf("PATCH partner: %d: %s", r.Code, r.Body)
		}
		doc = parseHTML(t, e.getOK("/").Body)
		row = groupRow(t, doc, gid)
		status := queryOne(t, row, "[data-testid=group-status]")
		if got := text(status); !strings.HasSuffix(got, " "+herald.PartialOutage.Label()) {
			t.Errorf("group status = %q, want %q", got, herald.PartialOutage.Label())
		}
		if class, _ := attr(status, "class"); !strings.Contains(class, "status-partial_outage") {
			t.Errorf("group status class = %q", class)
		}
		if _, open := attr(queryOne(t, row, "details"), "open"); !open {
			t.Error("the group row is closed while a member is in partial outage")
		}
		if g := e.groupedComponents("/api/v2/components.json")[1]; g.Status != "partial_outage" {
			t.Errorf("the API's group status = %q, want partial_outage", g.Status)
		}
	})
}

// TestConsoleGroups: groups made in the console, and components moved into
// them, reach the public page; bad input comes back next to its field.
func TestConsoleGroups(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		ctx := context.Background()
		b := c.as(t, herald.RoleCommander)
		queryOne(t, b.page("/console/components"), "[data-testid=no-groups]")

		before := c.stored()
		r := b.post("/console/groups", url.Values{"name": {"  "}, "description": {"Typed before the mistake"}, "position": {"2"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("empty group name: %d, want 422: %.300s", r.Code, r.Body)
		}
		page := parseHTML(t, r.Body)
		if text(queryOne(t, page, `[data-testid="error-new-group.name"]`)) == "" {
			t.Error("no error next to the group name")
		}
		form := queryOne(t, page, "form[data-testid=new-group]")
		if v, _ := attr(queryOne(t, form, "input[name=description]"), "value"); v != "Typed before the mistake" {
			t.Errorf("description after the error = %q, want what was typed", v)
		}
		if _, open := attr(form.Parent, "open"); !open {
			t.Error("the new group form is closed after its error")
		}
		c.wantNothingStored(before, "a group without a name")
		if groups, err := c.store.Groups(ctx); err != nil || len(groups) != 0 {
			t.Fatalf("Groups = %+v, %v; want none", groups, err)
		}

		r = b.post("/console/groups", url.Values{"name": {"Lending"}, "description": {"Loans and scoring."}, "position": {"2"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("create group: %d, want 303: %.300s", r.Code, r.Body)
		}
		groups, err := c.store.Groups(ctx)
		if err != nil || len(groups) != 1 || groups[0].Name != "Lending" || groups[0].Description != "Loans and scoring." {
			t.Fatalf("Groups = %+v, %v; want Lending", groups, err)
		}
		gid := groups[0].ID
		if got := texts(queryAll(t, b.page("/console/components"), "[data-testid=groups-admin] .component-name")); len(got) != 1 ||
			!strings.HasPrefix(got[0], "Lending") {
			t.Errorf("groups on the components page = %q", got)
		}
		// No members yet: not on the public page.
		if n := len(queryAll(t, parseHTML(t, c.getOK("/").Body), "li[data-testid=component-group]")); n != 0 {
			t.Errorf("an empty group is on the public page (%d rows)", n)
		}

		portal := c.ids["customer-portal"]
		r = b.post("/console/components/"+portal+"/edit", url.Values{"name": {"Customer Portal"},
			"description": {"The web and mobile experience for borrowers."}, "position": {"4"}, "group": {gid}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("move into the group: %d, want 303: %.300s", r.Code, r.Body)
		}
		doc := parseHTML(t, c.getOK("/").Body)
		row := groupRow(t, doc, gid)
		if !strings.Contains(text(row), "Lending") {
			t.Errorf("group row %q does not name the group", text(row))
		}
		if got := memberIDs(t, row); !slices.Equal(got, []string{portal}) {
			t.Errorf("group members on the page = %q, want the portal", got)
		}
		comps := c.groupedComponents("/api/v2/components.json")
		found := false
		for _, gc := range comps {
			if gc.ID == gid {
				found = gc.Group && slices.Equal(gc.Components, []string{portal})
			}
		}
		if !found {
			t.Errorf("components.json has no group %s with the portal: %+v", gid, comps)
		}

		admin := c.ids["admin-dashboard"]
		before = c.stored()
		r = b.post("/console/components/"+admin+"/edit", url.Values{"name": {"Back office"},
			"description": {"Renamed with a bad group."}, "position": {"5"}, "group": {"nope"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("unknown group: %d, want 422: %.300s", r.Code, r.Body)
		}
		page = parseHTML(t, r.Body)
		if text(queryOne(t, page, `[data-testid="error-`+admin+`.group"]`)) == "" {
			t.Error("no error next to the component's group field")
		}
		if n := len(queryAll(t, page, `[data-testid="error-`+portal+`.group"]`)); n != 0 {
			t.Error("the error is shown next to another component too")
		}
		c.wantNothingStored(before, "an unknown group")
		if body := string(c.getOK("/api/v2/components.json").Body); strings.Contains(body, "Back office") {
			t.Error("a refused edit reached the public API")
		}
	})
}
