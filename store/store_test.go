package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestStore is the conformance suite: every case runs on SQLite and on
// PostgreSQL, each on a fresh database.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"Migrate", testMigrate},
		{"SyncComponents", testSyncComponents},
		{"IncidentRoundTrip", testIncidentRoundTrip},
		{"MaintenanceRoundTrip", testMaintenanceRoundTrip},
		{"RecentIncidents", testRecentIncidents},
		{"RefusedWritesChangeNothing", testRefusedWrites},
		{"StatusHistory", testStatusHistory},
		{"SetComponentStatus", testSetComponentStatus},
		{"Version", testVersion},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Timeline", testTimeline},
		{"WatchLocal", testWatchLocal},
		{"WatchOtherInstance", testWatchOtherInstance},
		{"EditComponent", testEditComponent},
		{"ComponentGroups", testComponentGroups},
	}
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, d) })
			}
		})
	}
}

// base has nanoseconds on purpose: the store keeps microseconds.
var base = time.Date(2025, 3, 10, 9, 0, 0, 123456789, time.UTC)

// us is t as the store keeps it.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// clock is the store's injected clock. It stands still unless step is set,
// so every timestamp of one write is the time the test chose for it.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

// Set moves the clock to t and returns t as the store will record it.
func (c *clock) Set(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	return us(t)
}

// Advance moves the clock on by d and returns the new time as the store
// will record it.
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return us(c.now)
}

func open(t *testing.T, dialect string) (*store.Store, *clock) {
	t.Helper()
	clk := &clock{now: base}
	return storetest.Open(t, dialect, store.Options{Now: clk.Now}), clk
}

// openURL opens a store on a database URL as the server does, unmigrated.
func openURL(t *testing.T, dialect, url string, opts store.Options) *store.Store {
	t.Helper()
	d, dsn, err := config.SplitDatabaseURL(url)
	if err != nil || d != dialect {
		t.Fatalf("SplitDatabaseURL(%q) = %q, %v; want %q", url, d, err, dialect)
	}
	s, err := store.Open(context.Background(), d, dsn, opts)
	if err != nil {
		t.Fatalf("Open %s: %v", dialect, err)
	}
	t.Cleanup(s.Close)
	return s
}

var specs = []herald.ComponentSpec{
	{Key: "api-platform", Name: "API Platform", Description: "Public and partner APIs."},
	{Key: "credit-origination", Name: "Credit Origination", Description: "Loans."},
	{Key: "customer-portal", Name: "Customer Portal", Description: "The borrower's web app."},
}

// seed syncs specs and returns the components by key.
func seed(t *testing.T, s *store.Store) map[string]herald.Component {
	t.Helper()
	ctx := t.Context()
	if err := s.SyncComponents(ctx, nil, specs); err != nil {
		t.Fatalf("SyncComponents: %v", err)
	}
	return componentsByKey(t, s)
}

func componentsByKey(t *testing.T, s *store.Store) map[string]herald.Component {
	t.Helper()
	list, err := s.Components(t.Context())
	if err != nil {
		t.Fatalf("Components: %v", err)
	}
	m := map[string]herald.Component{}
	for _, c := range list {
		m[c.Key] = c
	}
	return m
}

func mustIncident(t *testing.T, s *store.Store, id string) herald.Incident {
	t.Helper()
	in, err := s.Incident(t.Context(), id)
	if err != nil {
		t.Fatalf("Incident(%s): %v", id, err)
	}
	return in
}

// sameAsStored checks what a write returned is what a read gives back.
func sameAsStored(t *testing.T, s *store.Store, returned herald.Incident) {
	t.Helper()
	if diff := gocmp.Diff(returned, mustIncident(t, s, returned.ID)); diff != "" {
		t.Errorf("stored incident differs from the one returned (-returned +stored):\n%s", diff)
	}
}

