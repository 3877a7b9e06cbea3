package handlers_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/auth"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/metrics"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
	"github.com/kredete/herald/web"
)

const adminToken = "test-admin-token-5f1c0a"

// clock is the injected time: every reading moves it on a second, so each
// write gets its own timestamp, and tests can jump it to another month.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is the real handler stack wired as cmd/herald does it, on a fresh
// database.
type env struct {
	t      *testing.T
	h      http.Handler
	store  *store.Store
	public *handlers.Public
	plan   herald.Plan
	clock  *clock
	ids    map[string]string // component key → id
	logs   *syncBuffer
	deps   handlers.Deps // what New was given
	// With envOptions.proxied: the proxy between the store and
	// PostgreSQL, the database monitor, and its log.
	proxy      *storetest.Proxy
	health     *store.Health
	healthLogs *syncBuffer
}

type envOptions struct {
	dialect string
	token   string
	// console wires the console as cmd/herald does: the store, its session
	// store, the password hasher (with cheap parameters) and the env's
	// clock, so sign-in throttling and the store agree on the time.
	console      bool
	secureCookie bool
	source       func(handlers.SnapshotSource) handlers.SnapshotSource // wraps the snapshot's source
	ready        func() error
	urlChecker   handlers.URLChecker // the SSRF check of webhook URLs; nil: none
	slack        handlers.SlackApp   // Herald's Slack app; nil: /slack/* off
	// metrics wires /metrics and the request counts as cmd/herald does,
	// behind metricsToken when set.
	metrics      bool
	metricsToken string
	// trustedProxies is HERALD_TRUSTED_PROXIES; nil: none.
	trustedProxies []netip.Prefix
	// proxied puts a proxy the test can cut between the store and a fresh
	// PostgreSQL database, and wires the database monitor (checking every
	// healthInterval) as cmd/herald does.
	proxied        bool
	healthInterval time.Duration
}

var start = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.dialect == "" {
		o.dialect = store.SQLite
	}
	ctx := context.Background()
	clk := &clock{t: start}
	var st *store.Store
	var proxy *storetest.Proxy
	if o.proxied {
		var u string
		u, _, proxy = storetest.ProxiedURL(t)
		var err error
		if st, err = store.Open(ctx, store.Postgres, u, store.Options{Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		st = storetest.Open(t, o.dialect, store.Options{Now: clk.Now})
	}
	plan, err := config.LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(plan.Page.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		t.Fatal(err)
	}
	assets, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// A test passes only if the server logged no error: a failed rebuild
	// after a write would otherwise go unseen behind a 201.
	t.Cleanup(func() {
		if l := logs.String(); strings.Contains(l, "level=ERROR") {
			t.Errorf("the server logged errors:\n%s", l)
		}
	})
	site := components.Site{Name: plan.Page.Name, URL: plan.Page.URL, Location: loc,
		Assets: components.Assets{CSS: assets.Path("css/herald.css"), HTMX: assets.Path("js/htmx.min.js"), SSE: assets.Path("js/sse.min.js")}}
	var src handlers.SnapshotSource = st
	if o.source != nil {
		src = o.source(st)
	}
	public := handlers.NewPublic(&handlers.SnapshotBuilder{Source: src, Plan: plan, Site: site, Now: clk.Now}, st, log)
	if err := public.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	deps := handlers.Deps{Log: log, Plan: plan, Location: loc, Site: site, Public: public, Admin: st,
		AdminToken: o.token, Static: assets, Ready: o.ready, URLChecker: o.urlChecker, TrustedProxies: o.trustedProxies}
	if o.console {
		deps.Console, deps.Sessions, deps.SecureCookie = st, st.SessionStore(), o.secureCookie
		deps.Hasher = auth.Hasher{Params: testHashParams}
		deps.ConsoleJS = assets.Path("js/console.js")
		deps.Now = clk.Now
	}
	if o.slack != nil {
		deps.Slack, deps.SlackStore = o.slack, st
	}
	if o.metrics {
		m := metrics.New(metrics.Options{Store: st, Plan: plan, SSEClients: public.Broker().Clients, Log: log})
		deps.Metrics, deps.MetricsToken, deps.Requests = m.Handler(), o.metricsToken, m
	}
	var health *store.Health
	healthLogs := &syncBuffer{}
	if o.proxied {
		// The monitor logs the outage at ERROR, as it should: its own log.
		health = st.NewHealth(slog.New(slog.NewTextHandler(healthLogs, nil)), o.healthInterval, 500*time.Millisecond)
		public.UseHealth(health)
		health.OnChange(public.Changed)
		deps.Health = health
		bg, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel) // before the store closes (cleanups run last first)
		go health.Run(bg)
		go public.Run(bg)
	}
	h := handlers.New(deps)
	comps, err := st.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, c := range comps {
		ids[c.Key] = c.ID
	}
	return &env{t: t, h: h, store: st, public: public, plan: plan, clock: clk, ids: ids, logs: logs, deps: deps,
		proxy: proxy, health: health, healthLogs: healthLogs}
}

