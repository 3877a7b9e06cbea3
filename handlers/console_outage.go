package handlers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// The console while Herald cannot reach its database. Sessions live in the
// database, and so does nearly everything a console page shows, so:
//
//   - consoleSessions skips the session store and knows the user from
//     signIns, this replica's memory of the sessions it checked against the
//     database before (never longer than the session itself would last);
//   - pages that need only the plan (the runbooks) still work; every other
//     page says it needs the database (503), with the banner;
//   - a form posted is given back as typed, to send again later (503);
//   - an htmx request gets the banner to swap into the page (503);
//   - signing in says it needs the database, instead of "wrong password".
//
// A query failing mid-request because the database went away is answered
// the same way (databaseUnavailable), and tells the monitor at once.

type outageKey struct{}

// outageOf is the outage the request is served during, nil when the
// database answers.
func outageOf(ctx context.Context) *components.Outage {
	o, _ := ctx.Value(outageKey{}).(*components.Outage)
	return o
}

// outage is the database's outage as the console shows it, nil while it
// answers.
func (s *Server) outage() *components.Outage {
	if s.health == nil {
		return nil
	}
	since, down := s.health.Down()
	if !down {
		return nil
	}
	return s.outageSince(since)
}

func (s *Server) outageSince(since time.Time) *components.Outage {
	o := &components.Outage{Since: since, Now: s.now()}
	if p := s.public.Snapshot(); p != nil {
		o.AsOf = p.BuiltAt
	}
	return o
}

// unreachable tells whether err means the database cannot be reached.
func (s *Server) unreachable(ctx context.Context, err error) bool {
	return s.health != nil && s.health.Unreachable(ctx, err)
}

// offlineRoutes are the console routes that work without the database:
// the runbooks come from the plan, the event stream from memory.
var offlineRoutes = map[string]bool{
	"GET /runbooks":              true,
	"GET /runbooks/{kind}/{key}": true,
	"GET /events":                true,
}

