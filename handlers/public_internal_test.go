package handlers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/config"
)

// versionSource is a snapshot source with no incidents whose version the
// test sets; it counts the builds read from it.
type versionSource struct {
	mu      sync.Mutex
	version int64
	err     error
	builds  atomic.Int64
	comps   []herald.Component
}

func (s *versionSource) Components(context.Context) ([]herald.Component, error) {
	s.builds.Add(1)
	return s.comps, nil
}
func (s *versionSource) Groups(context.Context) ([]herald.ComponentGroup, error) { return nil, nil }
func (s *versionSource) StatusHistory(context.Context, time.Time) ([]herald.StatusChange, error) {
	return nil, nil
}
func (s *versionSource) RecentIncidents(context.Context, time.Time) ([]herald.Incident, error) {
	return nil, nil
}
func (s *versionSource) Version(context.Context) (int64, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), s.err
}
func (s *versionSource) set(v int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.err = v, err
}

type downHealth struct{ down atomic.Bool }

func (h *downHealth) Down() (time.Time, bool)                 { return time.Time{}, h.down.Load() }
func (h *downHealth) Unreachable(context.Context, error) bool { return h.down.Load() }
func (h *downHealth) Check(context.Context) bool              { return h.down.Load() }

func newVersionPublic(t *testing.T) (*Public, *versionSource) {
	t.Helper()
	plan, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	src := &versionSource{version: 7}
	now := func() time.Time { return time.Date(2026, 11, 25, 10, 5, 0, 0, time.UTC) }
	b := &SnapshotBuilder{Source: src, Plan: plan, Site: components.Site{Name: "Kredete status", Location: time.UTC}, Now: now}
	p := NewPublic(b, nil, nil)
	if err := p.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p, src
}

// A change signal for a version the snapshot already holds (a write made at
// start, before the first build) must not rebuild; any other must.
func TestPublicCurrent(t *testing.T) {
	ctx := t.Context()
	p, src := newVersionPublic(t)
	if !p.current(ctx) {
		t.Fatal("current() = false for the version just built")
	}
	src.set(8, nil)
	if p.current(ctx) {
		t.Error("current() = true after the database's version moved on")
	}
	src.set(7, errors.New("connection refused"))
	if p.current(ctx) {
		t.Error("current() = true when the version cannot be read")
	}
	src.set(7, nil)
	h := &downHealth{}
	p.UseHealth(h)
	h.down.Store(true)
	if p.current(ctx) {
		t.Error("current() = true while the monitor says the database is down")
	}
	if err := p.update(ctx); err != nil { // shows the outage notice
		t.Fatal(err)
	}
	h.down.Store(false)
	if p.Snapshot().outage == nil {
		t.Fatal("update during the outage served no notice")
	}
	if p.current(ctx) {
		t.Error("current() = true for a snapshot with the outage notice, once the database is back")
	}
}

// Run rebuilds on a signal only when the version moved: a signal with the
// same version, then a write and its signal, make one build, not two.
func TestRunSkipsSignalsForTheVersionItHas(t *testing.T) {
	p, src := newVersionPublic(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	built := src.builds.Load()
	p.Changed()
	// Wait until Run has taken the signal (its check reads the version).
	deadline := time.Now().Add(10 * time.Second)
	for len(p.kick) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not take the change signal within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	src.set(8, nil)
	p.Changed()
	for p.Snapshot().Version != 8 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot of version 8 within 10 s of its signal")
		}
		time.Sleep(time.Millisecond)
	}
	if n := src.builds.Load() - built; n != 1 {
		t.Errorf("%d builds for one signal with the same version and one with a new version; want 1", n)
	}
}
