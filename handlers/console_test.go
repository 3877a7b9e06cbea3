package handlers_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/kredete/herald"
	"github.com/kredete/herald/auth"
	"github.com/kredete/herald/store/storetest"
)

// testHashParams make argon2id cheap: the console's tests sign in often.
var testHashParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// console is the real stack with the console wired, served over HTTP so
// browsers keep cookies and event streams stream, with one user per role.
type console struct {
	*env
	srv   *httptest.Server
	users map[herald.Role]herald.User
}

func newConsole(t *testing.T, o envOptions) *console {
	t.Helper()
	o.console = true
	e := newEnv(t, o)
	srv := httptest.NewServer(e.h)
	t.Cleanup(func() {
		srv.CloseClientConnections() // event streams left open
		srv.Close()
	})
	c := &console{env: e, srv: srv, users: map[herald.Role]herald.User{}}
	for _, r := range herald.Roles {
		c.users[r] = c.addUser(string(r)+"@kredete.test", "Test "+strings.ToUpper(string(r[:1]))+string(r[1:]), r)
	}
	return c
}

// forEachConsole runs f on a fresh console on SQLite and on PostgreSQL.
func forEachConsole(t *testing.T, f func(t *testing.T, c *console)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newConsole(t, envOptions{dialect: d}))
		})
	}
}

// addUser stores a user whose password is testPassword.
func (c *console) addUser(email, name string, role herald.Role) herald.User {
	c.t.Helper()
	hash, err := auth.Hash(testPassword, testHashParams)
	if err != nil {
		c.t.Fatal(err)
	}
	u, err := c.store.CreateUser(context.Background(), herald.NewUser{Email: email, Name: name, Role: role,
		Password: testPassword}, hash, "test")
	if err != nil {
		c.t.Fatal(err)
	}
	return u
}

// browser is one person's browser: a cookie jar, no redirects followed.
type browser struct {
	t      testing.TB
	c      *console
	base   *url.URL
	client *http.Client
}

func (c *console) browser(t testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	base, err := url.Parse(c.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: c, base: base, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// as returns a browser signed in as the user of the role.
func (c *console) as(t testing.TB, role herald.Role) *browser {
	t.Helper()
	b := c.browser(t)
	b.mustSignIn(c.users[role].Email)
	return b
}

func (b *browser) request(ctx context.Context, method, path string, body io.Reader, headers ...string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, b.base.String()+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res
}

func (b *browser) do(method, path string, body io.Reader, headers ...string) response {
	b.t.Helper()
	res := b.request(context.Background(), method, path, body, headers...)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{Code: res.StatusCode, Header: res.Header, Body: data}
}

func (b *browser) get(path string, headers ...string) response {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, headers...)
}

// post sends a form, as a browser does from a page of this site.
func (b *browser) post(path string, form url.Values, headers ...string) response {
	b.t.Helper()
	return b.do(http.MethodPost, path, strings.NewReader(form.Encode()),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, headers...)...)
}

// page fetches a console page that must answer 200 and parses it.
func (b *browser) page(path string) *html.Node {
	b.t.Helper()
	r := b.get(path)
	if r.Code != http.StatusOK {
		b.t.Fatalf("GET %s = %d, want 200: %.300s", path, r.Code, r.Body)
	}
	return parseHTML(b.t, r.Body)
}

func (b *browser) signIn(email, password string, extra ...string) response {
	b.t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return b.post("/console/sign-in", form)
}

func (b *browser) mustSignIn(email string) {
	b.t.Helper()
	r := b.signIn(email, testPassword)
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/console" {
		b.t.Fatalf("sign in as %s: %d to %q, want 303 to /console: %.300s", email, r.Code, r.Header.Get("Location"), r.Body)
	}
}

// session is the session cookie's value in the jar, or "".
func (b *browser) session() string {
	for _, ck := range b.client.Jar.Cookies(b.base) {
		if ck.Name == "herald_session" {
			return ck.Value
		}
	}
	return ""
}