// on returns the env reporting to t, for use in a subtest.
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// forEachDialect runs f on a fresh stack on SQLite and on PostgreSQL.
func forEachDialect(t *testing.T, token string, f func(t *testing.T, e *env)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, envOptions{dialect: d, token: token}))
		})
	}
}

type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// do sends a request through the handler; headers come in name, value pairs.
func (e *env) do(method, path string, body io.Reader, headers ...string) response {
	e.t.Helper()
	r := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	res := w.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Code: res.StatusCode, Header: res.Header, Body: b}
}

func (e *env) get(path string, headers ...string) response {
	e.t.Helper()
	return e.do(http.MethodGet, path, nil, headers...)
}

// getOK fetches a page that must answer 200.
func (e *env) getOK(path string, headers ...string) response {
	e.t.Helper()
	r := e.get(path, headers...)
	if r.Code != http.StatusOK {
		e.t.Fatalf("GET %s = %d, want 200: %s", path, r.Code, r.Body)
	}
	return r
}

// admin calls the admin API with the right token and a JSON body.
func (e *env) admin(method, path string, v any) response {
	e.t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	return e.do(method, path, body, "Authorization", "Bearer "+adminToken, "Content-Type", "application/json")
}

// apiIncident is the part of Statuspage's incident or scheduled maintenance
// the tests read.
type apiIncident struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	Status          string  `json:"status"`
	Impact          string  `json:"impact"`
	MonitoringAt    *string `json:"monitoring_at"`
	ResolvedAt      *string `json:"resolved_at"`
	Shortlink       string  `json:"shortlink"`
	IncidentUpdates []struct {
		ID                 string `json:"id"`
		Status             string `json:"status"`
		Body               string `json:"body"`
		AffectedComponents []struct {
			Code      string `json:"code"`
			OldStatus string `json:"old_status"`
			NewStatus string `json:"new_status"`
		} `json:"affected_components"`
	} `json:"incident_updates"`
	Components []apiComponent `json:"components"`
}

type apiComponent struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// apiDoc is any of the public API documents.
type apiDoc struct {
	Page struct {
		ID       string `json:"id"`
		TimeZone string `json:"time_zone"`
	} `json:"page"`
	Components            []apiComponent `json:"components"`
	Incidents             []apiIncident  `json:"incidents"`
	ScheduledMaintenances []apiIncident  `json:"scheduled_maintenances"`
	Status                struct {
		Indicator   string `json:"indicator"`
		Description string `json:"description"`
	} `json:"status"`
}

func (e *env) apiDoc(path string) apiDoc {
	e.t.Helper()
	r := e.getOK(path)
	var d apiDoc
	if err := json.Unmarshal(r.Body, &d); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return d
}

func incidentIDs(list []apiIncident) []string {
	out := []string{}
	for _, in := range list {
		out = append(out, in.ID)
	}
	return out
}

// componentStatus reads a component's status from components.json.
func (e *env) componentStatus(key string) string {
	e.t.Helper()
	for _, c := range e.apiDoc("/api/v2/components.json").Components {
		if c.ID == e.ids[key] {
			return c.Status
		}
	}
	e.t.Fatalf("component %s is not in components.json", key)
	return ""
}

