package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/a-h/templ"
	"github.com/alexedwards/scs/v2"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// ConsoleStore is everything the console reads and writes.
type ConsoleStore interface {
	AdminStore
	FailoverStore
	ExerciseStore
	SubscriberAdminStore
	UserByEmail(ctx context.Context, email string) (herald.User, string, error)
	User(ctx context.Context, id string) (herald.User, error)
	Users(ctx context.Context) ([]herald.User, error)
	CreateUser(ctx context.Context, u herald.NewUser, passwordHash, actor string) (herald.User, error)
	SetUserRole(ctx context.Context, id string, role herald.Role, actor string) error
	LinkSlackUser(ctx context.Context, userID, slackUserID, actor string) (herald.User, error)
	RecordLoginFailure(ctx context.Context, key string) error
	LoginFailures(ctx context.Context, key string, since time.Time) (int, error)
	ClearLoginFailures(ctx context.Context, key string) error

	OpenIncidents(ctx context.Context) ([]herald.Incident, error)
	SearchResolved(ctx context.Context, q string, limit int) ([]herald.Incident, error)
	Commanders(ctx context.Context) (map[string]string, error)
	Communications(ctx context.Context, incidentIDs []string) ([]herald.Communication, error)
	Assignments(ctx context.Context, incidentID string) (map[herald.IncidentRole]herald.Assignment, error)
	Timeline(ctx context.Context, incidentID, kind string) ([]herald.TimelineEvent, error)
	Audit(ctx context.Context, incidentID string, limit int) ([]herald.AuditEntry, error)

	DeclareIncident(ctx context.Context, d herald.Declaration, commanderID string, told []string, actor string) (herald.Incident, error)
	Compose(ctx context.Context, id string, version int, c herald.Composition, plan herald.Plan, actor string) (herald.Incident, error)
	AssignRole(ctx context.Context, id string, version int, seat herald.IncidentRole, userID, actor string) (herald.Incident, error)
	AddNote(ctx context.Context, id, note, actor string) error
	SetIncidentComponent(ctx context.Context, id string, version int, componentID string, status herald.ComponentStatus, actor string) (herald.Incident, error)
	SetDataLoss(ctx context.Context, id string, version int, loss time.Duration, actor string) (herald.Incident, error)
	ReopenVersion(ctx context.Context, id string, version int, body, actor string) (herald.Incident, error)
	EditComponent(ctx context.Context, id, name, description string, position int, groupID, actor string) (herald.Component, error)
	Groups(ctx context.Context) ([]herald.ComponentGroup, error)
	Deliveries(ctx context.Context, incidentID string, limit int) ([]herald.Delivery, error)
	RegulatorReports(ctx context.Context, incidentIDs []string) ([]herald.RegulatorReport, error)
	RecordRegulatorReport(ctx context.Context, r herald.RegulatorReport, plan herald.Plan, actor string) (herald.RegulatorReport, error)
	CreateGroup(ctx context.Context, name, description string, position int, actor string) (herald.ComponentGroup, error)
	EditGroup(ctx context.Context, id, name, description string, position int, actor string) (herald.ComponentGroup, error)
}

// PasswordHasher hashes and checks passwords (argon2id in production).
type PasswordHasher interface {
	Hash(password string) (string, error)
	Check(password, hash string) error
	CheckMissing(password string) error
}

type userKey struct{}

// currentUser is the signed-in user; requireUser guarantees one.
func currentUser(ctx context.Context) herald.User {
	u, _ := ctx.Value(userKey{}).(herald.User)
	return u
}

// actorName is how the user appears in the timeline and the audit log.
func actorName(u herald.User) string { return u.Name + " <" + u.Email + ">" }

// requireUser loads the session's user or sends the browser to sign in.
// A disabled or deleted user's session ends here. While the database is
// unreachable the user is the one consoleSessions found, if any.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if outageOf(ctx) != nil {
			if currentUser(ctx).ID != "" {
				next.ServeHTTP(w, r)
				return
			}
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") != "true" {
				// The sign-in page says why signing in cannot work now.
				http.Redirect(w, r, "/console/sign-in?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.databaseUnavailable(w, r)
			return
		}
		id := s.sessions.GetString(ctx, "user_id")
		if id != "" {
			u, err := s.console.User(ctx, id)
			if err == nil && !u.Disabled {
				s.signIns.remember(s.sessions.Token(ctx), u, s.signInExpiry(ctx))
				next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, userKey{}, u)))
				return
			}
			if err != nil && !errors.Is(err, herald.ErrNotFound) {
				if s.unreachable(ctx, err) {
					s.databaseUnavailable(w, r)
					return
				}
				s.log.Error("load session user", "error", err, "request_id", requestID(ctx))
				http.Error(w, "the console could not load your account; try again shortly", http.StatusInternalServerError)
				return
			}
			s.signIns.forget(s.sessions.Token(ctx))
			s.sessions.Destroy(ctx) //nolint:errcheck
		}
		if r.Method != http.MethodGet {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/console/sign-in?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}

// signInExpiry is how long this replica may remember the session for an
// outage: no longer than the session itself would last unused. On the
// wall clock, as the session store's own expiry.
func (s *Server) signInExpiry(ctx context.Context) time.Time {
	return time.Now().Add(min(time.Until(s.sessions.Deadline(ctx)), s.sessions.IdleTimeout))
}

