package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
)

var (
	groupSpecs = []herald.GroupSpec{
		{Key: "lending", Name: "Lending", Description: "Everything a borrower touches."},
		{Key: "edge", Name: "Edge"},
	}
	groupedSpecs = []herald.ComponentSpec{
		{Key: "api-platform", Name: "API Platform", Description: "Public and partner APIs.", Group: "edge"},
		{Key: "credit-origination", Name: "Credit Origination", Description: "Loans.", Group: "lending"},
		{Key: "customer-portal", Name: "Customer Portal", Description: "The borrower's web app."},
		{Key: "scoring", Name: "Scoring", Group: "lending"},
	}
)

func groupsByKey(t *testing.T, s *store.Store) map[string]herald.ComponentGroup {
	t.Helper()
	list, err := s.Groups(t.Context())
	if err != nil {
		t.Fatalf("Groups: %v", err)
	}
	m := map[string]herald.ComponentGroup{}
	for _, g := range list {
		m[g.Key] = g
	}
	return m
}

// arranged is the page's layout by key: "key" for a component on its own,
// "key[member,member]" for a group.
func arranged(t *testing.T, s *store.Store) []string {
	t.Helper()
	groups, err := s.Groups(t.Context())
	if err != nil {
		t.Fatalf("Groups: %v", err)
	}
	comps, err := s.Components(t.Context())
	if err != nil {
		t.Fatalf("Components: %v", err)
	}
	var out []string
	for _, it := range herald.Arrange(groups, comps) {
		if it.Group == nil {
			out = append(out, it.Component.Key)
			continue
		}
		var keys []string
		for _, m := range it.Members {
			keys = append(keys, m.Key)
		}
		out = append(out, it.Group.Key+"["+strings.Join(keys, ",")+"]")
	}
	return out
}

// wantFields checks err is ValidationErrors naming exactly fields.
func wantFields(t *testing.T, what string, err error, fields ...string) {
	t.Helper()
	var ves herald.ValidationErrors
	if !errors.As(err, &ves) || !errors.Is(err, herald.ErrInvalid) {
		t.Errorf("%s: got %v (%T), want ValidationErrors", what, err, err)
		return
	}
	var got []string
	for _, ve := range ves {
		got = append(got, ve.Field)
	}
	if !slices.Equal(got, fields) {
		t.Errorf("%s: fields %q, want %q (%v)", what, got, fields, err)
	}
}

// auditHas reports whether the log has an entry for the action on id by
// actor whose after holds every one of the fragments.
func auditHas(t *testing.T, s *store.Store, action, id, actor string, after ...string) bool {
	t.Helper()
	entries, err := s.Audit(t.Context(), "", 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action != action || e.EntityID != id || e.Actor != actor {
			continue
		}
		ok := true
		for _, a := range after {
			ok = ok && strings.Contains(e.After, a)
		}
		if ok {
			return true
		}
	}
	return false
}