func version(t *testing.T, s *store.Store) int64 {
	t.Helper()
	v, _, err := s.Version(t.Context())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

func history(t *testing.T, s *store.Store, since time.Time) []herald.StatusChange {
	t.Helper()
	h, err := s.StatusHistory(t.Context(), since)
	if err != nil {
		t.Fatalf("StatusHistory: %v", err)
	}
	return h
}

func testMigrate(t *testing.T, dialect string) {
	ctx := t.Context()
	url := storetest.URL(t, dialect)
	s := openURL(t, dialect, url, store.Options{})

	if err := s.CheckSchema(ctx); !errors.Is(err, store.ErrSchemaOutOfDate) {
		t.Fatalf("CheckSchema on a fresh database = %v; want ErrSchemaOutOfDate", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
	if err := s.SyncComponents(ctx, nil, specs); err != nil {
		t.Fatalf("SyncComponents: %v", err)
	}
	before, err := s.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := version(t, s)

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after the second Migrate: %v", err)
	}
	after, err := s.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(before, after); diff != "" {
		t.Errorf("a second Migrate changed the data (-before +after):\n%s", diff)
	}
	if got := version(t, s); got != v {
		t.Errorf("a second Migrate moved the version from %d to %d", v, got)
	}

	// Another replica sees the schema as up to date.
	other := openURL(t, dialect, url, store.Options{})
	if err := other.CheckSchema(ctx); err != nil {
		t.Errorf("CheckSchema from a second store: %v", err)
	}
}

func testSyncComponents(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	ignoreID := cmpopts.IgnoreFields(herald.Component{}, "ID")
	list := func() []herald.Component {
		t.Helper()
		l, err := s.Components(ctx)
		if err != nil {
			t.Fatalf("Components: %v", err)
		}
		return l
	}
	syncSpecs := func(specs []herald.ComponentSpec) {
		t.Helper()
		if err := s.SyncComponents(ctx, nil, specs); err != nil {
			t.Fatalf("SyncComponents: %v", err)
		}
	}
	comp := func(spec herald.ComponentSpec, pos int, created, updated time.Time) herald.Component {
		return herald.Component{Key: spec.Key, Name: spec.Name, Description: spec.Description, Position: pos,
			Status: herald.Operational, Showcase: true, CreatedAt: created, UpdatedAt: updated}
	}

	t1 := clk.Set(base)
	syncSpecs(specs)
	got := list()
	want := []herald.Component{comp(specs[0], 1, t1, t1), comp(specs[1], 2, t1, t1), comp(specs[2], 3, t1, t1)}
	if diff := gocmp.Diff(want, got, ignoreID); diff != "" {
		t.Fatalf("after the first sync (-want +got):\n%s", diff)
	}
	ids, seen := map[string]string{}, map[string]bool{}
	for _, c := range got {
		if len(c.ID) != 12 || seen[c.ID] {
			t.Errorf("component %s has id %q; want 12 unique characters", c.Key, c.ID)
		}
		ids[c.Key], seen[c.ID] = c.ID, true
	}

	t.Run("first status history entry", func(t *testing.T) {
		want := []herald.StatusChange{
			{ComponentID: ids["api-platform"], Status: herald.Operational, At: t1},
			{ComponentID: ids["credit-origination"], Status: herald.Operational, At: t1},
			{ComponentID: ids["customer-portal"], Status: herald.Operational, At: t1},
		}
		sortChanges(want)
		if diff := gocmp.Diff(want, history(t, s, time.Time{})); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
	})

	t.Run("unchanged specs touch nothing", func(t *testing.T) {
		clk.Set(base.Add(time.Hour))
		v := version(t, s)
		syncSpecs(specs)
		if diff := gocmp.Diff(got, list()); diff != "" {
			t.Errorf("(-before +after):\n%s", diff)
		}
		// Every start syncs the file: with nothing changed, no replica
		// may be told to rebuild, nor browsers sent a new ETag.
		if after := version(t, s); after != v {
			t.Errorf("page version went from %d to %d on a sync that changed nothing", v, after)
		}
	})

	// Rename and reorder two, drop the third.
	t3 := clk.Set(base.Add(2 * time.Hour))
	renamed := herald.ComponentSpec{Key: "customer-portal", Name: "Customer Portal (web)", Description: "Web."}
	v := version(t, s)
	syncSpecs([]herald.ComponentSpec{renamed, specs[0]})
	if after := version(t, s); after <= v {
		t.Errorf("page version %d after a sync that renamed, reordered and archived; want more than %d", after, v)
	}
	want = []herald.Component{comp(renamed, 1, t1, t3), comp(specs[0], 2, t1, t3)}
	want[0].ID, want[1].ID = ids["customer-portal"], ids["api-platform"]
	if diff := gocmp.Diff(want, list()); diff != "" {
		t.Errorf("after rename, reorder and removal (-want +got):\n%s", diff)
	}

	// Listing it again brings the archived component back with its id.
	t4 := clk.Set(base.Add(3 * time.Hour))
	admin := herald.ComponentSpec{Key: "admin-dashboard", Name: "Admin Dashboard"}
	v = version(t, s)
	syncSpecs(append(slices.Clone(specs), admin))
	if after := version(t, s); after <= v {
		t.Errorf("page version %d after a sync that added and unarchived; want more than %d", after, v)
	}
	want = []herald.Component{comp(specs[0], 1, t1, t4), comp(specs[1], 2, t1, t4), comp(specs[2], 3, t1, t4), comp(admin, 4, t4, t4)}
	want[0].ID, want[1].ID, want[2].ID = ids["api-platform"], ids["credit-origination"], ids["customer-portal"]
	got = list()
	if len(got) == 4 {
		want[3].ID = got[3].ID
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("after re-adding (-want +got):\n%s", diff)
	}
	h := history(t, s, time.Time{})
	if len(h) != 4 {
		t.Errorf("history has %d entries; want 4 (one per component, none for the unarchived one): %+v", len(h), h)
	}
	if len(got) == 4 && !slices.Contains(h, herald.StatusChange{ComponentID: got[3].ID, Status: herald.Operational, At: t4}) {
		t.Errorf("history %+v has no first entry for the new component", h)
	}
}

func sortChanges(cs []herald.StatusChange) {
	slices.SortStableFunc(cs, func(a, b herald.StatusChange) int {
		return cmp.Or(strings.Compare(a.ComponentID, b.ComponentID), a.At.Compare(b.At))
	})
}

func testIncidentRoundTrip(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	c := seed(t, s)
	api, credit, portal := c["api-platform"], c["credit-origination"], c["customer-portal"]

	t1 := clk.Set(base.Add(time.Hour))
	in, err := s.Declare(ctx, herald.Declaration{
		Name: "Elevated API errors", Body: "We are investigating elevated error rates.", Impact: herald.ImpactMajor,
		NotifyRegulators: true,
		Components: []herald.ComponentTarget{
			{ComponentID: api.ID, Status: herald.MajorOutage},
			{ComponentID: portal.ID, Status: herald.DegradedPerformance},
		},
	}, "alice")
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	if in.ID == "" || in.Updates[0].ID == "" || in.Updates[0].IncidentID != in.ID {
		t.Fatalf("Declare left ids unset: incident %q, update %q for %q", in.ID, in.Updates[0].ID, in.Updates[0].IncidentID)
	}
	if !in.CreatedAt.Equal(t1) || !in.StartedAt.Equal(t1) {
		t.Errorf("CreatedAt = %v, StartedAt = %v; want the clock's %v", in.CreatedAt, in.StartedAt, t1)
	}
	sameAsStored(t, s, in)

	t2 := clk.Set(base.Add(2 * time.Hour))
	in, err = s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Identified, Body: "Cause identified.", Impact: herald.ImpactCritical}, "bob")
	if err != nil {
		t.Fatalf("PostUpdate identified: %v", err)
	}
	sameAsStored(t, s, in)

	t3 := clk.Set(base.Add(3 * time.Hour))
	in, err = s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Monitoring, Body: "Fix deployed.",
		Components: []herald.ComponentTarget{{ComponentID: credit.ID, Status: herald.PartialOutage}}}, "bob")
	if err != nil {
		t.Fatalf("PostUpdate monitoring: %v", err)
	}
	sameAsStored(t, s, in)

	t4 := clk.Set(base.Add(4 * time.Hour))
	in, err = s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "Resolved."}, "bob")
	if err != nil {
		t.Fatalf("PostUpdate resolved: %v", err)
	}
	sameAsStored(t, s, in)

	// The whole incident, spelled out.
	want := herald.Incident{
		ID: in.ID, Kind: herald.KindIncident, Name: "Elevated API errors", Status: herald.Resolved, Impact: herald.ImpactCritical,
		ComponentIDs: []string{api.ID, portal.ID, credit.ID}, NotifyRegulators: true,
		CreatedAt: t1, UpdatedAt: t4, StartedAt: t1, MonitoringAt: &t3, ResolvedAt: &t4,
		Version: 4, // the declaration and three updates
		Updates: []herald.Update{
			{Status: herald.Resolved, Body: "Resolved.", CreatedAt: t4, UpdatedAt: t4, DisplayAt: t4, Changes: []herald.ComponentChange{
				{ComponentID: api.ID, Name: "API Platform", Old: herald.MajorOutage, New: herald.Operational},
				{ComponentID: portal.ID, Name: "Customer Portal", Old: herald.DegradedPerformance, New: herald.Operational},
				{ComponentID: credit.ID, Name: "Credit Origination", Old: herald.PartialOutage, New: herald.Operational},
			}},
			{Status: herald.Monitoring, Body: "Fix deployed.", CreatedAt: t3, UpdatedAt: t3, DisplayAt: t3, Changes: []herald.ComponentChange{
				{ComponentID: credit.ID, Name: "Credit Origination", Old: herald.Operational, New: herald.PartialOutage},
			}},
			{Status: herald.Identified, Body: "Cause identified.", CreatedAt: t2, UpdatedAt: t2, DisplayAt: t2},
			{Status: herald.Investigating, Body: "We are investigating elevated error rates.", CreatedAt: t1, UpdatedAt: t1, DisplayAt: t1, Changes: []herald.ComponentChange{
				{ComponentID: api.ID, Name: "API Platform", Old: herald.Operational, New: herald.MajorOutage},
				{ComponentID: portal.ID, Name: "Customer Portal", Old: herald.Operational, New: herald.DegradedPerformance},
			}},
		},
	}
	ignoreUpdateIDs := cmpopts.IgnoreFields(herald.Update{}, "ID", "IncidentID")
	stored := mustIncident(t, s, in.ID)
	if diff := gocmp.Diff(want, stored, ignoreUpdateIDs); diff != "" {
		t.Errorf("stored incident (-want +got):\n%s", diff)
	}
	for _, u := range stored.Updates {
		if u.IncidentID != in.ID || u.ID == "" {
			t.Errorf("update %q belongs to %q; want %q", u.ID, u.IncidentID, in.ID)
		}
	}

	// The store gives the same result as the domain on its own.
	comps := map[string]herald.Component{api.ID: api, credit.ID: credit, portal.ID: portal}
	dom, err := herald.Declare(herald.Declaration{Name: "Elevated API errors", Body: "We are investigating elevated error rates.",
		Impact: herald.ImpactMajor, NotifyRegulators: true, Components: []herald.ComponentTarget{
			{ComponentID: api.ID, Status: herald.MajorOutage}, {ComponentID: portal.ID, Status: herald.DegradedPerformance}}}, comps, t1)
	if err != nil {
		t.Fatal(err)
	}
	dom.ID = in.ID
	for _, step := range []struct {
		u  herald.UpdateInput
		at time.Time
	}{
		{herald.UpdateInput{Status: herald.Identified, Body: "Cause identified.", Impact: herald.ImpactCritical}, t2},
		{herald.UpdateInput{Status: herald.Monitoring, Body: "Fix deployed.", Components: []herald.ComponentTarget{{ComponentID: credit.ID, Status: herald.PartialOutage}}}, t3},
		{herald.UpdateInput{Status: herald.Resolved, Body: "Resolved."}, t4},
	} {
		if _, err := dom.Apply(step.u, comps, step.at); err != nil {
			t.Fatal(err)
		}
	}
	// The version is the store's: the domain does not count.
	if diff := gocmp.Diff(dom, stored, ignoreUpdateIDs, cmpopts.IgnoreFields(herald.Incident{}, "Version")); diff != "" {
		t.Errorf("store and domain disagree (-domain +store):\n%s", diff)
	}
	for key, c := range componentsByKey(t, s) {
		if c.Status != herald.Operational || c.Status != comps[c.ID].Status {
			t.Errorf("component %s is %s; want operational, as the domain says %s", key, c.Status, comps[c.ID].Status)
		}
	}

	t5 := clk.Set(base.Add(5 * time.Hour))
	in, err = s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Postmortem, Body: "Postmortem published."}, "carol")
	if err != nil {
		t.Fatalf("PostUpdate postmortem: %v", err)
	}
	sameAsStored(t, s, in)
	if in.Status != herald.Postmortem || !in.ResolvedAt.Equal(t4) || !in.UpdatedAt.Equal(t5) {
		t.Errorf("after postmortem: %s, resolved %v, updated %v", in.Status, in.ResolvedAt, in.UpdatedAt)
	}

	t6 := clk.Set(base.Add(6 * time.Hour))
	in, err = s.Reopen(ctx, in.ID, "Errors are back.", "carol")
	if err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	sameAsStored(t, s, in)
	if in.Status != herald.Investigating || in.ResolvedAt != nil || in.MonitoringAt != nil || !in.UpdatedAt.Equal(t6) {
		t.Errorf("after Reopen: %s, resolved %v, monitoring %v, updated %v", in.Status, in.ResolvedAt, in.MonitoringAt, in.UpdatedAt)
	}
	if len(in.Updates) != 6 || in.Updates[0].Body != "Errors are back." {
		t.Errorf("after Reopen: %d updates, newest %q; want 6, the reopening first", len(in.Updates), in.Updates[0].Body)
	}

	recent, err := s.RecentIncidents(ctx, base)
	if err != nil {
		t.Fatalf("RecentIncidents: %v", err)
	}
	if diff := gocmp.Diff([]herald.Incident{in}, recent); diff != "" {
		t.Errorf("RecentIncidents (-want +got):\n%s", diff)
	}

	if _, err := s.Incident(ctx, "nosuchincide"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("Incident(unknown) = %v; want ErrNotFound", err)
	}
}

