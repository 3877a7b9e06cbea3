package engine

import (
	"context"
	"sync"
	"time"

	"github.com/kredete/herald"
)

// versioned is a store that numbers the states of what the public page
// shows: every write to incidents, updates and components moves the
// version (store.Store.Version).
type versioned interface {
	Version(ctx context.Context) (int64, time.Time, error)
}

// pageCache keeps, for one page version, what every subscriber message of
// a fan-out reads again: the incident, the components, the open incidents.
// A hundred thousand mails about one update then read them once, not a
// hundred thousand times; a write in between moves the version and the
// next message reads them afresh, so a message never tells less than the
// public page shows. Each message reads only the version (one row).
type pageCache struct {
	mu        sync.Mutex
	version   int64
	valid     bool
	incidents map[string]herald.Incident
	comps     []herald.Component
	open      []herald.Incident
	haveComps bool
	haveOpen  bool
}

// pageAt returns the cache for the store's current version, emptied when the
// version moved; ok is false when the store has no version (then nothing
// is cached).
func (e *Engine) pageAt(ctx context.Context) (version int64, ok bool, err error) {
	st, ok := e.o.Store.(versioned)
	if !ok {
		return 0, false, nil
	}
	v, _, err := st.Version(ctx)
	if err != nil {
		return 0, false, err
	}
	c := &e.page
	c.mu.Lock()
	if !c.valid || c.version != v {
		c.version, c.valid = v, true
		c.incidents = map[string]herald.Incident{}
		c.comps, c.open, c.haveComps, c.haveOpen = nil, nil, false, false
	}
	c.mu.Unlock()
	return v, true, nil
}

// cached returns the value kept for version v by get, reading it with
// read when it is not kept. The read runs outside the lock; a value read
// for an older version is not kept.
func cached[T any](e *Engine, v int64, get func(*pageCache) (T, bool), put func(*pageCache, T), read func() (T, error)) (T, error) {
	c := &e.page
	c.mu.Lock()
	if c.valid && c.version == v {
		if val, ok := get(c); ok {
			c.mu.Unlock()
			return val, nil
		}
	}
	c.mu.Unlock()
	val, err := read()
	if err != nil {
		return val, err
	}
	c.mu.Lock()
	if c.valid && c.version == v {
		put(c, val)
	}
	c.mu.Unlock()
	return val, nil
}

// pageReads reads a subscriber message's incident, components and open
// incidents through the cache.
type pageReads struct {
	e       *Engine
	version int64
	cache   bool
}

func (e *Engine) pageReads(ctx context.Context) (pageReads, error) {
	v, ok, err := e.pageAt(ctx)
	return pageReads{e: e, version: v, cache: ok}, err
}

func (r pageReads) incident(ctx context.Context, id string) (herald.Incident, error) {
	if !r.cache {
		return r.e.o.Store.Incident(ctx, id)
	}
	return cached(r.e, r.version,
		func(c *pageCache) (herald.Incident, bool) { in, ok := c.incidents[id]; return in, ok },
		func(c *pageCache, in herald.Incident) { c.incidents[id] = in },
		func() (herald.Incident, error) { return r.e.o.Store.Incident(ctx, id) })
}

func (r pageReads) components(ctx context.Context) ([]herald.Component, error) {
	if !r.cache {
		return r.e.o.Store.Components(ctx)
	}
	return cached(r.e, r.version,
		func(c *pageCache) ([]herald.Component, bool) { return c.comps, c.haveComps },
		func(c *pageCache, comps []herald.Component) { c.comps, c.haveComps = comps, true },
		func() ([]herald.Component, error) { return r.e.o.Store.Components(ctx) })
}

func (r pageReads) openIncidents(ctx context.Context, st webhookStore) ([]herald.Incident, error) {
	if !r.cache {
		return st.OpenIncidents(ctx)
	}
	return cached(r.e, r.version,
		func(c *pageCache) ([]herald.Incident, bool) { return c.open, c.haveOpen },
		func(c *pageCache, open []herald.Incident) { c.open, c.haveOpen = open, true },
		func() ([]herald.Incident, error) { return st.OpenIncidents(ctx) })
}
