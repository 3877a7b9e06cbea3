package store_test

import (
	"errors"
	"testing"

	"github.com/kredete/herald"
)

// testEditComponent: a console edit sticks, the configuration no longer
// overwrites it, bad input changes nothing, and the edit is audited.
func testEditComponent(t *testing.T, dialect string) {
	s, _ := open(t, dialect)
	ctx := t.Context()
	comps := seed(t, s)
	api := comps[specs[0].Key]

	if _, err := s.EditComponent(ctx, api.ID, "  ", "x", 1, "", "ada"); !errors.Is(err, herald.ErrInvalid) {
		t.Fatalf("empty name: got %v, want ErrInvalid", err)
	}
	if _, err := s.EditComponent(ctx, api.ID, "Name", "x", 0, "", "ada"); !errors.Is(err, herald.ErrInvalid) {
		t.Fatalf("position 0: got %v, want ErrInvalid", err)
	}
	if _, err := s.EditComponent(ctx, "nope", "Name", "x", 1, "", "ada"); !errors.Is(err, herald.ErrNotFound) {
		t.Fatalf("unknown component: got %v, want ErrNotFound", err)
	}
	if got := componentsByKey(t, s)[specs[0].Key]; got.Name != api.Name {
		t.Fatalf("a refused edit changed the name to %q", got.Name)
	}

	edited, err := s.EditComponent(ctx, api.ID, "Public API", "REST and webhooks", 9, "", "ada")
	if err != nil {
		t.Fatal(err)
	}
	if edited.Name != "Public API" || edited.Position != 9 {
		t.Errorf("EditComponent returned %+v", edited)
	}
	// A restart syncs the configuration again: the edit stays.
	if err := s.SyncComponents(ctx, nil, specs); err != nil {
		t.Fatal(err)
	}
	got := componentsByKey(t, s)[specs[0].Key]
	if got.Name != "Public API" || got.Description != "REST and webhooks" || got.Position != 9 {
		t.Errorf("after a sync the component is %q %q %d; want the console's edit", got.Name, got.Description, got.Position)
	}
	entries, err := s.Audit(ctx, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || (e.Action == "component.edit" && e.EntityID == api.ID && e.Actor == "ada")
	}
	if !found {
		t.Errorf("no component.edit audit entry in %+v", entries)
	}
}
