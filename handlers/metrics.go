package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// RequestMetrics records how long requests take (metrics.Metrics does).
type RequestMetrics interface {
	// RequestDuration returns the function that records one request's
	// duration in seconds, for a route pattern (never the raw path: its
	// values must be few), a method and a status class ("2xx").
	RequestDuration(route, method, status string) func(seconds float64)
}

// metrics serves /metrics: with HERALD_METRICS_TOKEN set, to a request
// carrying it as a bearer token; without it, to this machine only (the
// TCP peer, never a forwarded header, is loopback).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.metricsToken != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tokenEqual(got, s.metricsToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-metrics"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
	} else if !loopbackPeer(r.RemoteAddr) {
		http.Error(w, "/metrics answers only this machine (loopback). To scrape it from elsewhere, set HERALD_METRICS_TOKEN "+
			"and send it as Authorization: Bearer <token>.", http.StatusForbidden)
		return
	}
	s.metricsHandler.ServeHTTP(w, r)
}

// tokenEqual compares in constant time, lengths included: both sides are
// hashed first, so a wrong guess tells nothing of the token's length.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// loopbackPeer reports whether the connection's peer is this machine.
func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// The status classes and methods requests are counted by. A method not
// listed is "other": the label's values must stay few whatever clients
// send.
var (
	statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
	methods       = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions}
)

// statusIndex is the status's class in statusClasses; no status written
// is 200, as net/http sends.
func statusIndex(status int) int {
	if status == 0 {
		return 1
	}
	return min(max(status/100, 1), 5) - 1
}

func methodLabel(m string) string {
	for _, k := range methods {
		if m == k {
			return k
		}
	}
	return "other"
}

// unmatched is the route of a request no route matched (a 404).
const unmatched = "unmatched"

// recordRequest counts a request the router answered, by the pattern of
// the route that answered it. Server-sent event streams are left out:
// they last as long as the browser stays, and herald_sse_clients counts
// them.
func recordRequest(m RequestMetrics, r *http.Request, rec *statusRecorder, took time.Duration) {
	if rec.Header().Get("Content-Type") == "text/event-stream" {
		return
	}
	route := unmatched
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			route = p
		}
	}
	m.RequestDuration(route, methodLabel(r.Method), statusClasses[statusIndex(rec.status)])(took.Seconds())
}

// hotObservers are the hot path's recorders, one per route, method (GET,
// HEAD) and status class, each resolved once, on its first request: after
// that a request takes no lock and allocates nothing to be counted.
// Resolving on first use rather than up front keeps the combinations never
// seen out of the scrape.
type hotObservers struct {
	m   RequestMetrics
	obs [len(hotRoutes)][2][len(statusClasses)]atomic.Pointer[func(float64)]
}

func (h *hotObservers) record(route int, head bool, status int, took time.Duration) {
	mi, method := 0, http.MethodGet
	if head {
		mi, method = 1, http.MethodHead
	}
	si := statusIndex(status)
	p := &h.obs[route][mi][si]
	f := p.Load()
	if f == nil {
		o := h.m.RequestDuration(hotRoutes[route], method, statusClasses[si])
		p.CompareAndSwap(nil, &o)
		f = p.Load()
	}
	(*f)(took.Seconds())
}
