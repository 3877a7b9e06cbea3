package handlers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/feeds"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/statusapi"
)

// SnapshotSource is what the snapshot is built from: the store's reads.
type SnapshotSource interface {
	Components(ctx context.Context) ([]herald.Component, error)
	Groups(ctx context.Context) ([]herald.ComponentGroup, error)
	StatusHistory(ctx context.Context, since time.Time) ([]herald.StatusChange, error)
	RecentIncidents(ctx context.Context, since time.Time) ([]herald.Incident, error)
	Version(ctx context.Context) (int64, time.Time, error)
}

// HistoryWindow is how far back the snapshot keeps resolved incidents, for
// /history and /incidents/{id}. Older incidents are read from the database.
const HistoryWindow = 366 * 24 * time.Hour

// Snapshot is everything the public side serves, built once per change:
// rendered pages, API documents and feeds, each with its gzip form and
// validators. A visitor's request reads only this, never the database.
type Snapshot struct {
	Version   int64
	BuiltAt   time.Time
	UpdatedAt time.Time // last change of the data

	entries    map[string]*Entry
	incidents  map[string]herald.Incident
	components map[string]herald.Component
	site       components.Site
	months     []components.Month    // newest first
	view       components.StatusView // what "/" was rendered from, to render it again with a notice (outage.go) and for the static export
	outage     *outageState          // set on a copy served while the database is unreachable

	mu   sync.Mutex
	lazy map[string]*Entry // pages rendered on first request
}

// Entry is one prebuilt response.
type Entry struct {
	Body, Gzip         []byte
	ContentType        []string // header values, allocated once
	ETag, GzipETag     []string
	Length, GzipLength []string // Content-Length of Body and of Gzip
	LastModified       []string
	Status             int
	etagRaw, gzETagRaw string
	security           []header // per kind of document, see securityFor
	vary               []string // only the page varies with HX-Request
}

type header struct {
	name  string
	value []string
}

// Security headers of snapshot documents. They are public, read-only and
// cached, so they carry what protects a reader and no more: a few headers
// fewer is measurably faster on the hot path (net/http sorts and writes
// each one). The CSP's frame-ancestors replaces X-Frame-Options.
var (
	htmlSecurity = []header{{"Content-Security-Policy", cspValue}, {"X-Content-Type-Options", nosniff},
		{"Referrer-Policy", referrer}}
	// The API is read by other sites' status widgets, as Statuspage's is.
	// A document that is never rendered as a page needs no sources at all.
	// Nothing navigates from JSON or a feed, so they need no Referrer-Policy.
	apiSecurity = []header{{"Content-Security-Policy", cspNone}, {"X-Content-Type-Options", nosniff},
		{"Access-Control-Allow-Origin", anyOrigin}}
	feedSecurity = []header{{"Content-Security-Policy", cspNone}, {"X-Content-Type-Options", nosniff}}
	anyOrigin    = []string{"*"}
	cspNone      = []string{"default-src 'none'; object-src 'none'; frame-ancestors 'none'"}
)

var varyEncoding = []string{"Accept-Encoding"}

func varyFor(ctype string) []string {
	if strings.HasPrefix(ctype, "text/html") {
		return vary
	}
	return varyEncoding
}

func securityFor(ctype string) []header {
	switch {
	case strings.HasPrefix(ctype, "application/json"):
		return apiSecurity
	case strings.HasPrefix(ctype, "text/html"):
		return htmlSecurity
	}
	return feedSecurity
}

// SnapshotBuilder turns the store's data into a Snapshot.
type SnapshotBuilder struct {
	Source SnapshotSource
	Plan   herald.Plan
	Site   components.Site
	Now    func() time.Time
}