var apiPaths = []string{
	"/api/v2/summary.json",
	"/api/v2/status.json",
	"/api/v2/components.json",
	"/api/v2/incidents.json",
	"/api/v2/incidents/unresolved.json",
	"/api/v2/scheduled-maintenances.json",
	"/api/v2/scheduled-maintenances/upcoming.json",
	"/api/v2/scheduled-maintenances/active.json",
}

func TestHome(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		r := e.getOK("/")
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		doc := parseHTML(t, r.Body)
		if got := text(queryOne(t, doc, "title")); got != "Kredete status" {
			t.Errorf("title = %q", got)
		}
		main := queryOne(t, doc, "main#content")
		banner := queryOne(t, main, "[data-testid=banner]")
		if got := text(banner); !strings.Contains(got, "All Systems Operational") {
			t.Errorf("banner = %q, want All Systems Operational", got)
		}
		rows := queryAll(t, main, "ul[data-testid=components] li[data-testid=component]")
		var names []string
		for _, c := range e.plan.Components {
			names = append(names, c.Name)
		}
		if got := texts(queryAll(t, main, "[data-testid=component] .component-name")); !slices.Equal(got, names) || len(rows) != 5 {
			t.Errorf("%d components named %q, want the plan's five %q in order", len(rows), got, names)
		}
		for _, row := range rows {
			if got := text(queryOne(t, row, "[data-testid=component-status]")); !strings.Contains(got, "Operational") {
				t.Errorf("component status %q, want Operational", got)
			}
			if n := len(queryAll(t, row, "[data-testid=uptime-bars] span")); n != herald.UptimeDays {
				t.Errorf("%d uptime bars, want %d", n, herald.UptimeDays)
			}
		}
		if n := len(queryAll(t, doc, "[data-testid=active-incidents]")); n != 0 {
			t.Errorf("an empty page shows %d active incident sections", n)
		}
		// The assets the page links to are served.
		for _, sel := range []string{"link[rel=stylesheet]", "script[src]"} {
			for _, n := range queryAll(t, doc, sel) {
				href, _ := attr(n, "href")
				if src, ok := attr(n, "src"); ok {
					href = src
				}
				a := e.getOK(href)
				if cc := a.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
					t.Errorf("%s: Cache-Control %q, want a long immutable lifetime", href, cc)
				}
			}
		}
	})
}

func TestHomeFragment(t *testing.T) {
	e := newEnv(t, envOptions{})
	full := e.getOK("/")
	r := e.getOK("/", "HX-Request", "true")
	body := strings.TrimSpace(string(r.Body))
	if !strings.HasPrefix(body, `<main id="content"`) || !strings.HasSuffix(body, "</main>") {
		t.Errorf("the fragment is not just <main id=\"content\">: %.120s … %.40s", body, body[max(0, len(body)-40):])
	}
	for _, s := range []string{"<html", "<head", "<title", "<header", "<footer"} {
		if strings.Contains(body, s) {
			t.Errorf("the fragment contains %s", s)
		}
	}
	frag := parseFragment(t, r.Body)
	queryOne(t, frag, "main#content")
	queryOne(t, frag, "main#content [data-testid=banner]")
	if n := len(queryAll(t, frag, "main#content [data-testid=component]")); n != 5 {
		t.Errorf("the fragment has %d components, want 5", n)
	}
	if r.Header.Get("Etag") == full.Header.Get("Etag") {
		t.Error("the fragment and the full page share an ETag")
	}
	if v := r.Header.Get("Vary"); !strings.Contains(v, "HX-Request") {
		t.Errorf("Vary = %q: caches would serve the fragment as the page", v)
	}
	// Anything but "true" gets the whole page.
	if r := e.getOK("/", "HX-Request", "false"); !bytes.Equal(r.Body, full.Body) {
		t.Error("HX-Request: false did not get the full page")
	}
}