// consoleSessions loads the session from the database while it answers;
// while it does not, it leaves the session store alone and takes the user
// from signIns, if this replica knows the session.
func (s *Server) consoleSessions(next http.Handler) http.Handler {
	loaded := s.sessions.LoadAndSave(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := s.outage()
		if o != nil && !safeMethod(r.Method) && !s.stillDown(r.Context()) {
			// The database came back since the monitor's last check: a
			// write is tried, not refused on old news.
			o = nil
		}
		if o == nil {
			loaded.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Cookie")
		ctx := context.WithValue(r.Context(), outageKey{}, o)
		if c, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
			if u, ok := s.signIns.lookup(c.Value, time.Now()); ok {
				ctx = context.WithValue(ctx, userKey{}, u)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// stillDown asks the monitor again, now, whether the database is down (at
// most a check's time): a form sent in the seconds after the database
// returned is saved, not given back. Checks asked for together share one.
func (s *Server) stillDown(ctx context.Context) bool {
	if s.health == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return s.health.Check(ctx)
}

// safeMethod tells whether a request only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// needsDatabase answers for a route that cannot work during an outage.
func (s *Server) needsDatabase(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if outageOf(r.Context()) != nil {
			s.databaseUnavailable(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// databaseBanner serves the banner's slot alone: the banner refreshes
// itself with it, and it goes away once the database is back. It is
// outside the session (a refresh every 15 s must not keep a session
// alive), and says nothing the public page does not.
func (s *Server) databaseBanner(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, components.DatabaseBanner(s.outage(), s.site))
}

// databaseUnavailable answers a console request that needed the database
// while it cannot be reached: 503, and what the user needs to carry on.
func (s *Server) databaseUnavailable(w http.ResponseWriter, r *http.Request) {
	o := outageOf(r.Context())
	if o == nil {
		// The query failed before the monitor's state said so.
		since, down := time.Time{}, false
		if s.health != nil {
			since, down = s.health.Down()
		}
		if !down {
			since = s.now()
		}
		o = s.outageSince(since)
		r = r.WithContext(context.WithValue(r.Context(), outageKey{}, o))
	}
	// Whatever the session holds stays as it was: writing it would fail too.
	w = bypassSession(w)
	w.Header().Set("Retry-After", "10")
	s.log.Info("console request refused: the database is unreachable", "method", r.Method, "path", r.URL.Path,
		"request_id", requestID(r.Context()))
	if r.Header.Get("HX-Request") == "true" {
		// htmx swaps a 503 (consoleHTMXConfig): into the banner's slot,
		// whatever the request targeted. The form it came from keeps
		// what was typed.
		h := w.Header()
		h.Set("HX-Retarget", "#database-banner")
		h.Set("HX-Reswap", "outerHTML")
		h.Set("HX-Reselect", "#database-banner")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		components.DatabaseBanner(o, s.site).Render(r.Context(), w) //nolint:errcheck // the client went away
		return
	}
	c := s.consoleFrame(r, "Database unreachable", "")
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		components.DatabaseNeeded(c).Render(r.Context(), w) //nolint:errcheck
		return
	}
	c.Title = "Not saved"
	v := notSavedView(w, r)
	v.Console = c
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	components.NotSaved(v).Render(r.Context(), w) //nolint:errcheck
}

// bypassSession unwraps scs's response writer, which would commit the
// session (to the database) before the first byte, and on failure write
// a response of its own ahead of this one.
func bypassSession(w http.ResponseWriter) http.ResponseWriter {
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok && fmt.Sprintf("%T", w) == "*scs.sessionResponseWriter" {
		return u.Unwrap()
	}
	return w
}

// maxKeptForm bounds the form given back.
const maxKeptForm = 1 << 20

// carriedFields are values a console form carries rather than the user
// types: given back hidden.
var carriedFields = map[string]bool{"version": true, "next": true, "action": true}

// notSavedView reads the posted form as it came, in its order where the
// body is still unread, leaving out passwords (never echoed) and files
// (named, to choose again).
func notSavedView(w http.ResponseWriter, r *http.Request) components.NotSavedView {
	v := components.NotSavedView{Action: r.URL.EscapedPath()}
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && ref.Path != "" {
		if back := safeNext(ref.RequestURI()); back == ref.RequestURI() {
			v.Back = back
		}
	}
	type kv struct{ k, v string }
	var pairs []kv
	switch {
	case strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data"):
		if r.MultipartForm == nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxKeptForm)
			r.ParseMultipartForm(maxKeptForm) //nolint:errcheck // what could be read is given back
		}
		if r.MultipartForm != nil {
			for _, k := range slices.Sorted(mapKeys(r.MultipartForm.Value)) {
				for _, val := range r.MultipartForm.Value[k] {
					pairs = append(pairs, kv{k, val})
				}
			}
			for _, fhs := range r.MultipartForm.File {
				for _, fh := range fhs {
					v.Files = append(v.Files, fh.Filename)
				}
			}
		}
	case r.PostForm == nil:
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, maxKeptForm))
		for part := range strings.SplitSeq(string(body), "&") {
			if part == "" {
				continue
			}
			k, val, _ := strings.Cut(part, "=")
			k, kerr := url.QueryUnescape(k)
			val, verr := url.QueryUnescape(val)
			if kerr == nil && verr == nil {
				pairs = append(pairs, kv{k, val})
			}
		}
	default: // the handler read it: the order is lost
		for _, k := range slices.Sorted(mapKeys(r.PostForm)) {
			for _, val := range r.PostForm[k] {
				pairs = append(pairs, kv{k, val})
			}
		}
	}
	for _, p := range pairs {
		if strings.Contains(strings.ToLower(p.k), "password") {
			continue
		}
		// An empty field is kept too, out of sight: nothing was typed.
		v.Fields = append(v.Fields, components.FormField{Name: p.k, Label: fieldLabel(p.k), Value: p.v,
			Hidden: carriedFields[p.k] || strings.TrimSpace(p.v) == "", Long: strings.Contains(p.v, "\n") || len(p.v) > 60})
	}
	return v
}

// fieldLabel names a form field for a person: "text_engineering" is
// "Text engineering". The console's main text field is "Update".
func fieldLabel(name string) string {
	if name == "main" {
		return "Update"
	}
	l := strings.ReplaceAll(name, "_", " ")
	if l == "" {
		return l
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

func mapKeys[V any](m map[string]V) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// signInFailedOutage tells a user signing in during an outage why it
// cannot work.
const signInFailedOutage = "Signing in needs Herald's database, which cannot be reached, so you could not be signed in. " +
	"Try again once the database is back; the public status page still works."

// signIns remembers the sessions this replica checked against the
// database, by a hash of their token, so that the console knows who is
// signed in while the database is away. An entry lasts as long as the
// session would (its idle timeout from the last check, within its
// lifetime) and goes at sign-out.
type signIns struct {
	mu sync.Mutex
	m  map[[32]byte]signIn
}

type signIn struct {
	user    herald.User
	expires time.Time
}

// maxSignIns bounds the memory: a console has tens of users, not
// thousands; beyond it, expired entries go first, then any.
const maxSignIns = 10000

func (c *signIns) remember(token string, u herald.User, expires time.Time) {
	if token == "" {
		return
	}
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]signIn{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxSignIns {
		now := time.Now()
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < maxSignIns/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = signIn{user: u, expires: expires}
}

func (c *signIns) lookup(token string, now time.Time) (herald.User, bool) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		return herald.User{}, false
	}
	return e.user, true
}

func (c *signIns) forget(token string) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
