package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// IncidentReader reads one incident from the database, for incidents older
// than the snapshot holds.
type IncidentReader interface {
	Incident(ctx context.Context, id string) (herald.Incident, error)
	Components(ctx context.Context) ([]herald.Component, error)
}

// Public serves the status page, the API and the feeds from the current
// snapshot, and keeps that snapshot fresh.
type Public struct {
	builder *SnapshotBuilder
	reader  IncidentReader
	log     *slog.Logger
	snap    atomic.Pointer[Snapshot]
	kick    chan struct{}
	broker  *Broker
	onSwap  func(*Snapshot) // see OnRefresh
	served  atomic.Uint64   // requests answered from the snapshot
	health  DatabaseHealth  // nil: the database is taken to answer (see UseHealth)
}

// Served counts the requests answered from the snapshot so far: the
// engine slows subscriber messages while the page is flooded.
func (p *Public) Served() uint64 { return p.served.Load() }

// NewPublic prepares the public side; call Refresh once before serving.
func NewPublic(b *SnapshotBuilder, reader IncidentReader, log *slog.Logger) *Public {
	return &Public{builder: b, reader: reader, log: log, kick: make(chan struct{}, 1), broker: NewBroker()}
}

// Refresh rebuilds the snapshot now. On failure the previous snapshot stays.
// A rebuild that read an older version than the one being served (it ran
// alongside a write and its writer's own rebuild) is dropped, so the page
// never goes back in time and a writer keeps reading its write.
func (p *Public) Refresh(ctx context.Context) error {
	s, err := p.builder.Build(ctx)
	if err != nil {
		return err
	}
	for {
		cur := p.snap.Load()
		if cur != nil && cur.Version > s.Version {
			return nil
		}
		if p.snap.CompareAndSwap(cur, s) {
			p.broker.Publish(s.Version)
			if p.onSwap != nil {
				p.onSwap(s)
			}
			return nil
		}
	}
}

// OnRefresh has f called with each snapshot Refresh puts in service, on
// the caller of Refresh (a request, sometimes): f must not block. Set it
// before the first Refresh.
func (p *Public) OnRefresh(f func(*Snapshot)) { p.onSwap = f }

// Changed asks for a rebuild soon; many calls in a row cause one rebuild.
func (p *Public) Changed() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run rebuilds the snapshot when Changed is called, and every minute so the
// uptime bars roll over at midnight; while the database is unreachable it
// renders the last snapshot's pages again instead, with a notice of their
// age (update). It returns when ctx ends.
func (p *Public) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	// A failed rebuild is tried again soon, not at the next tick: after
	// the database's return the first query may meet a connection cut
	// during the outage.
	var retry <-chan time.Time
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
			if p.current(ctx) {
				continue
			}
		case <-t.C:
		case <-retry:
		}
		err := p.update(ctx)
		if err == nil || ctx.Err() != nil {
			retry, backoff = nil, time.Second
			continue
		}
		if backoff == time.Second {
			p.log.Warn("rebuild status snapshot failed; trying again", "error", err, "retry_in", backoff)
		} else {
			p.log.Error("rebuild status snapshot", "error", err, "retry_in", backoff)
		}
		retry = time.After(backoff)
		backoff = min(2*backoff, time.Minute)
	}
}

// current reports whether the snapshot in service already holds the
// database's latest version, so a change signal for a write it has (such as
// one made at start, before the first build) costs no rebuild: a rebuild
// renders and compresses every page again, megabytes of garbage. A snapshot
// showing an outage notice is never current: the database is back.
func (p *Public) current(ctx context.Context) bool {
	cur := p.snap.Load()
	if cur == nil || cur.outage != nil {
		return false
	}
	if p.health != nil {
		if _, down := p.health.Down(); down {
			return false // update shows the notice
		}
	}
	v, _, err := p.builder.Source.Version(ctx)
	return err == nil && v == cur.Version
}

// Broker announces each new snapshot to open pages (server-sent events).
func (p *Public) Broker() *Broker { return p.broker }

// Snapshot is the snapshot being served.
func (p *Public) Snapshot() *Snapshot { return p.snap.Load() }

// hotPath answers GET and HEAD for the snapshot's fixed documents (the
// status page, the API, the feeds) straight from memory, before the router
// and the middleware: during an outage these are most of the traffic.
// Everything else, including every write, goes through the router.
type hotPath struct {
	public *Public
	next   http.Handler
	// obs counts the requests answered here, under the same route
	// patterns as the router's; nil: not counted.
	obs *hotObservers
}

// hotRoutes are the documents the hot path answers; each is its route
// pattern and its snapshot entry's key.
var hotRoutes = [...]string{"/", "/history.atom", "/history.rss",
	"/api/v2/summary.json", "/api/v2/status.json", "/api/v2/components.json", "/api/v2/incidents.json",
	"/api/v2/incidents/unresolved.json", "/api/v2/scheduled-maintenances.json",
	"/api/v2/scheduled-maintenances/upcoming.json", "/api/v2/scheduled-maintenances/active.json"}

// hotKeys maps a path to its index in hotRoutes.
var hotKeys = func() map[string]int {
	m := make(map[string]int, len(hotRoutes))
	for i, p := range hotRoutes {
		m[p] = i
	}
	return m
}()

