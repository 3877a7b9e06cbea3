// Package handlers is Herald's HTTP side (chi): the public status page and
// its API served from an in-memory snapshot, and the authenticated write
// path. routes.go lists every URL in one place.
package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/kredete/herald"
)

// Deps is everything the handlers need, built by main.
type Deps struct {
	Log        *slog.Logger
	Plan       herald.Plan
	Location   *time.Location
	Public     *Public
	Admin      AdminStore
	AdminToken string
	Static     http.Handler // hashed assets under /static/
	Ready      func() error // nil when ready to serve
}

// Server holds the handlers' dependencies.
type Server struct {
	log        *slog.Logger
	plan       herald.Plan
	loc        *time.Location
	public     *Public
	admin      AdminStore
	adminToken string
	ready      func() error
}

// New builds the router.
func New(d Deps) http.Handler {
	s := &Server{log: d.Log, plan: d.Plan, loc: d.Location, public: d.Public, admin: d.Admin,
		adminToken: d.AdminToken, ready: d.Ready}
	r := chi.NewRouter()
	r.Use(observe(d.Log, newRequestIDs()), securityHeaders, middleware.GetHead)
	// Cross-site form posts are refused; same-origin and non-browser
	// clients (curl, Statuspage clients) pass.
	csrf := http.NewCrossOriginProtection()
	r.Use(csrf.Handler)

	// Public: read only, from the snapshot.
	r.Get("/", s.public.Home)
	r.Get("/history", s.htmlErrors(s.public.History))
	r.Get("/incidents/{id}", s.htmlErrors(s.public.Incident))
	r.Get("/history.atom", s.public.Page("/history.atom"))
	r.Get("/history.rss", s.public.Page("/history.rss"))
	r.Route("/api/v2", func(r chi.Router) {
		for _, p := range []string{"/summary.json", "/status.json", "/components.json", "/incidents.json",
			"/incidents/unresolved.json", "/scheduled-maintenances.json", "/scheduled-maintenances/upcoming.json",
			"/scheduled-maintenances/active.json"} {
			r.Get(p, s.public.Page("/api/v2"+p))
		}
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			writeJSONError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, nil)
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "GET, HEAD") // RFC 9110: a 405 says what is allowed
			writeJSONError(w, http.StatusMethodNotAllowed, "the public API is read only", nil)
		})
	})
	r.Handle("/static/*", d.Static)
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }) //nolint:errcheck
	r.Get("/readyz", s.readyz)

	// Admin JSON API: the write path until the console lands.
	r.Route("/admin/api", func(r chi.Router) {
		r.Use(s.adminAuth)
		r.Post("/incidents", s.jsonErrors(s.declare))
		r.Get("/incidents/{id}", s.jsonErrors(s.getIncident))
		r.Post("/incidents/{id}/updates", s.jsonErrors(s.postUpdate))
		r.Post("/incidents/{id}/reopen", s.jsonErrors(s.reopen))
		r.Patch("/components/{id}", s.jsonErrors(s.setComponent))
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			writeJSONError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, nil)
		})
	})

	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.public.NotFoundPage(w, r, "There is no page at "+r.URL.Path+".")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the status page is read only", http.StatusMethodNotAllowed)
	})
	return r
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ready\n")) //nolint:errcheck
}