// plant puts a session cookie in the jar, as an attacker or a stolen
// cookie would.
func (b *browser) plant(token string) {
	b.client.Jar.SetCookies(b.base, []*http.Cookie{{Name: "herald_session", Value: token, Path: "/"}})
}

// wantSignInRedirect checks a response sends the browser to sign in.
func wantSignInRedirect(t testing.TB, r response, what string) {
	t.Helper()
	if loc := r.Header.Get("Location"); r.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/sign-in") {
		t.Errorf("%s: %d to %q, want 303 to /console/sign-in", what, r.Code, loc)
	}
}

// whoami is the signed-in user the page names, or "" without one.
func whoami(t testing.TB, doc *html.Node) string {
	t.Helper()
	if n := queryAll(t, doc, "[data-testid=whoami]"); len(n) == 1 {
		return text(n[0])
	}
	return ""
}

// stored is everything the console can change, read through the store:
// comparing two readings tells whether a request stored anything.
type stored struct {
	Version    int64
	Audit      []herald.AuditEntry
	Users      []herald.User
	Components []herald.Component
	Incidents  []herald.Incident
	Told       []herald.Communication
	Timelines  map[string][]herald.TimelineEvent
	Seats      map[string]map[herald.IncidentRole]herald.Assignment
}

func (e *env) stored() stored {
	e.t.Helper()
	ctx := context.Background()
	var s stored
	var err error
	must := func(err error) {
		if err != nil {
			e.t.Helper()
			e.t.Fatal(err)
		}
	}
	s.Version, _, err = e.store.Version(ctx)
	must(err)
	s.Audit, err = e.store.Audit(ctx, "", 1<<20)
	must(err)
	s.Users, err = e.store.Users(ctx)
	must(err)
	s.Components, err = e.store.Components(ctx)
	must(err)
	s.Incidents, err = e.store.RecentIncidents(ctx, time.Time{})
	must(err)
	ids := make([]string, len(s.Incidents))
	s.Timelines = map[string][]herald.TimelineEvent{}
	s.Seats = map[string]map[herald.IncidentRole]herald.Assignment{}
	for i, in := range s.Incidents {
		ids[i] = in.ID
		s.Timelines[in.ID], err = e.store.Timeline(ctx, in.ID, "")
		must(err)
		s.Seats[in.ID], err = e.store.Assignments(ctx, in.ID)
		must(err)
	}
	s.Told, err = e.store.Communications(ctx, ids)
	must(err)
	return s
}

// wantNothingStored fails when the store differs from before.
func (e *env) wantNothingStored(before stored, what string) {
	e.t.Helper()
	if d := cmp.Diff(before, e.stored()); d != "" {
		e.t.Errorf("%s stored something (-before +after):\n%s", what, d)
	}
}

// told is what the store recorded for the incident's audience, oldest
// first.
func (e *env) told(incidentID, audience string) []string {
	e.t.Helper()
	all, err := e.store.Communications(context.Background(), []string{incidentID})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range all {
		if c.Audience == audience {
			out = append(out, c.Body)
		}
	}
	return out
}

// signInFrom posts the sign-in form straight to the handler from a client
// address, without a browser: for throttling by address and for reading
// the cookie's attributes. Extra headers come in name, value pairs.
func (e *env) signInFrom(addr, email, password string, headers ...string) response {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/console/sign-in",
		strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	r.RemoteAddr = addr + ":40000"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	return response{Code: res.StatusCode, Header: res.Header, Body: body}
}

func sessionCookie(t testing.TB, r response) *http.Cookie {
	t.Helper()
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == "herald_session" {
			return ck
		}
	}
	t.Fatalf("no session cookie set (%d): %v", r.Code, r.Header.Values("Set-Cookie"))
	return nil
}

func signInError(t testing.TB, r response) string {
	t.Helper()
	return text(queryOne(t, parseHTML(t, r.Body), "[data-testid=signin-error]"))
}