func (h *hotPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if i, ok := hotKeys[r.URL.Path]; ok {
			key := hotRoutes[i]
			if i == 0 && r.Header.Get("HX-Request") == "true" {
				key = "/#fragment"
			}
			if s := h.public.snap.Load(); s != nil {
				if e, ok := s.Entry(key); ok {
					h.public.served.Add(1)
					if s.outage != nil {
						s.outage.headers(w.Header(), h.public.builder.Now())
					}
					if h.obs == nil {
						serveEntry(w, r, e)
						return
					}
					start := time.Now()
					status := serveEntry(w, r, e)
					h.obs.record(i, r.Method == http.MethodHead, status, time.Since(start))
					return
				}
			}
		}
	}
	h.next.ServeHTTP(w, r)
}

// serveEntry writes a prebuilt entry, honouring If-None-Match and gzip,
// with the security headers its kind of document needs, and returns the
// status it answered.
func serveEntry(w http.ResponseWriter, r *http.Request, e *Entry) int {
	h := w.Header()
	for _, kv := range e.security {
		h[kv.name] = kv.value
	}
	h["Content-Type"] = e.ContentType
	h["Last-Modified"] = e.LastModified
	h["Cache-Control"] = cacheControl
	h["Vary"] = e.vary
	gz := acceptsGzip(r)
	etag := e.ETag
	if gz {
		etag = e.GzipETag
	}
	h["Etag"] = etag
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && e.Status == http.StatusOK && etagMatch(inm, etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	body, length := e.Body, e.Length
	if gz {
		h["Content-Encoding"] = gzipEncoding
		body, length = e.Gzip, e.GzipLength
	}
	h["Content-Length"] = length
	if e.Status != http.StatusOK {
		w.WriteHeader(e.Status)
	}
	if r.Method != http.MethodHead {
		w.Write(body) //nolint:errcheck // the client went away
	}
	return e.Status
}

var (
	cacheControl = []string{"public, no-cache"}
	vary         = []string{"Accept-Encoding, HX-Request"}
	gzipEncoding = []string{"gzip"}
)

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header["Accept-Encoding"] {
		if strings.Contains(v, "gzip") {
			return true
		}
	}
	return false
}

// etagMatch implements If-None-Match's weak comparison over a list.
func etagMatch(header []string, etag string) bool {
	for _, h := range header {
		for _, t := range strings.Split(h, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
	}
	return false
}

// Page serves a fixed snapshot entry, such as "/api/v2/summary.json".
func (p *Public) Page(key string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := p.snap.Load()
		e, ok := s.Entry(key)
		if !ok {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if s.outage != nil {
			s.outage.headers(w.Header(), p.builder.Now())
		}
		serveEntry(w, r, e)
	}
}

// Home serves the status page, or only its content for an htmx refresh.
func (p *Public) Home(w http.ResponseWriter, r *http.Request) {
	key := "/"
	if r.Header.Get("HX-Request") == "true" {
		key = "/#fragment"
	}
	e, _ := p.snap.Load().Entry(key)
	serveEntry(w, r, e)
}

// Incident serves /incidents/{id}: from the snapshot when the incident is
// recent, else from the database (old incidents are rarely read).
func (p *Public) Incident(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	s := p.snap.Load()
	if in, ok := s.incidents[id]; ok {
		e, err := s.lazyEntry("/incidents/"+id, func() (*Entry, error) {
			v := components.IncidentView{Site: s.site, Incident: in, Components: s.components}
			return renderEntry(components.IncidentPage(v), "text/html; charset=utf-8", in.UpdatedAt, http.StatusOK)
		})
		if err != nil {
			return err
		}
		serveEntry(w, r, e)
		return nil
	}
	if !validID(id) {
		return notFound("There is no incident " + strconv.Quote(id) + ".")
	}
	in, err := p.reader.Incident(r.Context(), id)
	if errors.Is(err, herald.ErrNotFound) || err == nil && in.Drill { // a drill is never public
		return notFound("There is no incident " + strconv.Quote(id) + ".")
	}
	if err != nil {
		return err
	}
	v := components.IncidentView{Site: s.site, Incident: in, Components: s.components}
	e, err := renderEntry(components.IncidentPage(v), "text/html; charset=utf-8", in.UpdatedAt, http.StatusOK)
	if err != nil {
		return err
	}
	serveEntry(w, r, e)
	return nil
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// historyPageSize is how many months one /history page shows.
const historyPageSize = 3

// History serves /history?page=N, three months a page.
func (p *Public) History(w http.ResponseWriter, r *http.Request) error {
	page := 1
	if v := r.URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("page must be a whole number from 1")
		}
		page = n
	}
	s := p.snap.Load()
	from := (page - 1) * historyPageSize
	if from >= len(s.months) {
		return notFound("There is no history page " + strconv.Itoa(page) + ".")
	}
	e, err := s.lazyEntry("/history?page="+strconv.Itoa(page), func() (*Entry, error) {
		to := min(from+historyPageSize, len(s.months))
		v := components.HistoryView{Site: s.site, Months: s.months[from:to], Page: page, Older: to < len(s.months)}
		return renderEntry(components.HistoryPage(v), "text/html; charset=utf-8", s.UpdatedAt, http.StatusOK)
	})
	if err != nil {
		return err
	}
	serveEntry(w, r, e)
	return nil
}

// NotFoundPage renders the 404 page with a message.
func (p *Public) NotFoundPage(w http.ResponseWriter, r *http.Request, msg string) {
	s := p.snap.Load()
	e, err := renderEntry(components.NotFound(components.NotFoundView{Site: s.site, Message: msg}),
		"text/html; charset=utf-8", s.UpdatedAt, http.StatusNotFound)
	if err != nil {
		http.Error(w, msg, http.StatusNotFound)
		return
	}
	serveEntry(w, r, e)
}