func TestAPIEndpoints(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		for _, p := range apiPaths {
			r := e.getOK(p)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: Content-Type %q", p, ct)
			}
			var d apiDoc
			dec := json.NewDecoder(bytes.NewReader(r.Body))
			if err := dec.Decode(&d); err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			if d.Page.ID != e.plan.Page.ID || d.Page.TimeZone != e.plan.Page.TimeZone {
				t.Errorf("%s: page = %+v", p, d.Page)
			}
		}
		s := e.apiDoc("/api/v2/summary.json")
		if len(s.Components) != 5 || s.Status.Indicator != "none" {
			t.Errorf("summary: %d components, indicator %q; want 5, none", len(s.Components), s.Status.Indicator)
		}
		for _, c := range s.Components {
			if c.Status != "operational" {
				t.Errorf("component %s is %s", c.Name, c.Status)
			}
		}
		// Empty lists are [] for clients that iterate without a nil check.
		raw := string(e.getOK("/api/v2/summary.json").Body)
		for _, k := range []string{`"incidents":[]`, `"scheduled_maintenances":[]`} {
			if !strings.Contains(raw, k) {
				t.Errorf("summary.json lacks %s: %s", k, raw)
			}
		}
	})
}

func TestConditionalRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, p := range []string{"/", "/api/v2/summary.json", "/history.atom", "/history"} {
		t.Run(p, func(t *testing.T) {
			r := e.getOK(p)
			etag := r.Header.Get("Etag")
			if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 4 {
				t.Fatalf("ETag = %q, want a quoted tag", etag)
			}
			lm, err := http.ParseTime(r.Header.Get("Last-Modified"))
			if err != nil {
				t.Errorf("Last-Modified %q: %v", r.Header.Get("Last-Modified"), err)
			} else if _, changed, err := e.store.Version(context.Background()); err != nil {
				t.Fatal(err)
			} else if !lm.Equal(changed.Truncate(time.Second)) {
				t.Errorf("Last-Modified = %v, want the last change of the data, %v", lm, changed)
			}

			for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
				nm := e.get(p, "If-None-Match", inm)
				if nm.Code != http.StatusNotModified || len(nm.Body) != 0 {
					t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and no body", inm, nm.Code, len(nm.Body))
				}
				if nm.Header.Get("Etag") != etag {
					t.Errorf("a 304 carries ETag %q, want %q", nm.Header.Get("Etag"), etag)
				}
			}
			if other := e.get(p, "If-None-Match", `"stale"`); other.Code != http.StatusOK || !bytes.Equal(other.Body, r.Body) {
				t.Errorf("a stale If-None-Match got %d, want 200 and the body", other.Code)
			}

			gz := e.getOK(p, "Accept-Encoding", "gzip, deflate, br")
			if gz.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Content-Encoding = %q, want gzip", gz.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz.Body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, r.Body) {
				t.Error("the gzip body does not gunzip to the identity body")
			}
			if len(gz.Body) >= len(r.Body) && len(r.Body) > 1000 {
				t.Errorf("gzip %d bytes, identity %d", len(gz.Body), len(r.Body))
			}
			gzTag := gz.Header.Get("Etag")
			if gzTag == etag || gzTag == "" {
				t.Errorf("gzip ETag %q must differ from the identity ETag %q", gzTag, etag)
			}
			if nm := e.get(p, "Accept-Encoding", "gzip", "If-None-Match", gzTag); nm.Code != http.StatusNotModified {
				t.Errorf("gzip If-None-Match: %d, want 304", nm.Code)
			}
			if v := gz.Header.Get("Vary"); !strings.Contains(v, "Accept-Encoding") {
				t.Errorf("Vary = %q, want Accept-Encoding", v)
			}
			if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(r.Body)) {
				t.Errorf("Content-Length = %s, body %d", cl, len(r.Body))
			}

			head := e.do(http.MethodHead, p, nil)
			if head.Code != http.StatusOK || len(head.Body) != 0 {
				t.Errorf("HEAD: %d with %d bytes, want 200 and no body", head.Code, len(head.Body))
			}
			for _, h := range []string{"Content-Type", "Etag", "Last-Modified", "Content-Length"} {
				if head.Header.Get(h) != r.Header.Get(h) {
					t.Errorf("HEAD %s = %q, GET has %q", h, head.Header.Get(h), r.Header.Get(h))
				}
			}
		})
	}
	for _, p := range apiPaths {
		if r := e.do(http.MethodHead, p, nil); r.Code != http.StatusOK {
			t.Errorf("HEAD %s = %d", p, r.Code)
		}
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, c := range []struct{ path, says string }{
		{"/nope", "/nope"},
		{"/incidents/doesnotexist1", `"doesnotexist1"`},
		{"/incidents/NOT%20AN%20ID", "There is no incident"},
		{"/history?page=99", "no history page 99"},
	} {
		r := e.get(c.path)
		if r.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", c.path, r.Code)
			continue
		}
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q, want the HTML page", c.path, ct)
			continue
		}
		doc := parseHTML(t, r.Body)
		main := queryOne(t, doc, "main#content")
		if got := text(queryOne(t, main, "h2")); got != "Page not found" {
			t.Errorf("GET %s: heading %q", c.path, got)
		}
		if got := text(main); !strings.Contains(got, c.says) {
			t.Errorf("GET %s: %q does not say %q", c.path, got, c.says)
		}
		// It is a page of the site, with its navigation.
		queryOne(t, doc, `header nav a[href="/history"]`)
	}
	if r := e.do(http.MethodHead, "/nope", nil); r.Code != http.StatusNotFound || len(r.Body) != 0 {
		t.Errorf("HEAD /nope = %d with %d bytes", r.Code, len(r.Body))
	}
	for _, p := range []string{"/api/v2/x.json", "/api/v2/incidents/x.json", "/api/v2/"} {
		r := e.get(p)
		if r.Code != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s = %d %s, want 404 JSON", p, r.Code, r.Header.Get("Content-Type"))
			continue
		}
		var body struct {
			Error struct {
				Status  int    `json:"status"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Status != 404 || !strings.Contains(body.Error.Message, p) {
			t.Errorf("GET %s: %s (%v)", p, r.Body, err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	before := e.getOK("/api/v2/summary.json").Body
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, p := range []string{"/", "/history", "/incidents/abc", "/history.atom"} {
			r := e.do(m, p, strings.NewReader("x=1"), "Content-Type", "application/x-www-form-urlencoded")
			if r.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", m, p, r.Code)
			}
			if a := r.Header.Get("Allow"); !strings.Contains(a, "GET") {
				t.Errorf("%s %s: Allow %q", m, p, a)
			}
		}
		for _, p := range apiPaths {
			r := e.do(m, p, strings.NewReader("{}"), "Content-Type", "application/json")
			if r.Code != http.StatusMethodNotAllowed || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s = %d %s, want 405 JSON", m, p, r.Code, r.Header.Get("Content-Type"))
			}
			if a := r.Header.Get("Allow"); !strings.Contains(a, "GET") {
				t.Errorf("%s %s: a 405 must say what is allowed; Allow %q", m, p, a)
			}
		}
	}
	if err := e.public.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := e.getOK("/api/v2/summary.json").Body; !bytes.Equal(before, after) {
		t.Error("a refused request changed the page")
	}
}

// cspDirectives parses a Content-Security-Policy into directive → sources.
func cspDirectives(v string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(v, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			out[strings.ToLower(f[0])] = f[1:]
		}
	}
	return out
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	for _, c := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/api/v2/summary.json"}, {"GET", "/nope"}, {"GET", "/incidents/zzz"},
		{"GET", "/history.rss"}, {"POST", "/"}, {"POST", "/admin/api/incidents"}, {"GET", "/healthz"},
	} {
		r := e.do(c.method, c.path, nil)
		csp := cspDirectives(r.Header.Get("Content-Security-Policy"))
		scripts, ok := csp["script-src"]
		if !ok {
			scripts = csp["default-src"]
		}
		if len(scripts) == 0 {
			t.Errorf("%s %s: no script-src or default-src in %q", c.method, c.path, r.Header.Get("Content-Security-Policy"))
		}
		for _, s := range scripts {
			if s == "'unsafe-inline'" || s == "'unsafe-eval'" || s == "*" || s == "data:" {
				t.Errorf("%s %s: script sources allow %s", c.method, c.path, s)
			}
		}
		if fa := csp["frame-ancestors"]; !slices.Equal(fa, []string{"'none'"}) {
			t.Errorf("%s %s: frame-ancestors %q, want 'none'", c.method, c.path, fa)
		}
		if o := csp["object-src"]; !slices.Equal(o, []string{"'none'"}) {
			t.Errorf("%s %s: object-src %q, want 'none'", c.method, c.path, o)
		}
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options = %q, want nosniff", c.method, c.path, got)
		}
		// Pages carry a Referrer-Policy; JSON and feeds, which nothing
		// navigates from, need none.
		document := !strings.HasPrefix(c.path, "/api/") && !strings.HasSuffix(c.path, ".rss")
		if document && r.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s %s: no Referrer-Policy", c.method, c.path)
		}
		// Snapshot documents (the hot path) rely on frame-ancestors alone
		// and carry no request id; everything routed carries both.
		snapshot := c.method == "GET" && (c.path == "/" || c.path == "/api/v2/summary.json" || c.path == "/history.rss")
		if !snapshot && (r.Header.Get("X-Frame-Options") != "DENY" || r.Header.Get("X-Request-Id") == "") {
			t.Errorf("%s %s: X-Frame-Options %q, X-Request-Id %q; want DENY and an id", c.method, c.path,
				r.Header.Get("X-Frame-Options"), r.Header.Get("X-Request-Id"))
		}
		if strings.HasPrefix(c.path, "/api/v2/") && c.method == "GET" && r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q; the public API is readable from any site", c.method, c.path,
				r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	// The page must work under its own policy: no inline script, no
	// inline event handlers, no inline styles.
	for _, p := range []string{"/", "/history"} {
		doc := parseHTML(t, e.getOK(p).Body)
		for _, s := range queryAll(t, doc, "script") {
			if _, ok := attr(s, "src"); !ok || text(s) != "" {
				t.Errorf("%s has an inline script: %q", p, text(s))
			}
		}
		if n := len(queryAll(t, doc, "style")) + len(queryAll(t, doc, "[style]")); n > 0 {
			t.Errorf("%s has %d inline styles, which style-src 'self' blocks", p, n)
		}
		for _, n := range queryAll(t, doc, "*") {
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("%s: <%s %s> is an inline handler", p, n.Data, a.Key)
				}
			}
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, envOptions{})
	if r := e.getOK("/healthz"); string(r.Body) != "ok\n" {
		t.Errorf("/healthz = %q", r.Body)
	}
	if r := e.getOK("/readyz"); string(r.Body) != "ready\n" {
		t.Errorf("/readyz = %q", r.Body)
	}
	down := newEnv(t, envOptions{ready: func() error { return io.ErrUnexpectedEOF }})
	if r := down.get("/readyz"); r.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz when the readiness check fails = %d, want 503", r.Code)
	}
}

// atomFeed and rssFeed are the parts of the feeds the tests read.
type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string   `xml:"title"`
	Entries []struct {
		Title   string `xml:"title"`
		ID      string `xml:"id"`
		Summary string `xml:"summary"`
		Content string `xml:"content"`
		Links   []struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
	} `xml:"entry"`
}

type rssFeed struct {
	XMLName xml.Name `xml:"rss"`
	Channel struct {
		Title string `xml:"title"`
		Items []struct {
			Title       string `xml:"title"`
			Link        string `xml:"link"`
			Description string `xml:"description"`
		} `xml:"item"`
	} `xml:"channel"`
}

func (e *env) feeds() (atomFeed, rssFeed) {
	e.t.Helper()
	a := e.getOK("/history.atom")
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/atom+xml") {
		e.t.Errorf("/history.atom: Content-Type %q", ct)
	}
	var af atomFeed
	if err := xml.Unmarshal(a.Body, &af); err != nil {
		e.t.Fatalf("/history.atom is not Atom: %v\n%s", err, a.Body)
	}
	r := e.getOK("/history.rss")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/rss+xml") {
		e.t.Errorf("/history.rss: Content-Type %q", ct)
	}
	var rf rssFeed
	if err := xml.Unmarshal(r.Body, &rf); err != nil {
		e.t.Fatalf("/history.rss is not RSS: %v\n%s", err, r.Body)
	}
	return af, rf
}
