package handlers

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/kredete/herald/components"
)

// DatabaseHealth tells whether Herald can reach its database (store.Health).
type DatabaseHealth interface {
	// Down reports whether the database is unreachable, and since when.
	Down() (since time.Time, down bool)
	// Unreachable tells whether a query's error means the database cannot
	// be reached, checking at once when it cannot tell.
	Unreachable(ctx context.Context, err error) bool
	// Check asks the database now and reports whether it is down, waiting
	// at most until ctx ends (then the last known state).
	Check(ctx context.Context) bool
}

// UseHealth makes the public side follow the database's state: while it is
// unreachable, Run keeps serving the last snapshot with a notice of its age
// on every page. Call it before Run, and call Changed when the state
// changes.
func (p *Public) UseHealth(h DatabaseHealth) { p.health = h }

// update brings the snapshot up to date: rebuilt from the database, or,
// while the database is unreachable, the last one with its pages rendered
// again with the notice (its age moves on every minute).
func (p *Public) update(ctx context.Context) error {
	if p.health != nil {
		if since, down := p.health.Down(); down {
			return p.showOutage(since)
		}
	}
	return p.Refresh(ctx)
}

// showOutage replaces the snapshot with a copy whose pages say the database
// has been unreachable since since and how old their status is. A rebuild
// from the database swapped in meanwhile wins.
func (p *Public) showOutage(since time.Time) error {
	cur := p.snap.Load()
	if cur == nil {
		return nil
	}
	o := &components.Outage{Since: since, AsOf: cur.BuiltAt, Now: p.builder.Now()}
	s, err := cur.withOutage(o)
	if err != nil {
		return err
	}
	p.snap.CompareAndSwap(cur, s)
	return nil
}

// outageState is what a snapshot served during an outage adds to each
// response: RFC 9111's Age (the seconds since its data was read) and the
// Warning "110 Response is Stale", since the API's documents must keep
// Statuspage's fields and cannot say it in the body.
type outageState struct {
	asOf     time.Time
	warning  []string
	asOfHTTP []string
}

func (o *outageState) headers(h http.Header, now time.Time) {
	age := max(0, int(now.Sub(o.asOf)/time.Second))
	h["Age"] = []string{strconv.Itoa(age)}
	h["Warning"] = o.warning
	h["Herald-Data-As-Of"] = o.asOfHTTP
}

// withOutage is a copy of s whose pages carry the outage notice: the status
// page and its refreshing part are rendered again from the view s was built
// with (the database is not read); the other pages render on request from
// the copy's site, which carries the notice. The API documents and feeds
// keep their bodies, so strict clients decode them as before.
func (s *Snapshot) withOutage(o *components.Outage) (*Snapshot, error) {
	out := &Snapshot{Version: s.Version, BuiltAt: s.BuiltAt, UpdatedAt: s.UpdatedAt, entries: maps.Clone(s.entries),
		incidents: s.incidents, components: s.components, site: s.site, months: s.months, view: s.view,
		lazy: map[string]*Entry{},
		outage: &outageState{asOf: s.BuiltAt, warning: []string{`110 herald "Response is Stale"`},
			asOfHTTP: []string{s.BuiltAt.UTC().Format(http.TimeFormat)}}}
	out.site.Outage = o
	v := s.view
	v.Outage = o
	html := "text/html; charset=utf-8"
	if err := out.putTempl("/", components.StatusPage(v), html, s.UpdatedAt); err != nil {
		return nil, err
	}
	if err := out.putTempl("/#fragment", components.StatusContent(v), html, s.UpdatedAt); err != nil {
		return nil, err
	}
	return out, nil
}