func TestConsoleSignInFailuresLookAlike(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.browser(t)
		known, unknown := c.users[herald.RoleCommander].Email, "nobody@kredete.test"
		wrong := b.signIn(known, "not the password at all")
		missing := b.signIn(unknown, "not the password at all")
		if wrong.Code != http.StatusUnauthorized || missing.Code != wrong.Code {
			t.Fatalf("wrong password %d, unknown email %d; want both 401", wrong.Code, missing.Code)
		}
		msg := signInError(t, wrong)
		if msg == "" || signInError(t, missing) != msg {
			t.Errorf("messages differ: wrong password %q, unknown email %q", msg, signInError(t, missing))
		}
		// The pages differ only by the email typed, which is kept.
		a := strings.ReplaceAll(string(wrong.Body), known, "EMAIL")
		z := strings.ReplaceAll(string(missing.Body), unknown, "EMAIL")
		if d := cmp.Diff(a, z); d != "" {
			t.Errorf("the pages tell a wrong password from an unknown email:\n%s", d)
		}
		if v, _ := attr(queryOne(t, parseHTML(t, wrong.Body), "input#email"), "value"); v != known {
			t.Errorf("the email typed is not kept: %q", v)
		}
		if s := b.session(); s != "" {
			t.Errorf("a failed sign-in left a session cookie %q", s)
		}
		wantSignInRedirect(t, b.get("/console"), "GET /console after failed sign-ins")
	})
}

func TestConsoleSignInThrottlesAnAccount(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.browser(t)
		victim := c.users[herald.RoleCommander].Email
		// Four failures do not lock the account, and a good sign-in
		// forgets them.
		for i := range 4 {
			if r := b.signIn(victim, "guess "+strconv.Itoa(i)); r.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d, want 401", i+1, r.Code)
			}
		}
		b.mustSignIn(victim)
		b = c.browser(t)
		for i := range 5 {
			if r := b.signIn(victim, "guess "+strconv.Itoa(i)); r.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d, want 401", i+1, r.Code)
			}
		}
		r := b.signIn(victim, testPassword)
		if r.Code != http.StatusTooManyRequests {
			t.Fatalf("the right password after 5 failures: %d, want 429", r.Code)
		}
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
			t.Errorf("Retry-After = %q, want a number of seconds", r.Header.Get("Retry-After"))
		}
		if got, want := signInError(t, r), signInError(t, b.signIn("nobody@kredete.test", "x")); got != want {
			t.Errorf("the throttled page says %q, a failure says %q: it tells the limit was hit", got, want)
		}
		if b.session() != "" {
			t.Error("a throttled sign-in set a session cookie")
		}
		// Another account from the same address still works.
		c.browser(t).mustSignIn(c.users[herald.RoleViewer].Email)
	})
}

func TestConsoleSignInThrottlesAnAddress(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		const attacker, other = "192.0.2.10", "192.0.2.11"
		email := c.users[herald.RoleResponder].Email
		// 19 failures spread over accounts (none reaches its own limit)
		// leave the address usable.
		for i := range 19 {
			if r := c.signInFrom(attacker, "user"+strconv.Itoa(i)+"@kredete.test", "guess"); r.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d, want 401", i+1, r.Code)
			}
		}
		if r := c.signInFrom(attacker, email, testPassword); r.Code != http.StatusSeeOther {
			t.Fatalf("after 19 failures from the address: %d, want 303", r.Code)
		}
		if r := c.signInFrom(attacker, "user19@kredete.test", "guess"); r.Code != http.StatusUnauthorized {
			t.Fatalf("failure 20: %d, want 401", r.Code)
		}
		r := c.signInFrom(attacker, email, testPassword)
		if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("after 20 failures from the address: %d (Retry-After %q), want 429 with Retry-After",
				r.Code, r.Header.Get("Retry-After"))
		}
		if r := c.signInFrom(other, email, testPassword); r.Code != http.StatusSeeOther {
			t.Errorf("the same account from another address: %d, want 303", r.Code)
		}
	})
}

func TestConsoleSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			c := newConsole(t, envOptions{secureCookie: secure})
			r := c.signInFrom("192.0.2.1", c.users[herald.RoleViewer].Email, testPassword)
			if r.Code != http.StatusSeeOther {
				t.Fatalf("sign in: %d", r.Code)
			}
			ck := sessionCookie(t, r)
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != secure || ck.Path != "/" || len(ck.Value) < 32 {
				t.Errorf("cookie %s: want HttpOnly, SameSite=Lax, Secure=%v, Path=/, a long random value", ck, secure)
			}
		})
	}
}

func TestConsoleSessionFixation(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		// An attacker signs in with their own account and plants that
		// session in the victim's browser.
		attacker := c.as(t, herald.RoleViewer)
		planted := attacker.session()
		if planted == "" {
			t.Fatal("no session after sign-in")
		}
		victim := c.browser(t)
		victim.plant(planted)
		victim.mustSignIn(c.users[herald.RoleAdmin].Email)
		if s := victim.session(); s == "" || s == planted {
			t.Fatalf("the session token did not change at sign-in (%q)", s)
		}
		if got := whoami(t, victim.page("/console")); !strings.Contains(got, c.users[herald.RoleAdmin].Name) {
			t.Errorf("the victim's page names %q", got)
		}
		// The planted token does not carry the victim's session.
		r := attacker.get("/console")
		if r.Code == http.StatusOK && strings.Contains(whoami(t, parseHTML(t, r.Body)), c.users[herald.RoleAdmin].Name) {
			t.Fatal("the planted token is signed in as the victim")
		}
		wantSignInRedirect(t, r, "the planted token after the victim signed in")

		// A made-up token is replaced too.
		b := c.browser(t)
		b.plant("made-up-token-made-up-token-made-up-token")
		b.mustSignIn(c.users[herald.RoleViewer].Email)
		if s := b.session(); s == "made-up-token-made-up-token-made-up-token" {
			t.Error("a planted token was kept at sign-in")
		}
	})
}

func TestConsoleSignOut(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		old := b.session()
		b.page("/console")
		r := b.post("/console/sign-out", nil)
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/console/sign-in" {
			t.Fatalf("sign out: %d to %q", r.Code, r.Header.Get("Location"))
		}
		wantSignInRedirect(t, b.get("/console"), "GET /console after sign-out")
		// The old cookie, kept by someone, no longer works.
		thief := c.browser(t)
		thief.plant(old)
		wantSignInRedirect(t, thief.get("/console"), "the old cookie after sign-out")
		before := c.stored()
		if r := thief.post("/console/incidents/x/notes", url.Values{"note": {"hi"}}); r.Code != http.StatusUnauthorized {
			t.Errorf("POST with the old cookie: %d, want 401", r.Code)
		}
		c.wantNothingStored(before, "a POST with a signed-out cookie")
		if r := c.browser(t).post("/console/sign-out", nil); r.Code != http.StatusUnauthorized {
			t.Errorf("sign out without a session: %d, want 401", r.Code)
		}
	})
}

