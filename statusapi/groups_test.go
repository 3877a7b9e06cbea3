package statusapi_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/statusapi"
)

// TestGroups: with Items, a group is a Statuspage component with group:
// true, its members' ids and their worst status, followed by the members,
// each pointing back through group_id.
func TestGroups(t *testing.T) {
	comps := fixtureComponents()
	const groupID = "grplending01"
	comps[1].GroupID, comps[2].GroupID = groupID, groupID // credit (degraded), partner (maintenance)
	group := herald.ComponentGroup{ID: groupID, Key: "lending", Name: "Lending", Description: "Everything a borrower touches.",
		Position: 2, CreatedAt: at("2026-01-10T23:30:00Z"), UpdatedAt: at("2026-11-20T08:00:00Z")}
	items := herald.Arrange([]herald.ComponentGroup{group}, comps)
	incidents := fixtureIncidents()
	in := statusapi.Input{Page: fixturePage, Location: lagos(t), UpdatedAt: at("2026-11-25T14:05:09.123456Z"),
		Components: comps, Items: items, Incidents: incidents, Status: herald.Overall(comps, incidents)}
	docs := statusapi.Build(in)

	var ids []string
	for _, c := range docs.Components.Components {
		ids = append(ids, c.ID)
	}
	want := []string{"cmpapiplatfrm", groupID, "cmpcreditorig", "cmppartnerint", "cmpcustportal", "cmpadmindashb"}
	if !slices.Equal(ids, want) {
		t.Fatalf("components.json lists %q, want %q", ids, want)
	}
	if !reflect.DeepEqual(docs.Summary.Components, docs.Components.Components) {
		t.Error("summary.json and components.json list different components")
	}

	g := docs.Components.Components[1]
	if !g.Group || g.Name != "Lending" || g.Position != 2 || g.PageID != "kredete" || g.GroupID != nil {
		t.Errorf("group = %+v; want group: true, Lending, position 2, page kredete, no group_id", g)
	}
	if g.Description == nil || *g.Description != "Everything a borrower touches." {
		t.Errorf("group description = %v", g.Description)
	}
	if !slices.Equal(g.Components, []string{"cmpcreditorig", "cmppartnerint"}) {
		t.Errorf("group components = %q, want its two members in order", g.Components)
	}
	// Degraded and under maintenance: maintenance is the worse.
	if g.Status != string(herald.UnderMaintenance) {
		t.Errorf("group status = %q, want %s, the worst of its members'", g.Status, herald.UnderMaintenance)
	}
	if got := g.UpdatedAt.Format(statusapi.TimeLayout); got != "2026-11-20T09:00:00.000+01:00" {
		t.Errorf("group updated_at = %s, want the group's, in the page's zone", got)
	}
	for i, c := range docs.Components.Components {
		switch {
		case i == 1:
		case c.ID == "cmpcreditorig" || c.ID == "cmppartnerint":
			if c.GroupID == nil || *c.GroupID != groupID {
				t.Errorf("member %s has group_id %v, want %s", c.ID, c.GroupID, groupID)
			}
			if c.Group || c.Components != nil {
				t.Errorf("member %s looks like a group: %+v", c.ID, c)
			}
		default:
			if c.GroupID != nil || c.Group || c.Components != nil {
				t.Errorf("stand-alone %s = %+v; want no group_id, group false, no components", c.ID, c)
			}
		}
	}
	// An incident's components are still found by id.
	if got := docs.Unresolved.Incidents[0].Components; len(got) != 2 || got[1].ID != "cmpcreditorig" || got[1].GroupID == nil {
		t.Errorf("the open incident's components = %+v; want api and credit, credit in its group", got)
	}

	// Every document reads back strictly as a Statuspage client would.
	for _, d := range documents(docs) {
		t.Run(d.name, func(t *testing.T) {
			b, err := json.Marshal(d.doc)
			if err != nil {
				t.Fatal(err)
			}
			conform(t, b, d.kind, zoneOffset)
		})
	}
	b, err := json.Marshal(docs.Components)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Components []map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for i, c := range raw.Components {
		_, has := c["components"]
		if has != (i == 1) {
			t.Errorf("components[%d] (%s): has a \"components\" key: %v; want it on the group only", i, c["id"], has)
		}
	}
	if got := string(raw.Components[1]["group"]); got != "true" {
		t.Errorf("the group's \"group\" = %s, want true", got)
	}
	if got := string(raw.Components[1]["components"]); got != `["cmpcreditorig","cmppartnerint"]` {
		t.Errorf("the group's \"components\" = %s", got)
	}
	if got := string(raw.Components[2]["group_id"]); got != `"`+groupID+`"` {
		t.Errorf("the first member's group_id = %s, want %q", got, groupID)
	}
}

// TestGroupsAllOperational: a group whose members are all operational is
// operational, and a group with no members (left out by Arrange) is not
// listed.
func TestGroupsAllOperational(t *testing.T) {
	comps := fixtureComponents()
	for i := range comps {
		comps[i].Status = herald.Operational
	}
	comps[4].GroupID = "grpadmin0001"
	groups := []herald.ComponentGroup{
		{ID: "grpadmin0001", Name: "Back office", Position: 9, CreatedAt: at("2026-01-10T23:30:00Z"), UpdatedAt: at("2026-01-10T23:30:00Z")},
		{ID: "grpempty0001", Name: "Empty", Position: 1, CreatedAt: at("2026-01-10T23:30:00Z"), UpdatedAt: at("2026-01-10T23:30:00Z")},
	}
	docs := statusapi.Build(statusapi.Input{Page: fixturePage, Location: lagos(t), UpdatedAt: at("2026-11-25T14:05:09.123Z"),
		Components: comps, Items: herald.Arrange(groups, comps), Status: herald.Overall(comps, nil)})
	var ids []string
	for _, c := range docs.Components.Components {
		ids = append(ids, c.ID)
	}
	want := []string{"cmpapiplatfrm", "cmpcreditorig", "cmppartnerint", "cmpcustportal", "grpadmin0001", "cmpadmindashb"}
	if !slices.Equal(ids, want) {
		t.Fatalf("components.json lists %q, want %q", ids, want)
	}
	if g := docs.Components.Components[4]; g.Status != "operational" || !g.Group || g.Description != nil {
		t.Errorf("group = %+v; want operational, group: true, null description", g)
	}
	b, err := json.Marshal(docs.Summary)
	if err != nil {
		t.Fatal(err)
	}
	conform(t, b, &apiSummary{}, zoneOffset)
}