func testMaintenanceRoundTrip(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	portal := seed(t, s)["customer-portal"]
	lagos, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 3, 12, 2, 0, 0, 999, lagos) // nanoseconds the store drops
	until := from.Add(3 * time.Hour)

	t1 := clk.Set(base.Add(time.Hour))
	in, err := s.Declare(ctx, herald.Declaration{Kind: herald.KindMaintenance, Name: "Database upgrade",
		Body: "Planned upgrade.", Components: []herald.ComponentTarget{{ComponentID: portal.ID}},
		ScheduledFor: from, ScheduledUntil: until}, "alice")
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	sameAsStored(t, s, in)
	if in.ScheduledFor == nil || !in.ScheduledFor.Equal(us(from)) || !in.ScheduledUntil.Equal(us(until)) {
		t.Errorf("schedule = %v – %v; want %v – %v", in.ScheduledFor, in.ScheduledUntil, us(from), us(until))
	}
	if in.Status != herald.Scheduled || in.Impact != herald.ImpactNone || !in.StartedAt.Equal(us(from)) || !in.CreatedAt.Equal(t1) {
		t.Errorf("declared maintenance: %s, impact %s, started %v, created %v", in.Status, in.Impact, in.StartedAt, in.CreatedAt)
	}
	if got := componentsByKey(t, s)["customer-portal"].Status; got != herald.Operational {
		t.Errorf("scheduling put the portal %s; want operational until it starts", got)
	}

	t2 := clk.Set(base.Add(2 * time.Hour))
	in, err = s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.InProgress, Body: "Started.",
		Components: []herald.ComponentTarget{{ComponentID: portal.ID}}}, "alice")
	if err != nil {
		t.Fatalf("PostUpdate in_progress: %v", err)
	}
	sameAsStored(t, s, in)
	if got := componentsByKey(t, s)["customer-portal"].Status; got != herald.UnderMaintenance {
		t.Errorf("in progress: portal is %s; want under_maintenance", got)
	}
	if !in.StartedAt.Equal(t2) {
		t.Errorf("StartedAt = %v; want the real start %v", in.StartedAt, t2)
	}

	t3 := clk.Set(base.Add(3 * time.Hour))
	in, err = s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Completed, Body: "Done."}, "alice")
	if err != nil {
		t.Fatalf("PostUpdate completed: %v", err)
	}
	sameAsStored(t, s, in)
	if got := componentsByKey(t, s)["customer-portal"].Status; got != herald.Operational {
		t.Errorf("completed: portal is %s; want operational", got)
	}
	if in.ResolvedAt == nil || !in.ResolvedAt.Equal(t3) {
		t.Errorf("ResolvedAt = %v; want %v", in.ResolvedAt, t3)
	}
	wantChanges := [][]herald.ComponentChange{
		{{ComponentID: portal.ID, Name: "Customer Portal", Old: herald.UnderMaintenance, New: herald.Operational}},
		{{ComponentID: portal.ID, Name: "Customer Portal", Old: herald.Operational, New: herald.UnderMaintenance}},
		nil,
	}
	var gotChanges [][]herald.ComponentChange
	for _, u := range mustIncident(t, s, in.ID).Updates {
		gotChanges = append(gotChanges, u.Changes)
	}
	if diff := gocmp.Diff(wantChanges, gotChanges); diff != "" {
		t.Errorf("changes per update, newest first (-want +got):\n%s", diff)
	}
}

