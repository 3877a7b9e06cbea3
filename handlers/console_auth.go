package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// Sign-in throttling: failures are counted in the database (so every
// replica sees them) per account and per client address.
const (
	failureWindow     = 15 * time.Minute
	maxAccountFailure = 5
	maxAddressFailure = 20
)

// signInFailed is the one message for every failed sign-in: it never says
// whether the account exists or which limit was hit.
const signInFailed = "Sign-in failed. Check your email and password. After several failed attempts, sign-in pauses for 15 minutes."

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps redirects after sign-in on this site's console: a path
// under /console once dot segments (also percent-encoded ones, which
// browsers resolve too) are resolved; anything else goes to /console.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/console"
	}
	if p := path.Clean(u.Path); p != "/console" && !strings.HasPrefix(p, "/console/") {
		return "/console"
	}
	return next
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if o := outageOf(r.Context()); o != nil {
		// The session store is the database: say so before anyone types
		// a password into a form that cannot work.
		w.Header().Set("Retry-After", "10")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		components.SignIn(components.SignInView{Site: s.site, Next: r.URL.Query().Get("next"), Outage: o}).Render(r.Context(), w) //nolint:errcheck
		return
	}
	if s.sessions.GetString(r.Context(), "user_id") != "" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, components.SignIn(components.SignInView{Site: s.site, Next: r.URL.Query().Get("next")}))
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("the form could not be read")
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	next := r.PostFormValue("next")
	view := components.SignInView{Site: s.site, Email: email, Next: next}
	ctx := r.Context()
	// Without the database neither the password nor the session can be
	// checked or kept: say that, not "wrong password".
	outage := func() error {
		view.Outage = outageOf(ctx)
		if view.Outage == nil {
			view.Outage = s.outage()
		}
		if view.Outage == nil {
			view.Outage = s.outageSince(s.now())
		}
		view.Error = signInFailedOutage
		w = bypassSession(w)
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusServiceUnavailable)
		s.render(w, r, components.SignIn(view))
		return nil
	}
	if outageOf(ctx) != nil {
		return outage()
	}
	since := s.now().Add(-failureWindow)
	accountKey, addressKey := "account:"+email, "address:"+clientAddress(r)

	nAccount, err := s.console.LoginFailures(ctx, accountKey, since)
	if err != nil {
		if s.unreachable(ctx, err) {
			return outage()
		}
		return err
	}
	nAddress, err := s.console.LoginFailures(ctx, addressKey, since)
	if err != nil {
		if s.unreachable(ctx, err) {
			return outage()
		}
		return err
	}
	if nAccount >= maxAccountFailure || nAddress >= maxAddressFailure {
		s.log.Warn("sign-in throttled", "address", clientAddress(r), "request_id", requestID(ctx))
		w.Header().Set("Retry-After", strconv.Itoa(int(failureWindow.Seconds())))
		view.Error = signInFailed
		w.WriteHeader(http.StatusTooManyRequests)
		s.render(w, r, components.SignIn(view))
		return nil
	}

	user, hash, err := s.console.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, herald.ErrNotFound):
		err = s.hasher.CheckMissing(password) // same time as a wrong password
	case err != nil && s.unreachable(ctx, err):
		return outage()
	case err != nil:
		return err
	case user.Disabled:
		err = s.hasher.CheckMissing(password)
	default:
		err = s.hasher.Check(password, hash)
	}
	if err != nil {
		for _, k := range []string{accountKey, addressKey} {
			if rerr := s.console.RecordLoginFailure(ctx, k); rerr != nil {
				if s.unreachable(ctx, rerr) {
					return outage()
				}
				return rerr
			}
		}
		s.log.Info("sign-in failed", "address", clientAddress(r), "request_id", requestID(ctx))
		view.Error = signInFailed
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, components.SignIn(view))
		return nil
	}
	if err := s.console.ClearLoginFailures(ctx, accountKey); err != nil {
		if s.unreachable(ctx, err) {
			return outage()
		}
		return err
	}
	// A new session id at sign-in: a token planted before sign-in (session
	// fixation) is worthless after it.
	if err := s.sessions.RenewToken(ctx); err != nil {
		return err
	}
	s.sessions.Put(ctx, "user_id", user.ID)
	s.log.Info("signed in", "user_id", user.ID, "request_id", requestID(ctx))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	return nil
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
		s.signIns.forget(c.Value)
	}
	if outageOf(r.Context()) != nil {
		// The session cannot be deleted from the database now: this
		// replica forgets it and the browser drops its cookie; the stored
		// session expires unused.
		s.sessions.WriteSessionCookie(r.Context(), w, "", time.Time{})
		http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
		return nil
	}
	if err := s.sessions.Destroy(r.Context()); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
	return nil
}