// Build reads the data and prepares every public response.
func (b *SnapshotBuilder) Build(ctx context.Context) (*Snapshot, error) {
	now := b.Now().UTC()
	loc := b.Site.Location
	version, updatedAt, err := b.Source.Version(ctx)
	if err != nil {
		return nil, err
	}
	comps, err := b.Source.Components(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := b.Source.Groups(ctx)
	if err != nil {
		return nil, err
	}
	since := time.Date(now.In(loc).Year(), now.In(loc).Month(), now.In(loc).Day()-herald.UptimeDays, 0, 0, 0, 0, loc)
	history, err := b.Source.StatusHistory(ctx, since)
	if err != nil {
		return nil, err
	}
	incidents, err := b.Source.RecentIncidents(ctx, now.Add(-HistoryWindow))
	if err != nil {
		return nil, err
	}
	return b.assemble(version, updatedAt, now, groups, comps, history, incidents)
}

func (b *SnapshotBuilder) assemble(version int64, updatedAt, now time.Time, groups []herald.ComponentGroup, comps []herald.Component,
	history []herald.StatusChange, incidents []herald.Incident) (*Snapshot, error) {
	// A drill never reaches the public side: the page, /history,
	// /incidents/{id}, the feeds and every API document are built from
	// what is left.
	incidents = slices.DeleteFunc(slices.Clone(incidents), func(in herald.Incident) bool { return in.Drill })
	loc := b.Site.Location
	s := &Snapshot{Version: version, BuiltAt: now, UpdatedAt: updatedAt, entries: map[string]*Entry{},
		incidents: map[string]herald.Incident{}, components: map[string]herald.Component{}, site: b.Site,
		lazy: map[string]*Entry{}}
	byComp := map[string][]herald.StatusChange{}
	for _, h := range history {
		byComp[h.ComponentID] = append(byComp[h.ComponentID], h)
	}
	var active, maint []herald.Incident
	for _, in := range incidents {
		s.incidents[in.ID] = in
		switch {
		case in.Kind == herald.KindIncident && in.Open():
			active = append(active, in)
		case in.Kind == herald.KindMaintenance && in.Open():
			maint = append(maint, in)
		}
	}
	// Maintenance in progress first, then upcoming soonest first.
	sort.SliceStable(maint, func(i, j int) bool {
		pi, pj := maint[i].Status != herald.Scheduled, maint[j].Status != herald.Scheduled
		if pi != pj {
			return pi
		}
		return maint[i].StartedAt.Before(maint[j].StartedAt)
	})
	view := components.StatusView{Site: b.Site, Status: herald.Overall(comps, incidents), Active: active,
		Maintenance: maint, Target: b.Plan.Objectives.Availability, UpdatedAt: updatedAt, Days: herald.UptimeDays,
		Version: version}
	for _, c := range comps {
		s.components[c.ID] = c
		var affecting []herald.Incident
		for _, in := range incidents {
			if in.Affects(c.ID) {
				affecting = append(affecting, in)
			}
		}
		up := herald.ComputeUptime(byComp[c.ID], affecting, herald.UptimeDays, now, loc)
		view.Components = append(view.Components, components.ComponentView{Component: c, Uptime: up})
	}
	views := make(map[string]components.ComponentView, len(view.Components))
	for _, cv := range view.Components {
		views[cv.Component.ID] = cv
	}
	items := herald.Arrange(groups, comps)
	for _, it := range items {
		iv := components.ItemView{Group: it.Group, Status: it.Status()}
		if it.Group == nil {
			iv.Members = []components.ComponentView{views[it.Component.ID]}
		}
		for _, m := range it.Members {
			iv.Members = append(iv.Members, views[m.ID])
		}
		view.Items = append(view.Items, iv)
	}
	s.view = view
	lastMod := updatedAt
	html := "text/html; charset=utf-8"
	if err := s.putTempl("/", components.StatusPage(view), html, lastMod); err != nil {
		return nil, err
	}
	if err := s.putTempl("/#fragment", components.StatusContent(view), html, lastMod); err != nil {
		return nil, err
	}

	docs := statusapi.Build(statusapi.Input{Page: b.Plan.Page, Location: loc, UpdatedAt: updatedAt,
		Items: items, Components: comps, Incidents: incidents, Status: view.Status})
	for path, doc := range map[string]any{
		"/api/v2/summary.json":                         docs.Summary,
		"/api/v2/status.json":                          docs.Status,
		"/api/v2/components.json":                      docs.Components,
		"/api/v2/incidents.json":                       docs.Incidents,
		"/api/v2/incidents/unresolved.json":            docs.Unresolved,
		"/api/v2/scheduled-maintenances.json":          docs.Maintenances,
		"/api/v2/scheduled-maintenances/upcoming.json": docs.Upcoming,
		"/api/v2/scheduled-maintenances/active.json":   docs.Active,
	} {
		body, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("snapshot: marshal %s: %w", path, err)
		}
		s.entries[path] = newEntry(body, "application/json; charset=utf-8", lastMod, http.StatusOK)
	}

	s.months = months(incidents, now, loc)
	if err := b.putFeeds(s, incidents, lastMod); err != nil {
		return nil, err
	}
	return s, nil
}

// months groups resolved incidents by month, newest first, over a year.
func months(incidents []herald.Incident, now time.Time, loc *time.Location) []components.Month {
	local := now.In(loc)
	var out []components.Month
	for i := range 12 {
		start := time.Date(local.Year(), local.Month()-time.Month(i), 1, 0, 0, 0, 0, loc)
		end := start.AddDate(0, 1, 0)
		m := components.Month{Start: start}
		for _, in := range incidents {
			if in.Open() && in.Kind == herald.KindIncident {
				continue // active incidents are on the front page
			}
			if in.Kind == herald.KindMaintenance && in.Status == herald.Scheduled {
				continue
			}
			if !in.StartedAt.Before(start) && in.StartedAt.Before(end) {
				m.Incidents = append(m.Incidents, in)
			}
		}
		out = append(out, m)
	}
	return out
}