func testRecentIncidents(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	declare := func(name string, at time.Time) herald.Incident {
		t.Helper()
		clk.Set(at)
		in, err := s.Declare(ctx, herald.Declaration{Name: name, Body: "b"}, "alice")
		if err != nil {
			t.Fatalf("Declare %s: %v", name, err)
		}
		return in
	}
	resolve := func(in herald.Incident, at time.Time) herald.Incident {
		t.Helper()
		clk.Set(at)
		in, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "fixed"}, "alice")
		if err != nil {
			t.Fatalf("resolve %s: %v", in.Name, err)
		}
		return in
	}
	day := 24 * time.Hour
	oldResolved := resolve(declare("old, resolved", base.Add(-10*day)), base.Add(-9*day))
	oldOpen := declare("old, still open", base.Add(-8*day))
	lateResolved := resolve(declare("old, resolved yesterday", base.Add(-7*day)), base.Add(-time.Hour))
	recent := resolve(declare("recent", base.Add(-2*time.Hour)), base.Add(-30*time.Minute))

	tests := []struct {
		since time.Time
		want  []herald.Incident
	}{
		{base.Add(-day), []herald.Incident{recent, lateResolved, oldOpen}},
		{base.Add(-11 * day), []herald.Incident{recent, lateResolved, oldOpen, oldResolved}},
		{base, []herald.Incident{oldOpen}},
	}
	for _, tt := range tests {
		t.Run("since "+tt.since.Format(time.DateTime), func(t *testing.T) {
			got, err := s.RecentIncidents(ctx, tt.since)
			if err != nil {
				t.Fatalf("RecentIncidents: %v", err)
			}
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// snapshot is everything a refused write must leave alone.
type snapshot struct {
	Incidents  []herald.Incident
	Components []herald.Component
	Version    int64
	VersionAt  time.Time
	History    []herald.StatusChange
	Timelines  [][]herald.TimelineEvent
}

func takeSnapshot(t *testing.T, s *store.Store, ids ...string) snapshot {
	t.Helper()
	ctx := t.Context()
	var sn snapshot
	var err error
	for _, id := range ids {
		sn.Incidents = append(sn.Incidents, mustIncident(t, s, id))
		tl, err := s.Timeline(ctx, id, "")
		if err != nil {
			t.Fatalf("Timeline: %v", err)
		}
		sn.Timelines = append(sn.Timelines, tl)
	}
	if sn.Components, err = s.Components(ctx); err != nil {
		t.Fatalf("Components: %v", err)
	}
	if sn.Version, sn.VersionAt, err = s.Version(ctx); err != nil {
		t.Fatalf("Version: %v", err)
	}
	sn.History = history(t, s, time.Time{})
	return sn
}

func testRefusedWrites(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	c := seed(t, s)
	api, portal := c["api-platform"], c["customer-portal"]

	clk.Set(base.Add(time.Hour))
	active, err := s.Declare(ctx, herald.Declaration{Name: "Open", Body: "b", Impact: herald.ImpactMajor, Components: []herald.ComponentTarget{
		{ComponentID: api.ID, Status: herald.MajorOutage}, {ComponentID: portal.ID, Status: herald.DegradedPerformance}}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(2 * time.Hour))
	if _, err := s.PostUpdate(ctx, active.ID, herald.UpdateInput{Status: herald.Identified, Body: "found"}, "alice"); err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(3 * time.Hour))
	closed, err := s.Declare(ctx, herald.Declaration{Name: "Closed", Body: "b"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(4 * time.Hour))
	if _, err := s.PostUpdate(ctx, closed.ID, herald.UpdateInput{Status: herald.Resolved, Body: "fixed"}, "alice"); err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(5 * time.Hour))
	before := takeSnapshot(t, s, active.ID, closed.ID)

	post := func(id string, u herald.UpdateInput) func() error {
		return func() error { _, err := s.PostUpdate(ctx, id, u, "mallory"); return err }
	}
	tests := []struct {
		name  string
		write func() error
		want  error
	}{
		{"unknown status", post(active.ID, herald.UpdateInput{Status: "fixed", Body: "b"}), herald.ErrInvalid},
		{"maintenance status on an incident", post(active.ID, herald.UpdateInput{Status: herald.Completed, Body: "b"}), herald.ErrInvalid},
		{"backwards", post(active.ID, herald.UpdateInput{Status: herald.Investigating, Body: "b",
			Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: herald.Operational}}}), herald.ErrInvalidTransition},
		{"postmortem before resolution", post(active.ID, herald.UpdateInput{Status: herald.Postmortem, Body: "b"}), herald.ErrInvalidTransition},
		{"empty body", post(active.ID, herald.UpdateInput{Status: herald.Monitoring, Body: " "}), herald.ErrInvalid},
		{"unknown impact", post(active.ID, herald.UpdateInput{Impact: "huge", Body: "b"}), herald.ErrInvalid},
		{"unknown component", post(active.ID, herald.UpdateInput{Body: "b",
			Components: []herald.ComponentTarget{{ComponentID: "nosuchcompon", Status: herald.MajorOutage}}}), herald.ErrInvalid},
		{"known and unknown component", post(active.ID, herald.UpdateInput{Status: herald.Resolved, Body: "b", Components: []herald.ComponentTarget{
			{ComponentID: api.ID, Status: herald.Operational}, {ComponentID: "nosuchcompon", Status: herald.Operational}}}), herald.ErrInvalid},
		{"bad component status", post(active.ID, herald.UpdateInput{Body: "b",
			Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: "down"}}}), herald.ErrInvalid},
		{"closed incident", post(closed.ID, herald.UpdateInput{Status: herald.Investigating, Body: "b"}), herald.ErrClosed},
		{"closed incident with components", post(closed.ID, herald.UpdateInput{Status: herald.Resolved, Body: "b",
			Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: herald.Operational}}}), herald.ErrClosed},
		{"unknown incident", post("nosuchincide", herald.UpdateInput{Body: "b"}), herald.ErrNotFound},
		{"reopen an open incident", func() error { _, err := s.Reopen(ctx, active.ID, "again", "mallory"); return err }, herald.ErrInvalidTransition},
		{"reopen without a reason", func() error { _, err := s.Reopen(ctx, closed.ID, "", "mallory"); return err }, herald.ErrInvalid},
		{"reopen an unknown incident", func() error { _, err := s.Reopen(ctx, "nosuchincide", "again", "mallory"); return err }, herald.ErrNotFound},
		{"declare with an unknown component", func() error {
			_, err := s.Declare(ctx, herald.Declaration{Name: "n", Body: "b", Components: []herald.ComponentTarget{
				{ComponentID: api.ID, Status: herald.Operational}, {ComponentID: "nosuchcompon"}}}, "mallory")
			return err
		}, herald.ErrInvalid},
		{"declare without a name", func() error {
			_, err := s.Declare(ctx, herald.Declaration{Body: "b", Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: herald.Operational}}}, "mallory")
			return err
		}, herald.ErrInvalid},
		{"set an unknown status", func() error { _, err := s.SetComponentStatus(ctx, api.ID, "down", "mallory"); return err }, herald.ErrInvalid},
		{"set an unknown component", func() error {
			_, err := s.SetComponentStatus(ctx, "nosuchcompon", herald.Operational, "mallory")
			return err
		}, herald.ErrNotFound},
		{"record an unknown component", func() error {
			return s.RecordStatusAt(ctx, "nosuchcompon", herald.Operational, base, "mallory")
		}, herald.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v; want %v", err, tt.want)
			}
			if diff := gocmp.Diff(before, takeSnapshot(t, s, active.ID, closed.ID)); diff != "" {
				t.Errorf("a refused write changed the store (-before +after):\n%s", diff)
			}
		})
	}
}

