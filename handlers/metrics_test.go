package handlers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/metrics/metricstest"
	"github.com/kredete/herald/store"
)

// requests is how many requests of a route, method and status class the
// scrape counted (0 when none).
func requests(s metricstest.Scrape, route, method, status string) float64 {
	v, _ := s.Value("herald_http_request_duration_seconds", "route", route, "method", method, "status", status)
	return v
}

// TestMetricsCountRequests: requests answered by the hot path and by the
// router are counted by route pattern (never the raw path), method and
// status class; event streams are counted as connected clients, not as
// requests. Everything goes over HTTP from loopback, as a local Prometheus
// scrapes.
func TestMetricsCountRequests(t *testing.T) {
	c := newConsole(t, envOptions{dialect: store.SQLite, metrics: true})
	scrape := func() metricstest.Scrape {
		t.Helper()
		return metricstest.Get(t, c.srv.Client(), c.srv.URL+"/metrics", "")
	}
	before := scrape()
	if !before.Has("go_goroutines") || !before.Has("herald_queue_jobs") {
		t.Fatalf("the first scrape lacks the runtime's or the store's series")
	}

	b := c.browser(t)
	home := b.get("/")
	b.get("/")
	if r := b.get("/", "If-None-Match", home.Header.Get("ETag")); r.Code != http.StatusNotModified {
		t.Fatalf("GET / with its ETag: %d, want 304", r.Code)
	}
	b.get("/api/v2/summary.json")
	b.get("/api/v2/summary.json", "Accept-Encoding", "gzip")
	if r := b.do(http.MethodHead, "/api/v2/status.json", nil); r.Code != http.StatusOK {
		t.Fatalf("HEAD status.json: %d", r.Code)
	}
	viewer := c.as(t, herald.RoleViewer) // a sign-in: GET and POST /console/sign-in
	if r := viewer.get("/console/"); r.Code != http.StatusOK {
		t.Fatalf("GET /console/: %d", r.Code)
	}
	if r := b.get("/incidents/no-such-incident"); r.Code != http.StatusNotFound {
		t.Fatalf("an unknown incident: %d", r.Code)
	}
	if r := b.get("/no/such/page/4711"); r.Code != http.StatusNotFound {
		t.Fatalf("an unknown page: %d", r.Code)
	}
	if r := b.do("BREW", "/", nil); r.Code != http.StatusMethodNotAllowed {
		t.Fatalf("BREW /: %d", r.Code)
	}

	s := scrape()
	for _, w := range []struct {
		route, method, status string
		n                     float64
	}{
		{"/", "GET", "2xx", 2}, // the hot path
		{"/", "GET", "3xx", 1},
		{"/api/v2/summary.json", "GET", "2xx", 2},
		{"/api/v2/status.json", "HEAD", "2xx", 1},
		{"/console", "GET", "2xx", 1}, // the router (chi's pattern for /console/)
		{"/console/sign-in", "POST", "3xx", 1},
		{"/incidents/{id}", "GET", "4xx", 1},
		{"unmatched", "GET", "4xx", 1},
		{"unmatched", "other", "4xx", 1}, // BREW
		{"/metrics", "GET", "2xx", 1},    // the scrape before
	} {
		if got := requests(s, w.route, w.method, w.status) - requests(before, w.route, w.method, w.status); got != w.n {
			t.Errorf("%s %s %s: %v requests counted, want %v", w.method, w.route, w.status, got, w.n)
		}
	}
	for _, l := range s.Labels("herald_http_request_duration_seconds") {
		if strings.Contains(l, "no-such") || strings.Contains(l, "4711") || strings.Contains(l, "BREW") {
			t.Errorf("a raw path or method became a label: %s", l)
		}
	}
	if sum, _ := s.Sum("herald_http_request_duration_seconds", "route", "/", "method", "GET", "status", "2xx"); sum <= 0 {
		t.Errorf("the hot path's durations sum to %v", sum)
	}

	// An event stream is a connected client while it is open, and never
	// a request.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := b.request(ctx, http.MethodGet, "/events", nil)
	defer stream.Body.Close()
	clients := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, ok := scrape().Value("herald_sse_clients")
			if ok && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("herald_sse_clients %v (present %v), want %v", got, ok, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	clients(1)
	cancel()
	io.Copy(io.Discard, stream.Body) //nolint:errcheck // ends with the cancel
	clients(0)
	for _, l := range scrape().Labels("herald_http_request_duration_seconds") {
		if strings.Contains(l, "events") {
			t.Errorf("an event stream was counted as a request: %s", l)
		}
	}
}

// TestMetricsAccess: without HERALD_METRICS_TOKEN only this machine is
// answered, judged by the connection's peer and never by a forwarded
// header; with it, only the bearer of the token is, from anywhere.
func TestMetricsAccess(t *testing.T) {
	const token = "metrics-token-0123456789abcdef"
	get := func(e *env, remote string, headers ...string) response {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.RemoteAddr = remote
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		body, _ := io.ReadAll(w.Result().Body)
		return response{Code: w.Code, Header: w.Result().Header, Body: body}
	}
	exposition := func(r response) bool { return strings.Contains(string(r.Body), "# TYPE go_goroutines gauge") }

	t.Run("no token", func(t *testing.T) {
		e := newEnv(t, envOptions{metrics: true})
		for _, remote := range []string{"127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"} {
			if r := get(e, remote); r.Code != http.StatusOK || !exposition(r) {
				t.Errorf("from %s: %d %.200s, want 200 and the exposition", remote, r.Code, r.Body)
			}
		}
		for _, tc := range []struct {
			remote  string
			headers []string
		}{
			{"192.0.2.7:40000", nil},
			{"[2001:db8::7]:40000", nil},
			{"192.0.2.7:40000", []string{"X-Forwarded-For", "127.0.0.1", "X-Real-Ip", "127.0.0.1", "Forwarded", "for=127.0.0.1"}},
			{"192.0.2.7:40000", []string{"Authorization", "Bearer " + token}},
			{"not an address", nil},
		} {
			r := get(e, tc.remote, tc.headers...)
			if r.Code != http.StatusForbidden || exposition(r) || !strings.Contains(string(r.Body), "set HERALD_METRICS_TOKEN") {
				t.Errorf("from %s with %q: %d %.200q, want 403 saying how to enable it", tc.remote, tc.headers, r.Code, r.Body)
			}
		}
	})
	t.Run("token", func(t *testing.T) {
		e := newEnv(t, envOptions{metrics: true, metricsToken: token})
		if r := get(e, "192.0.2.7:40000", "Authorization", "Bearer "+token); r.Code != http.StatusOK || !exposition(r) {
			t.Errorf("with the token: %d %.200s", r.Code, r.Body)
		}
		for _, h := range [][]string{nil, {"Authorization", "Bearer " + token + "x"}, {"Authorization", "Bearer " + token[:10]},
			{"Authorization", token}, {"Authorization", "Basic " + token}} {
			for _, remote := range []string{"192.0.2.7:40000", "127.0.0.1:40000"} { // the token is asked of loopback too
				r := get(e, remote, h...)
				if r.Code != http.StatusUnauthorized || exposition(r) || r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("from %s with %q: %d %.200q, want 401 with WWW-Authenticate", remote, h, r.Code, r.Body)
				}
				if strings.Contains(string(r.Body), token) {
					t.Errorf("the answer shows the token: %q", r.Body)
				}
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		if r := get(e, "127.0.0.1:40000"); r.Code != http.StatusNotFound {
			t.Errorf("/metrics without metrics wired: %d, want 404", r.Code)
		}
	})
}

// TestHotPathCountsWithoutAllocating: counting a request the hot path
// answers allocates nothing once its series exists (the benchmark
// BenchmarkServeSummary shows the time).
func TestHotPathCountsWithoutAllocating(t *testing.T) {
	for _, metered := range []bool{false, true} {
		e := newEnv(t, envOptions{metrics: metered})
		r := httptest.NewRequest(http.MethodGet, "/api/v2/summary.json", nil)
		w := &discardWriter{h: http.Header{}}
		e.h.ServeHTTP(w, r) // the first request resolves the series
		allocs := testing.AllocsPerRun(200, func() {
			clear(w.h)
			w.code, w.bytes = 0, 0
			e.h.ServeHTTP(w, r)
		})
		if w.code != http.StatusOK {
			t.Fatalf("summary.json: %d", w.code)
		}
		if allocs != 0 {
			t.Errorf("metrics %v: %v allocations per hot-path request, want 0", metered, allocs)
		}
	}
}