func (b *SnapshotBuilder) putFeeds(s *Snapshot, incidents []herald.Incident, lastMod time.Time) error {
	feed := &feeds.Feed{
		Title:       b.Plan.Page.Name + " status history",
		Link:        &feeds.Link{Href: b.Plan.Page.URL},
		Description: "Incidents and maintenance on " + b.Plan.Page.Name,
		Updated:     lastMod,
		Id:          b.Plan.Page.URL + "/history",
	}
	for i, in := range incidents {
		if i == 50 {
			break
		}
		var body bytes.Buffer
		for _, u := range in.Updates {
			fmt.Fprintf(&body, "<p><small>%s</small><br><strong>%s</strong> - %s</p>",
				templ.EscapeString(u.DisplayAt.In(b.Site.Location).Format("2 Jan 2006, 15:04 MST")),
				templ.EscapeString(u.Status.Label()), templ.EscapeString(u.Body))
		}
		feed.Items = append(feed.Items, &feeds.Item{
			Id:          b.Plan.Page.URL + "/incidents/" + in.ID,
			Title:       in.Name,
			Link:        &feeds.Link{Href: b.Plan.Page.URL + "/incidents/" + in.ID},
			Description: body.String(),
			Created:     in.CreatedAt,
			Updated:     in.UpdatedAt,
		})
	}
	atom, err := feed.ToAtom()
	if err != nil {
		return fmt.Errorf("snapshot: atom: %w", err)
	}
	rss, err := feed.ToRss()
	if err != nil {
		return fmt.Errorf("snapshot: rss: %w", err)
	}
	s.entries["/history.atom"] = newEntry([]byte(atom), "application/atom+xml; charset=utf-8", lastMod, http.StatusOK)
	s.entries["/history.rss"] = newEntry([]byte(rss), "application/rss+xml; charset=utf-8", lastMod, http.StatusOK)
	return nil
}

func (s *Snapshot) putTempl(key string, c templ.Component, ctype string, lastMod time.Time) error {
	e, err := renderEntry(c, ctype, lastMod, http.StatusOK)
	if err != nil {
		return err
	}
	s.entries[key] = e
	return nil
}

func renderEntry(c templ.Component, ctype string, lastMod time.Time, status int) (*Entry, error) {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		return nil, fmt.Errorf("snapshot: render: %w", err)
	}
	return newEntry(buf.Bytes(), ctype, lastMod, status), nil
}

// gzipWriters are reused across entries and rebuilds: a best-compression
// writer holds over a megabyte of state, and a snapshot has a dozen entries.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
	return w
}}

func newEntry(body []byte, ctype string, lastMod time.Time, status int) *Entry {
	sum := sha256.Sum256(body)
	tag := base64.RawURLEncoding.EncodeToString(sum[:12])
	var gz bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&gz)
	w.Write(body) //nolint:errcheck // writes to memory
	w.Close()
	gzipWriters.Put(w)
	e := &Entry{Body: body, Gzip: gz.Bytes(), ContentType: []string{ctype}, Status: status, security: securityFor(ctype),
		vary:    varyFor(ctype),
		etagRaw: `"` + tag + `"`, gzETagRaw: `"` + tag + `-gz"`,
		LastModified: []string{lastMod.UTC().Format(http.TimeFormat)}}
	e.ETag, e.GzipETag = []string{e.etagRaw}, []string{e.gzETagRaw}
	e.Length, e.GzipLength = []string{strconv.Itoa(len(e.Body))}, []string{strconv.Itoa(len(e.Gzip))}
	return e
}

// Entry returns the prebuilt response for key, if any.
func (s *Snapshot) Entry(key string) (*Entry, bool) {
	e, ok := s.entries[key]
	return e, ok
}

// lazyEntry renders a page on its first request and keeps it for the life
// of the snapshot. Pages for every incident would cost memory for pages no
// one reads.
func (s *Snapshot) lazyEntry(key string, render func() (*Entry, error)) (*Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.lazy[key]; ok {
		return e, nil
	}
	e, err := render()
	if err != nil {
		return nil, err
	}
	s.lazy[key] = e
	return e, nil
}

// Age is how old the snapshot's data is.
func (s *Snapshot) Age(now time.Time) time.Duration { return now.Sub(s.BuiltAt) }