// testComponentGroups: groups from the configuration, from the console,
// and how the two meet.
func testComponentGroups(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	sync := func(groups []herald.GroupSpec, specs []herald.ComponentSpec) {
		t.Helper()
		if err := s.SyncComponents(ctx, groups, specs); err != nil {
			t.Fatalf("SyncComponents: %v", err)
		}
	}

	t1 := clk.Set(base)
	sync(groupSpecs, groupedSpecs)
	groups := groupsByKey(t, s)
	comps := componentsByKey(t, s)
	edge, lending := groups["edge"], groups["lending"]

	t.Run("sync stores groups where their first component is listed", func(t *testing.T) {
		want := []herald.ComponentGroup{
			{ID: edge.ID, Key: "edge", Name: "Edge", Position: 1, CreatedAt: t1, UpdatedAt: t1},
			{ID: lending.ID, Key: "lending", Name: "Lending", Description: "Everything a borrower touches.", Position: 3, CreatedAt: t1, UpdatedAt: t1},
		}
		got, err := s.Groups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("groups (-want +got):\n%s", diff)
		}
		if len(edge.ID) != 12 || len(lending.ID) != 12 || edge.ID == lending.ID {
			t.Errorf("group ids %q, %q; want 12 unique characters", edge.ID, lending.ID)
		}
	})

	t.Run("components exclude groups and point at theirs", func(t *testing.T) {
		type row struct {
			Key      string
			Position int
			GroupID  string
		}
		list, err := s.Components(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []row
		for _, c := range list {
			got = append(got, row{c.Key, c.Position, c.GroupID})
		}
		want := []row{{"api-platform", 2, edge.ID}, {"credit-origination", 4, lending.ID}, {"customer-portal", 5, ""}, {"scoring", 6, lending.ID}}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("components (-want +got):\n%s", diff)
		}
		if h := history(t, s, time.Time{}); len(h) != 4 {
			t.Errorf("history has %d entries; want 4, one per component and none for a group: %+v", len(h), h)
		}
		if diff := gocmp.Diff([]string{"edge[api-platform]", "lending[credit-origination,scoring]", "customer-portal"}, arranged(t, s)); diff != "" {
			t.Errorf("layout (-want +got):\n%s", diff)
		}
	})

	t.Run("an unchanged sync touches nothing", func(t *testing.T) {
		clk.Set(base.Add(time.Hour))
		sync(groupSpecs, groupedSpecs)
		if diff := gocmp.Diff(groups, groupsByKey(t, s)); diff != "" {
			t.Errorf("groups (-before +after):\n%s", diff)
		}
		if diff := gocmp.Diff(comps, componentsByKey(t, s)); diff != "" {
			t.Errorf("components (-before +after):\n%s", diff)
		}
	})

	t.Run("configured groups follow the file", func(t *testing.T) {
		t2 := clk.Set(base.Add(2 * time.Hour))
		renamed := slices.Clone(groupSpecs)
		renamed[1] = herald.GroupSpec{Key: "edge", Name: "Edge services", Description: "At the border."}
		sync(renamed, groupedSpecs)
		got := groupsByKey(t, s)["edge"]
		if got.Name != "Edge services" || got.Description != "At the border." || got.UpdatedAt != t2 || got.ID != edge.ID {
			t.Errorf("after renaming in the file, edge is %+v", got)
		}
		sync(groupSpecs, groupedSpecs)
	})

	t.Run("a key cannot switch between component and group", func(t *testing.T) {
		beforeG, beforeC := groupsByKey(t, s), componentsByKey(t, s)
		// A group takes the key of a component.
		gs := append(slices.Clone(groupSpecs), herald.GroupSpec{Key: "customer-portal", Name: "Portal"})
		cs := slices.Clone(groupedSpecs)
		cs[2] = herald.ComponentSpec{Key: "portal-web", Name: "Portal web", Group: "customer-portal"}
		if err := s.SyncComponents(ctx, gs, cs); !errors.Is(err, herald.ErrInvalid) || !strings.Contains(err.Error(), "customer-portal") {
			t.Errorf("component key reused for a group: got %v, want ErrInvalid naming customer-portal", err)
		}
		// A component takes the key of a group.
		cs = append(slices.Clone(groupedSpecs[:3]), herald.ComponentSpec{Key: "lending", Name: "Lending desk"}, groupedSpecs[3])
		gs = []herald.GroupSpec{groupSpecs[1], {Key: "loans", Name: "Loans"}}
		cs[1].Group, cs[4].Group = "loans", "loans"
		if err := s.SyncComponents(ctx, gs, cs); !errors.Is(err, herald.ErrInvalid) || !strings.Contains(err.Error(), "lending") {
			t.Errorf("group key reused for a component: got %v, want ErrInvalid naming lending", err)
		}
		if diff := gocmp.Diff(beforeG, groupsByKey(t, s)); diff != "" {
			t.Errorf("a refused sync changed the groups (-before +after):\n%s", diff)
		}
		if diff := gocmp.Diff(beforeC, componentsByKey(t, s)); diff != "" {
			t.Errorf("a refused sync changed the components (-before +after):\n%s", diff)
		}
	})

	t.Run("EditGroup", func(t *testing.T) {
		if _, err := s.EditGroup(ctx, "nope", "Name", "", 1, "ada"); !errors.Is(err, herald.ErrNotFound) {
			t.Errorf("unknown group: got %v, want ErrNotFound", err)
		}
		if _, err := s.EditGroup(ctx, comps["customer-portal"].ID, "Name", "", 1, "ada"); !errors.Is(err, herald.ErrNotFound) {
			t.Errorf("a component's id: got %v, want ErrNotFound", err)
		}
		_, err := s.EditGroup(ctx, lending.ID, "  ", "x", 0, "ada")
		wantFields(t, "empty name and position 0", err, "name", "position")
		_, err = s.EditGroup(ctx, lending.ID, "Lending", strings.Repeat("x", 1001), 1001, "ada")
		wantFields(t, "long description and position 1001", err, "description", "position")
		if got := groupsByKey(t, s)["lending"]; got != lending {
			t.Fatalf("a refused edit changed the group to %+v", got)
		}

		t3 := clk.Set(base.Add(3 * time.Hour))
		edited, err := s.EditGroup(ctx, lending.ID, " Loans ", " Applications and scoring. ", 9, "ada")
		if err != nil {
			t.Fatal(err)
		}
		want := lending
		want.Name, want.Description, want.Position, want.UpdatedAt = "Loans", "Applications and scoring.", 9, t3
		if diff := gocmp.Diff(want, edited); diff != "" {
			t.Errorf("EditGroup returned (-want +got):\n%s", diff)
		}
		if diff := gocmp.Diff(want, groupsByKey(t, s)["lending"]); diff != "" {
			t.Errorf("stored group (-want +got):\n%s", diff)
		}
		if !auditHas(t, s, "group.edit", lending.ID, "ada", `"name":"Loans"`, `"position":9`) {
			t.Error("no group.edit audit entry")
		}
		// A restart syncs the file again: the console's edit stays.
		clk.Set(base.Add(4 * time.Hour))
		sync(groupSpecs, groupedSpecs)
		if diff := gocmp.Diff(want, groupsByKey(t, s)["lending"]); diff != "" {
			t.Errorf("after a sync (-console's edit +got):\n%s", diff)
		}
		if diff := gocmp.Diff([]string{"edge[api-platform]", "customer-portal", "lending[credit-origination,scoring]"}, arranged(t, s)); diff != "" {
			t.Errorf("layout after the move (-want +got):\n%s", diff)
		}
	})

	t.Run("EditComponent moves components between groups", func(t *testing.T) {
		portal := comps["customer-portal"]
		before := componentsByKey(t, s)
		_, err := s.EditComponent(ctx, portal.ID, portal.Name, portal.Description, portal.Position, "nope", "ada")
		wantFields(t, "unknown group", err, "group")
		_, err = s.EditComponent(ctx, portal.ID, portal.Name, portal.Description, portal.Position, comps["scoring"].ID, "ada")
		wantFields(t, "a component's id as the group", err, "group")
		if diff := gocmp.Diff(before, componentsByKey(t, s)); diff != "" {
			t.Fatalf("a refused edit changed the components (-before +after):\n%s", diff)
		}

		moved, err := s.EditComponent(ctx, portal.ID, portal.Name, portal.Description, portal.Position, edge.ID, "ada")
		if err != nil {
			t.Fatal(err)
		}
		if moved.GroupID != edge.ID {
			t.Errorf("EditComponent returned group %q, want %q", moved.GroupID, edge.ID)
		}
		api := comps["api-platform"]
		if _, err := s.EditComponent(ctx, api.ID, api.Name, api.Description, api.Position, "", "ada"); err != nil {
			t.Fatal(err)
		}
		got := componentsByKey(t, s)
		if got["customer-portal"].GroupID != edge.ID || got["api-platform"].GroupID != "" {
			t.Errorf("portal in %q, api in %q; want portal in edge, api alone", got["customer-portal"].GroupID, got["api-platform"].GroupID)
		}
		if !auditHas(t, s, "component.edit", portal.ID, "ada", `"group_id":"`+edge.ID+`"`) {
			t.Error("no component.edit audit entry with the new group")
		}
		// The file still puts api in edge and portal nowhere: the console wins.
		sync(groupSpecs, groupedSpecs)
		want := []string{"edge[customer-portal]", "api-platform", "lending[credit-origination,scoring]"}
		if diff := gocmp.Diff(want, arranged(t, s)); diff != "" {
			t.Errorf("layout after a sync (-want +got):\n%s", diff)
		}
	})

	t.Run("CreateGroup", func(t *testing.T) {
		beforeG := groupsByKey(t, s)
		_, err := s.CreateGroup(ctx, "", "x", 0, "ada")
		wantFields(t, "empty name and position 0", err, "name", "position")
		_, err = s.CreateGroup(ctx, strings.Repeat("n", herald.MaxNameLen+1), strings.Repeat("x", 1001), 1, "ada")
		wantFields(t, "long name and description", err, "name", "description")
		if diff := gocmp.Diff(beforeG, groupsByKey(t, s)); diff != "" {
			t.Fatalf("a refused create stored a group (-before +after):\n%s", diff)
		}

		t5 := clk.Set(base.Add(5 * time.Hour))
		g, err := s.CreateGroup(ctx, " Back office ", " Internal tools. ", 7, "grace")
		if err != nil {
			t.Fatal(err)
		}
		if g.ID == "" || g.Key == "" || g.Name != "Back office" || g.Description != "Internal tools." || g.Position != 7 ||
			g.CreatedAt != t5 || g.UpdatedAt != t5 {
			t.Errorf("CreateGroup returned %+v", g)
		}
		stored, ok := groupsByKey(t, s)[g.Key]
		if !ok {
			t.Fatalf("Groups does not list the new group %+v", g)
		}
		if diff := gocmp.Diff(g, stored); diff != "" {
			t.Errorf("stored group differs from the one returned (-returned +stored):\n%s", diff)
		}
		if _, ok := componentsByKey(t, s)[g.Key]; ok {
			t.Error("Components lists the group")
		}
		if !auditHas(t, s, "group.create", g.ID, "grace", `"name":"Back office"`) {
			t.Error("no group.create audit entry")
		}
		// Empty, it is not on the page.
		if slices.ContainsFunc(arranged(t, s), func(k string) bool { return strings.HasPrefix(k, g.Key) }) {
			t.Errorf("an empty group is laid out: %q", arranged(t, s))
		}
		portal := componentsByKey(t, s)["customer-portal"]
		if _, err := s.EditComponent(ctx, portal.ID, portal.Name, portal.Description, portal.Position, g.ID, "grace"); err != nil {
			t.Fatal(err)
		}
		// edge has lost both members and is no longer shown.
		want := []string{"api-platform", g.Key + "[customer-portal]", "lending[credit-origination,scoring]"}
		if diff := gocmp.Diff(want, arranged(t, s)); diff != "" {
			t.Errorf("layout with the new group (-want +got):\n%s", diff)
		}
		// The file knows nothing of the console's group: a restart keeps it.
		sync(groupSpecs, groupedSpecs)
		if _, ok := groupsByKey(t, s)[g.Key]; !ok {
			t.Error("a sync archived the group made in the console")
		}
		if diff := gocmp.Diff(want, arranged(t, s)); diff != "" {
			t.Errorf("layout after a sync (-want +got):\n%s", diff)
		}
	})

	t.Run("a group removed from the file is archived", func(t *testing.T) {
		// scoring was edited in the console, so its group stays set;
		// credit-origination follows the file out of the group.
		scoring := componentsByKey(t, s)["scoring"]
		if _, err := s.EditComponent(ctx, scoring.ID, "Scoring engine", "", scoring.Position, lending.ID, "ada"); err != nil {
			t.Fatal(err)
		}
		cs := slices.Clone(groupedSpecs)
		cs[1].Group, cs[3].Group = "", ""
		sync(groupSpecs[1:], cs)
		if _, ok := groupsByKey(t, s)["lending"]; ok {
			t.Error("Groups still lists the group the file no longer has")
		}
		if _, err := s.EditGroup(ctx, lending.ID, "Lending", "", 1, "ada"); !errors.Is(err, herald.ErrNotFound) {
			t.Errorf("editing the archived group: got %v, want ErrNotFound", err)
		}
		got := componentsByKey(t, s)
		if got["credit-origination"].GroupID != "" {
			t.Errorf("credit-origination still in group %q", got["credit-origination"].GroupID)
		}
		for _, item := range arranged(t, s) {
			if strings.HasPrefix(item, "lending") {
				t.Errorf("the archived group is laid out: %q", arranged(t, s))
			}
		}
		layout := arranged(t, s)
		for _, k := range []string{"credit-origination", "scoring"} {
			if !slices.Contains(layout, k) {
				t.Errorf("%s does not stand alone: %q", k, layout)
			}
		}
		// Listing it again brings it back with its id.
		sync(groupSpecs, groupedSpecs)
		if got := groupsByKey(t, s)["lending"]; got.ID != lending.ID {
			t.Errorf("re-listed group has id %q, want %q", got.ID, lending.ID)
		}
	})
}