// requirePerm refuses users whose role lacks the permission: the check is
// on the server, whatever the page shows.
func (s *Server) requirePerm(p herald.Permission) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u := currentUser(r.Context())
			if !u.Role.Can(p) {
				s.log.Info("permission refused", "user_id", u.ID, "role", u.Role, "permission", p, "path", r.URL.Path,
					"request_id", requestID(r.Context()))
				c := s.consoleFrame(r, "Not allowed", "")
				w.WriteHeader(http.StatusForbidden)
				s.render(w, r, components.ConsoleError(c, http.StatusForbidden,
					"Your role ("+u.Role.Label()+") does not allow this. Ask an admin if you need it."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// consoleFrame is what every console page shares.
func (s *Server) consoleFrame(r *http.Request, title, nav string) components.Console {
	c := components.Console{Site: s.site, JS: s.consoleJS, User: currentUser(r.Context()), Title: title, Nav: nav}
	if o := outageOf(r.Context()); o != nil {
		// Neither the flash (in the session) nor the strip (the open
		// incidents) can be read: the banner says why.
		c.Outage = o
		return c
	}
	// A background refresh (htmx) must not take the one-off message meant
	// for the page the user is about to see.
	if s.sessions != nil && r.Header.Get("HX-Request") != "true" {
		c.Flash = s.sessions.PopString(r.Context(), "flash")
	}
	c.Obligations = s.obligationItems(r)
	if p := s.public.Snapshot(); p != nil {
		c.Version = p.Version
		if s.now().Sub(p.BuiltAt) > 3*time.Minute {
			c.Banner = "The database has not answered for a while: what you see may be out of date, and changes may fail."
		}
	}
	return c
}

// stripAhead is how far ahead of an item's first reminder the strip loads
// it (hidden), so its countdown appears without a refresh.
const stripAhead = 15 * time.Minute

// obligationItems lists what the open incidents owe soon or overdue, for
// the strip on every console page. A failure to read leaves the strip
// empty (and is logged): the page itself still works.
func (s *Server) obligationItems(r *http.Request) []components.ObligationItem {
	ctx := r.Context()
	open, err := s.console.OpenIncidents(ctx)
	if err != nil {
		s.log.Warn("obligations strip", "error", err.Error(), "request_id", requestID(ctx))
		return nil
	}
	var ids []string
	for _, in := range open {
		if in.Kind == herald.KindIncident {
			ids = append(ids, in.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	told, err := s.console.Communications(ctx, ids)
	if err != nil {
		s.log.Warn("obligations strip", "error", err.Error(), "request_id", requestID(ctx))
		return nil
	}
	reports, err := s.console.RegulatorReports(ctx, ids)
	if err != nil {
		s.log.Warn("obligations strip", "error", err.Error(), "request_id", requestID(ctx))
		return nil
	}
	now := s.now()
	var items []components.ObligationItem
	for _, in := range open {
		if in.Kind != herald.KindIncident {
			continue
		}
		for _, ob := range herald.Obligations(s.plan, in, told, reports) {
			a, _ := s.plan.AudienceByKey(ob.Audience)
			from := ob.Due
			for _, d := range a.ReminderPolicy.Before {
				if t := ob.Due.Add(-d); t.Before(from) {
					from = t
				}
			}
			if from.After(now.Add(stripAhead)) {
				continue
			}
			items = append(items, components.ObligationItem{IncidentID: in.ID, IncidentName: in.Name,
				What: a.Name + " " + herald.StepLabel(ob.Step), Due: ob.Due, ShowFrom: from,
				Hidden: from.After(now), Overdue: now.After(ob.Due)})
		}
	}
	slices.SortFunc(items, func(a, b components.ObligationItem) int { return a.Due.Compare(b.Due) })
	return items
}

// obligationsStrip is the strip alone, for its live refresh.
func (s *Server) obligationsStrip(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, components.ObligationStrip(s.obligationItems(r)))
	return nil
}

// render writes a templ component as HTML.
func (s *Server) render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.Render(r.Context(), w); err != nil {
		s.log.Error("render", "error", err, "path", r.URL.Path, "request_id", requestID(r.Context()))
	}
}

// consoleErrors adapts a console handler: errors become a console page
// with the right status; 5xx are logged once.
func (s *Server) consoleErrors(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status, msg := statusOf(err)
		if status >= 500 && s.unreachable(r.Context(), err) {
			s.databaseUnavailable(w, r)
			return
		}
		if status >= 500 {
			s.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "error", err,
				"request_id", requestID(r.Context()))
		}
		c := s.consoleFrame(r, http.StatusText(status), "")
		w.WriteHeader(status)
		s.render(w, r, components.ConsoleError(c, status, msg))
	}
}

// sessionError answers a request whose session could not be loaded or
// saved.
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	if s.unreachable(r.Context(), err) {
		s.databaseUnavailable(w, r)
		return
	}
	s.log.Error("session store", "error", err, "request_id", requestID(r.Context()))
	http.Error(w, "the console could not load your session; try again shortly", http.StatusInternalServerError)
}

// flash leaves a one-off message for the next page.
func (s *Server) flash(r *http.Request, msg string) { s.sessions.Put(r.Context(), "flash", msg) }

// newSessions configures server-side sessions: stored in the database (so
// they work on every replica), idle and absolute expiry, HttpOnly,
// SameSite=Lax, Secure unless serving plain HTTP on loopback.
// A session that cannot be loaded or saved for want of the database gets
// the console's answer to that (onError).
func newSessions(store scs.Store, secure bool, onError func(w http.ResponseWriter, r *http.Request, err error)) *scs.SessionManager {
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = 12 * time.Hour
	sm.IdleTimeout = 2 * time.Hour
	sm.Cookie.Name = "herald_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = secure
	sm.Cookie.Path = "/"
	sm.ErrorFunc = onError
	return sm
}
