package handlers_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/handlers"
)

// gatedSource holds one snapshot build after it has read its data, so a
// test can interleave a slow background rebuild with a write.
type gatedSource struct {
	handlers.SnapshotSource
	mu      sync.Mutex
	armed   bool
	reached chan struct{}
	release chan struct{}
}

func (g *gatedSource) RecentIncidents(ctx context.Context, since time.Time) ([]herald.Incident, error) {
	list, err := g.SnapshotSource.RecentIncidents(ctx, since)
	g.mu.Lock()
	hold := g.armed
	g.armed = false
	g.mu.Unlock()
	if hold {
		close(g.reached)
		<-g.release
	}
	return list, err
}

// TestSnapshotNeverGoesBack: a background rebuild that read the data
// before a write, and finishes after the writer's own rebuild, must not
// replace the newer snapshot: the writer would stop reading its write.
func TestSnapshotNeverGoesBack(t *testing.T) {
	gate := &gatedSource{reached: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, envOptions{token: adminToken, source: func(s handlers.SnapshotSource) handlers.SnapshotSource {
		gate.SnapshotSource = s
		return gate
	}})
	gate.mu.Lock()
	gate.armed = true
	gate.mu.Unlock()
	slow := make(chan error, 1)
	go func() { slow <- e.public.Refresh(context.Background()) }() // as Public.Run does on its ticker
	<-gate.reached

	in := e.declare(map[string]any{"name": "Written while a rebuild was running", "body": "Investigating."})
	if got := incidentIDs(e.apiDoc("/api/v2/incidents/unresolved.json").Incidents); !slices.Equal(got, []string{in.ID}) {
		t.Fatalf("right after the write, unresolved.json = %q", got)
	}
	close(gate.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if got := incidentIDs(e.apiDoc("/api/v2/incidents/unresolved.json").Incidents); !slices.Equal(got, []string{in.ID}) {
		t.Errorf("after the older rebuild finished, unresolved.json = %q: the page went back in time", got)
	}
	doc := parseHTML(t, e.getOK("/").Body)
	if n := len(queryAll(t, doc, "article[data-incident="+in.ID+"]")); n != 1 {
		t.Errorf("the front page lost the incident")
	}
	v, _, err := e.store.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := e.public.Snapshot(); s.Version != v {
		t.Errorf("serving snapshot version %d, the database is at %d", s.Version, v)
	}
}

// TestRefreshKeepsServingOnFailure: when a rebuild fails, the last good
// snapshot stays.
func TestRefreshKeepsServingOnFailure(t *testing.T) {
	fail := &failingSource{}
	e := newEnv(t, envOptions{source: func(s handlers.SnapshotSource) handlers.SnapshotSource {
		fail.SnapshotSource = s
		return fail
	}})
	before := e.getOK("/api/v2/summary.json").Body
	fail.mu.Lock()
	fail.fail = true
	fail.mu.Unlock()
	if err := e.public.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh succeeded with a failing source")
	}
	if r := e.get("/api/v2/summary.json"); r.Code != http.StatusOK || string(r.Body) != string(before) {
		t.Errorf("after a failed rebuild: %d %s", r.Code, r.Body)
	}
}

type failingSource struct {
	handlers.SnapshotSource
	mu   sync.Mutex
	fail bool
}

func (f *failingSource) Components(ctx context.Context) ([]herald.Component, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, context.DeadlineExceeded
	}
	return f.SnapshotSource.Components(ctx)
}