func TestConsoleSignInNext(t *testing.T) {
	c := newConsole(t, envOptions{})
	email := c.users[herald.RoleCommander].Email
	// A signed-out visit remembers where it was going.
	b := c.browser(t)
	r := b.get("/console/incidents/new?x=1")
	if loc := r.Header.Get("Location"); r.Code != http.StatusSeeOther || loc != "/console/sign-in?next="+url.QueryEscape("/console/incidents/new?x=1") {
		t.Fatalf("signed out: %d to %q", r.Code, loc)
	}
	doc := b.page(r.Header.Get("Location"))
	next, _ := attr(queryOne(t, doc, "input[name=next]"), "value")
	if next != "/console/incidents/new?x=1" {
		t.Fatalf("the sign-in form's next = %q", next)
	}
	if r := b.signIn(email, testPassword, "next", next); r.Header.Get("Location") != next {
		t.Errorf("sign in with next=%q went to %q", next, r.Header.Get("Location"))
	}

	for _, n := range []struct{ next, want string }{
		{"/console/incidents/new", "/console/incidents/new"},
		{"/console", "/console"},
		{"/console/audit?x=1#y", "/console/audit?x=1#y"},
		{"", "/console"},
		{"https://evil.example/console", "/console"},
		{"//evil.example/console", "/console"},
		{"/\\evil.example", "/console"},
		{"/console\\..\\..\\evil", "/console"},
		{"/console/\\..\\..\\history", "/console"}, // browsers read \ as /
		{"\\\\evil.example", "/console"},
		{"javascript:alert(1)", "/console"},
		{"/history", "/console"},
		{"/console/../history", "/console"},
		{"/console/%2e%2e/history", "/console"},
		{"/consolex", "/console"},
		{"/console/\r\nLocation: https://evil.example", "/console"},
	} {
		b := c.browser(t)
		if r := b.signIn(email, testPassword, "next", n.next); r.Code != http.StatusSeeOther || r.Header.Get("Location") != n.want {
			t.Errorf("sign in with next=%q: %d to %q, want %q", n.next, r.Code, r.Header.Get("Location"), n.want)
		}
		// Signed in, the sign-in page forwards by the same rule.
		if r := b.get("/console/sign-in?next=" + url.QueryEscape(n.next)); r.Code != http.StatusSeeOther || r.Header.Get("Location") != n.want {
			t.Errorf("GET sign-in signed in, next=%q: %d to %q, want %q", n.next, r.Code, r.Header.Get("Location"), n.want)
		}
	}
}

func TestConsoleDisabledUser(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		ctx := context.Background()
		u := c.users[herald.RoleCommander]
		open := c.as(t, herald.RoleCommander) // a session from before
		if err := c.store.SetUserDisabled(ctx, u.ID, true, "test"); err != nil {
			t.Fatal(err)
		}
		b := c.browser(t)
		r := b.signIn(u.Email, testPassword)
		if r.Code != http.StatusUnauthorized || b.session() != "" {
			t.Fatalf("a disabled user signing in: %d, session %q; want 401 and none", r.Code, b.session())
		}
		if got, want := signInError(t, r), signInError(t, b.signIn("nobody@kredete.test", "x")); got != want {
			t.Errorf("a disabled account says %q, an unknown one %q", got, want)
		}
		wantSignInRedirect(t, open.get("/console"), "a disabled user's open session")
		before := c.stored()
		if r := open.post("/console/incidents", url.Values{"name": {"x"}}); r.Code != http.StatusUnauthorized {
			t.Errorf("a disabled user's POST: %d, want 401", r.Code)
		}
		c.wantNothingStored(before, "a disabled user's POST")
		// Disabled users are not offered as commanders.
		for _, o := range queryAll(t, c.as(t, herald.RoleAdmin).page("/console/incidents/new"), "select#commander option") {
			if v, _ := attr(o, "value"); v == u.ID {
				t.Error("the declare form offers a disabled user as commander")
			}
		}
		if err := c.store.SetUserDisabled(ctx, u.ID, false, "test"); err != nil {
			t.Fatal(err)
		}
		c.browser(t).mustSignIn(u.Email)
		entries, err := c.store.Audit(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e herald.AuditEntry) bool {
			return e.Action == "user.disabled" && e.EntityID == u.ID && e.Before == `{"disabled":false}` && e.After == `{"disabled":true}`
		}) {
			t.Errorf("no audit entry for disabling the user: %+v", entries)
		}
	})
}