func testStatusHistory(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	t0 := clk.Set(base)
	c := seed(t, s)
	api, credit, portal := c["api-platform"].ID, c["credit-origination"].ID, c["customer-portal"].ID

	set := func(id string, st herald.ComponentStatus, at time.Duration) time.Time {
		t.Helper()
		when := clk.Set(base.Add(at))
		if _, err := s.SetComponentStatus(ctx, id, st, "alice"); err != nil {
			t.Fatalf("SetComponentStatus: %v", err)
		}
		return when
	}
	t1 := set(api, herald.DegradedPerformance, time.Minute)
	t2 := set(api, herald.MajorOutage, 2*time.Minute)
	t3 := set(portal, herald.PartialOutage, 3*time.Minute)
	t4 := set(api, herald.Operational, 4*time.Minute)
	// Imported history older than everything else.
	old := us(base.Add(-time.Hour))
	if err := s.RecordStatusAt(ctx, credit, herald.MajorOutage, base.Add(-time.Hour), "import"); err != nil {
		t.Fatalf("RecordStatusAt: %v", err)
	}

	ch := func(id string, st herald.ComponentStatus, at time.Time) herald.StatusChange {
		return herald.StatusChange{ComponentID: id, Status: st, At: at}
	}
	tests := []struct {
		name  string
		since time.Time
		want  []herald.StatusChange
	}{
		{"everything", time.Time{}, []herald.StatusChange{
			ch(api, herald.Operational, t0), ch(api, herald.DegradedPerformance, t1), ch(api, herald.MajorOutage, t2), ch(api, herald.Operational, t4),
			ch(credit, herald.MajorOutage, old), ch(credit, herald.Operational, t0),
			ch(portal, herald.Operational, t0), ch(portal, herald.PartialOutage, t3),
		}},
		{"since a time between changes", t2.Add(30 * time.Second), []herald.StatusChange{
			ch(api, herald.MajorOutage, t2), ch(api, herald.Operational, t4), // the last one before, then the rest
			ch(credit, herald.Operational, t0),
			ch(portal, herald.Operational, t0), ch(portal, herald.PartialOutage, t3),
		}},
		{"since exactly a change", t2, []herald.StatusChange{
			ch(api, herald.DegradedPerformance, t1), ch(api, herald.MajorOutage, t2), ch(api, herald.Operational, t4),
			ch(credit, herald.Operational, t0),
			ch(portal, herald.Operational, t0), ch(portal, herald.PartialOutage, t3),
		}},
		{"since after everything", t4.Add(time.Hour), []herald.StatusChange{
			ch(api, herald.Operational, t4), ch(credit, herald.Operational, t0), ch(portal, herald.PartialOutage, t3),
		}},
		{"since in another time zone", t2.Add(30 * time.Second).In(time.FixedZone("UTC+1", 3600)), []herald.StatusChange{
			ch(api, herald.MajorOutage, t2), ch(api, herald.Operational, t4),
			ch(credit, herald.Operational, t0),
			ch(portal, herald.Operational, t0), ch(portal, herald.PartialOutage, t3),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sortChanges(tt.want)
			if diff := gocmp.Diff(tt.want, history(t, s, tt.since)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("incident changes name the incident", func(t *testing.T) {
		t5 := clk.Set(base.Add(5 * time.Minute))
		in, err := s.Declare(ctx, herald.Declaration{Name: "n", Body: "b",
			Components: []herald.ComponentTarget{{ComponentID: credit, Status: herald.PartialOutage}}}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := []herald.StatusChange{
			ch(api, herald.Operational, t4),
			ch(credit, herald.Operational, t0),
			{ComponentID: credit, Status: herald.PartialOutage, At: t5, IncidentID: in.ID},
			ch(portal, herald.PartialOutage, t3),
		}
		sortChanges(want)
		if diff := gocmp.Diff(want, history(t, s, t5)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func testSetComponentStatus(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	api := seed(t, s)["api-platform"]

	t1 := clk.Set(base.Add(time.Hour))
	got, err := s.SetComponentStatus(ctx, api.ID, herald.PartialOutage, "bob")
	if err != nil {
		t.Fatalf("SetComponentStatus: %v", err)
	}
	want := api
	want.Status, want.UpdatedAt = herald.PartialOutage, t1
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("returned component (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(want, componentsByKey(t, s)["api-platform"]); diff != "" {
		t.Errorf("stored component (-want +got):\n%s", diff)
	}
	wantHistory := []herald.StatusChange{
		{ComponentID: api.ID, Status: herald.Operational, At: api.CreatedAt}, // from the first sync
		{ComponentID: api.ID, Status: herald.PartialOutage, At: t1},
	}
	h := history(t, s, t1)
	h = slices.DeleteFunc(h, func(c herald.StatusChange) bool { return c.ComponentID != api.ID })
	if diff := gocmp.Diff(wantHistory, h); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	// Setting the status it already has records nothing new.
	clk.Set(base.Add(2 * time.Hour))
	n := len(history(t, s, time.Time{}))
	got, err = s.SetComponentStatus(ctx, api.ID, herald.PartialOutage, "bob")
	if err != nil {
		t.Fatalf("SetComponentStatus again: %v", err)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("unchanged component (-want +got):\n%s", diff)
	}
	if m := len(history(t, s, time.Time{})); m != n {
		t.Errorf("history grew from %d to %d entries for no change", n, m)
	}
}

func testVersion(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	if v := version(t, s); v != 0 {
		t.Fatalf("version of a fresh database = %d; want 0", v)
	}
	var api herald.Component
	var inc herald.Incident
	writes := []struct {
		name  string
		write func() error
	}{
		{"SyncComponents", func() error {
			err := s.SyncComponents(ctx, nil, specs)
			api = componentsByKey(t, s)["api-platform"]
			return err
		}},
		{"SetComponentStatus", func() error {
			_, err := s.SetComponentStatus(ctx, api.ID, herald.DegradedPerformance, "a")
			return err
		}},
		{"Declare", func() error {
			var err error
			inc, err = s.Declare(ctx, herald.Declaration{Name: "n", Body: "b"}, "a")
			return err
		}},
		{"PostUpdate", func() error {
			_, err := s.PostUpdate(ctx, inc.ID, herald.UpdateInput{Status: herald.Resolved, Body: "b"}, "a")
			return err
		}},
		{"Reopen", func() error { _, err := s.Reopen(ctx, inc.ID, "again", "a"); return err }},
		{"RecordStatusAt", func() error { return s.RecordStatusAt(ctx, api.ID, herald.MajorOutage, base.Add(-time.Hour), "a") }},
	}
	for i, w := range writes {
		at := clk.Set(base.Add(time.Duration(i+1) * time.Minute))
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		v, vat, err := s.Version(ctx)
		if err != nil {
			t.Fatalf("Version: %v", err)
		}
		if v != int64(i+1) || !vat.Equal(at) {
			t.Errorf("after %s: version %d at %v; want %d at %v", w.name, v, vat, i+1, at)
		}
	}
	// Reads write nothing.
	if _, err := s.RecentIncidents(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	history(t, s, time.Time{})
	mustIncident(t, s, inc.ID)
	if v := version(t, s); v != int64(len(writes)) {
		t.Errorf("reads moved the version to %d; want %d", v, len(writes))
	}
}

// testConcurrentUpdates has several commanders post to one incident at once,
// each moving its own component and a shared one: every update must land, in
// the order they were applied, and each component's changes must chain (the
// old status of one change is the new status of the one before), which fails
// if two writers read the same state or updates are stored out of order.
func testConcurrentUpdates(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	const writers, perWriter = 8, 5
	many := []herald.ComponentSpec{{Key: "shared", Name: "Shared"}}
	for i := range writers {
		many = append(many, herald.ComponentSpec{Key: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("Component %d", i)})
	}
	if err := s.SyncComponents(ctx, nil, many); err != nil {
		t.Fatal(err)
	}
	comps := componentsByKey(t, s)
	in, err := s.Declare(ctx, herald.Declaration{Name: "Busy", Body: "Everyone posts."}, "lead")
	if err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.now = clk.now.Add(time.Second)
	clk.step = time.Millisecond // every call a later time
	clk.mu.Unlock()

	toggle := []herald.ComponentStatus{herald.DegradedPerformance, herald.PartialOutage}
	cycle := []herald.ComponentStatus{herald.DegradedPerformance, herald.PartialOutage, herald.MajorOutage}
	shared := comps["shared"].ID
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for g := range writers {
		wg.Go(func() {
			<-start
			id := comps[fmt.Sprintf("c%d", g)].ID
			for j := range perWriter {
				_, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Body: fmt.Sprintf("writer %d update %d", g, j),
					Components: []herald.ComponentTarget{{ComponentID: id, Status: toggle[j%2]}, {ComponentID: shared, Status: cycle[(g+j)%3]}}},
					fmt.Sprintf("writer%d", g))
				if err != nil {
					errs <- fmt.Errorf("writer %d update %d: %w", g, j, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got := mustIncident(t, s, in.ID)
	if n := len(got.Updates); n != 1+writers*perWriter {
		t.Fatalf("%d updates stored; want %d", n, 1+writers*perWriter)
	}
	var bodies, want []string
	for _, u := range got.Updates[:writers*perWriter] {
		bodies = append(bodies, u.Body)
	}
	for g := range writers {
		for j := range perWriter {
			want = append(want, fmt.Sprintf("writer %d update %d", g, j))
		}
	}
	slices.Sort(bodies)
	slices.Sort(want)
	if diff := gocmp.Diff(want, bodies); diff != "" {
		t.Errorf("update bodies (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got.Updates); i++ {
		if !got.Updates[i].CreatedAt.Before(got.Updates[i-1].CreatedAt) {
			t.Errorf("update %d (%v) is not older than update %d (%v): updates must be stored in the order they were applied",
				i, got.Updates[i].CreatedAt, i-1, got.Updates[i-1].CreatedAt)
		}
	}
	// Oldest first, each component's changes must chain.
	last := map[string]herald.ComponentStatus{}
	for i := len(got.Updates) - 1; i >= 0; i-- {
		for _, ch := range got.Updates[i].Changes {
			prev, ok := last[ch.ComponentID]
			if !ok {
				prev = herald.Operational
			}
			if ch.Old != prev {
				t.Errorf("%q: %s changed from %s, but it was %s: an update read stale state", got.Updates[i].Body, ch.Name, ch.Old, prev)
			}
			last[ch.ComponentID] = ch.New
		}
	}
	final := componentsByKey(t, s)
	for g := range writers {
		c := final[fmt.Sprintf("c%d", g)]
		if want := toggle[(perWriter-1)%2]; c.Status != want || last[c.ID] != want {
			t.Errorf("%s is %s (last change %s); want %s", c.Name, c.Status, last[c.ID], want)
		}
	}
	if c := final["shared"]; c.Status != last[c.ID] {
		t.Errorf("the shared component is %s; the newest stored change says %s", c.Status, last[c.ID])
	}
	if len(got.ComponentIDs) != writers+1 {
		t.Errorf("incident names %d components; want %d", len(got.ComponentIDs), writers+1)
	}
	if v := version(t, s); v != int64(2+writers*perWriter) {
		t.Errorf("version %d; want %d", v, 2+writers*perWriter)
	}
	tl, err := s.Timeline(ctx, in.ID, "update")
	if err != nil || len(tl) != 1+writers*perWriter {
		t.Errorf("timeline has %d declaration and update entries (%v); want %d", len(tl), err, 1+writers*perWriter)
	}
}

func testTimeline(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	api := seed(t, s)["api-platform"]

	t1 := clk.Set(base.Add(time.Minute))
	in, err := s.Declare(ctx, herald.Declaration{Name: "n", Body: "b", Impact: herald.ImpactMajor,
		Components: []herald.ComponentTarget{{ComponentID: api.ID, Status: herald.MajorOutage}}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t2 := clk.Set(base.Add(2 * time.Minute))
	if _, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Identified, Body: "b"}, "bob"); err != nil {
		t.Fatal(err)
	}
	t3 := clk.Set(base.Add(3 * time.Minute))
	if _, err := s.PostUpdate(ctx, in.ID, herald.UpdateInput{Status: herald.Resolved, Body: "b"}, "bob"); err != nil {
		t.Fatal(err)
	}
	t4 := clk.Set(base.Add(4 * time.Minute))
	if _, err := s.Reopen(ctx, in.ID, "back", "carol"); err != nil {
		t.Fatal(err)
	}

	// The public updates, with the declaration, newest first.
	got, err := s.Timeline(ctx, in.ID, "update")
	if err != nil {
		t.Fatalf("Timeline: %v", err)
	}
	want := []herald.TimelineEvent{
		{Kind: "update", Actor: "carol", At: t4},
		{Kind: "update", Actor: "bob", At: t3},
		{Kind: "update", Actor: "bob", At: t2},
		{Kind: "declared", Actor: "alice", At: t1},
	}
	if diff := gocmp.Diff(want, got, cmpopts.IgnoreFields(herald.TimelineEvent{}, "Summary")); diff != "" {
		t.Errorf("update timeline, newest first (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.Summary == "" {
			t.Errorf("%s event at %v has no summary", e.Kind, e.At)
		}
	}

	// Everything, newest first: at least the updates, and the component
	// changes they made.
	all, err := s.Timeline(ctx, in.ID, "")
	if err != nil {
		t.Fatalf("Timeline: %v", err)
	}
	for _, w := range want {
		if !slices.ContainsFunc(all, func(e herald.TimelineEvent) bool { return e.Kind == w.Kind && e.Actor == w.Actor && e.At.Equal(w.At) }) {
			t.Errorf("full timeline has no %s by %s at %v", w.Kind, w.Actor, w.At)
		}
	}
	if !slices.IsSortedFunc(all, func(a, b herald.TimelineEvent) int { return b.At.Compare(a.At) }) {
		t.Errorf("full timeline is not newest first: %+v", all)
	}
	if tl, err := s.Timeline(ctx, "nosuchincide", ""); err != nil || len(tl) != 0 {
		t.Errorf("Timeline(unknown) = %v, %v; want nothing", tl, err)
	}
}

// watch runs s.Watch until the test ends and returns a channel that
// receives once per callback.
func watch(t *testing.T, s *store.Store, poll time.Duration) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, poll, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { changed <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	return changed
}

func waitChange(t *testing.T, changed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatalf("Watch never called back after %s", what)
	}
}

func testWatchLocal(t *testing.T, dialect string) {
	ctx := t.Context()
	s, _ := open(t, dialect)
	// An hour between polls: only the write itself can wake the watcher.
	changed := watch(t, s, time.Hour)

	if err := s.SyncComponents(ctx, nil, specs); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changed, "SyncComponents")

	api := componentsByKey(t, s)["api-platform"]
	if _, err := s.SetComponentStatus(ctx, api.ID, herald.MajorOutage, "alice"); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changed, "SetComponentStatus")

	if _, err := s.Declare(ctx, herald.Declaration{Name: "n", Body: "b"}, "alice"); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changed, "Declare")
}

// testWatchOtherInstance writes through a second Store on the same database,
// as another replica (or the CLI) would. On PostgreSQL the watcher must hear
// it through LISTEN/NOTIFY, with polling effectively off; on SQLite through
// polling the version.
func testWatchOtherInstance(t *testing.T, dialect string) {
	ctx := t.Context()
	url := storetest.URL(t, dialect)
	watcher := openURL(t, dialect, url, store.Options{})
	if err := watcher.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	writer := openURL(t, dialect, url, store.Options{})

	poll := time.Hour
	if dialect == store.SQLite {
		poll = 5 * time.Millisecond
	}
	changed := watch(t, watcher, poll)

	// The watcher may not be listening (or have read its first version) when
	// the first write lands: write until one is seen.
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		if err := writer.SyncComponents(ctx, nil, []herald.ComponentSpec{{Key: "api", Name: fmt.Sprintf("API %d", i)}}); err != nil {
			t.Fatalf("write through the second store: %v", err)
		}
		select {
		case <-changed:
		case <-time.After(250 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("the watcher never saw a write made through another store (%d writes)", i+1)
			}
			continue
		}
		break
	}
	// Once listening, every later write is seen.
	for len(changed) > 0 {
		<-changed
	}
	if err := writer.SyncComponents(ctx, nil, []herald.ComponentSpec{{Key: "api", Name: "API, renamed"}}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, changed, "a second write through another store")
	if got := componentsByKey(t, watcher)["api"].Name; got != "API, renamed" {
		t.Errorf("the watcher reads %q; want the other store's write", got)
	}
}