func TestConsoleCrossSitePost(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		form := url.Values{"name": {"Planted incident"}, "impact": {"critical"}, "body": {"Planted by another site."},
			"commander": {c.users[herald.RoleCommander].ID}}
		before := c.stored()
		for _, h := range [][]string{
			{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "cross-site"},
			{"Origin", "https://evil.example"},
		} {
			if r := b.post("/console/incidents", form, h...); r.Code != http.StatusForbidden {
				t.Errorf("cross-site POST %q: %d, want 403", h, r.Code)
			}
		}
		// Signing in from another site is refused too (login CSRF).
		if r := c.browser(t).post("/console/sign-in", url.Values{"email": {c.users[herald.RoleViewer].Email},
			"password": {testPassword}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); r.Code != http.StatusForbidden {
			t.Errorf("cross-site sign in: %d, want 403", r.Code)
		}
		c.wantNothingStored(before, "cross-site POSTs")
		// The same form from the console's own page goes through.
		r := b.post("/console/incidents", form, "Origin", c.srv.URL, "Sec-Fetch-Site", "same-origin")
		if r.Code != http.StatusSeeOther {
			t.Fatalf("same-origin POST: %d, want 303: %.300s", r.Code, r.Body)
		}
	})
}

// event is one server-sent event.
type event struct{ id, name, data string }

// nextEvent reads the stream up to the next event, skipping the retry
// hint and keep-alive comments. The request's deadline bounds the wait.
func nextEvent(t testing.TB, r *bufio.Reader) event {
	t.Helper()
	var ev event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v (so far %+v)", err, ev)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if ev.name != "" {
				return ev
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[len("data: "):]
		}
	}
}

// openStream starts an event stream; it ends with the test.
func (b *browser) openStream(path string) *bufio.Reader {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	b.t.Cleanup(cancel)
	res := b.request(ctx, http.MethodGet, path, nil)
	b.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b.t.Fatalf("GET %s: %d %s, want 200 text/event-stream", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return bufio.NewReader(res.Body)
}

func TestConsoleEvents(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		viewer := c.as(t, herald.RoleViewer)
		streams := map[string]*bufio.Reader{
			"/console/events": viewer.openStream("/console/events"),
			"/events":         c.browser(t).openStream("/events"), // the public page's, signed out
		}
		now := strconv.FormatInt(c.public.Snapshot().Version, 10)
		for p, s := range streams {
			// A (re)connecting page first hears the current version.
			if ev := nextEvent(t, s); ev.name != "changed" || ev.id != now || ev.data != now {
				t.Fatalf("%s: first event %+v, want changed with id %s", p, ev, now)
			}
		}
		wantSignInRedirect(t, c.browser(t).get("/console/events"), "the console's stream signed out")

		id := c.declare(c.as(t, herald.RoleCommander), url.Values{"name": {"Streams test"}})
		want := strconv.FormatInt(c.public.Snapshot().Version, 10)
		for p, s := range streams {
			ev := nextEvent(t, s)
			if ev.name != "changed" || ev.id != want {
				t.Errorf("%s: after declaring %s, event %+v, want changed with id %s", p, id, ev, want)
			}
		}
	})
}

// declare declares an incident from the console as b; form overrides the
// defaults (a major incident on the API platform, commanded by b's user).
// It returns the new incident's id.
func (c *console) declare(b *browser, form url.Values) string {
	b.t.Helper()
	f := url.Values{"name": {"Card payments failing"}, "impact": {"major"},
		"body":                               {"We are investigating failed card payments."},
		"component_" + c.ids["api-platform"]: {"partial_outage"}}
	for k, v := range form {
		f[k] = v
	}
	if f.Get("commander") == "" {
		doc := b.page("/console/incidents/new")
		v, _ := attr(queryOne(b.t, doc, "select#commander option[selected]"), "value")
		f.Set("commander", v)
	}
	r := b.post("/console/incidents", f)
	loc := r.Header.Get("Location")
	if r.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/incidents/") {
		b.t.Fatalf("declare: %d to %q: %.500s", r.Code, loc, r.Body)
	}
	return strings.TrimPrefix(loc, "/console/incidents/")
}
