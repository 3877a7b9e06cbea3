package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kredete/herald"
	"github.com/kredete/herald/statusapi"
)

// attrOf is an attribute's value, "" when absent.
func attrOf(n *html.Node, name string) string {
	v, _ := attr(n, name)
	return v
}

// newOutageConsole is a console on PostgreSQL behind a proxy the test can
// cut, with the database monitor checking every interval.
func newOutageConsole(t *testing.T, interval time.Duration) *console {
	t.Helper()
	c := newConsole(t, envOptions{proxied: true, healthInterval: interval})
	if c.health.Check(context.Background()) {
		t.Fatal("the database is reported down before any cut")
	}
	return c
}

// cut makes the database unreachable and waits until the monitor says so.
func (e *env) cut() {
	e.t.Helper()
	e.proxy.Cut()
	deadline := time.Now().Add(10 * time.Second)
	for !e.health.Check(context.Background()) {
		if time.Now().After(deadline) {
			e.t.Fatal("the monitor did not see the cut within 10 s")
		}
	}
}

// restore makes it reachable again and waits until the monitor says so.
func (e *env) restore() {
	e.t.Helper()
	e.proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for e.health.Check(context.Background()) {
		if time.Now().After(deadline) {
			e.t.Fatal("the monitor did not see the database back within 10 s")
		}
	}
}

// A form posted during an outage comes back as typed, except a password,
// which is never written into a page; what the form carried (its button's
// value) comes back hidden.
func TestOutageFormComesBackWithoutPassword(t *testing.T) {
	c := newOutageConsole(t, 50*time.Millisecond)
	admin := c.as(t, herald.RoleAdmin)
	admin.page("/console") // this replica checks the session: it knows the admin during the outage
	c.cut()

	const secret = "correct-horse-battery-staple-42"
	r := admin.post("/console/users", url.Values{"email": {"new.person@kredete.test"}, "name": {"New <Person>"},
		"role": {"viewer"}, "password": {secret}, "action": {"add"}})
	if r.Code != http.StatusServiceUnavailable {
		t.Fatalf("add a user during the outage: %d, want 503", r.Code)
	}
	body := string(r.Body)
	if strings.Contains(body, secret) {
		t.Error("the password typed was written back into the page")
	}
	doc := parseHTML(t, r.Body)
	form := queryOne(t, doc, `[data-testid="not-saved-form"]`)
	if got := attrOf(form, "action"); got != "/console/users" {
		t.Errorf("the form given back posts to %q", got)
	}
	for name, want := range map[string]string{"email": "new.person@kredete.test", "name": "New <Person>", "role": "viewer"} {
		if el := queryOne(t, doc, `[data-testid="not-saved-form"] [name="`+name+`"]`); attrOf(el, "value") != want {
			t.Errorf("%s came back as %q, want %q", name, attrOf(el, "value"), want)
		}
	}
	if el := queryOne(t, doc, `[data-testid="not-saved-form"] [name="action"]`); attrOf(el, "type") != "hidden" {
		t.Errorf("the button's value comes back as a %q field, want hidden", attrOf(el, "type"))
	}
	if strings.Contains(body, "<Person>") {
		t.Error("a value given back is not escaped")
	}
	if n := len(queryAll(t, doc, `[data-testid="database-banner"]`)); n != 1 {
		t.Errorf("%d database banners on the not-saved page, want 1", n)
	}
	// Nothing was written: the database, back, has no such user.
	c.restore()
	if _, _, err := c.store.UserByEmail(context.Background(), "new.person@kredete.test"); err == nil {
		t.Error("the user refused during the outage was stored")
	}
}

// During an outage the console knows only the sessions this replica
// checked against the database before; signing out forgets one at once;
// a session it never checked is sent to the sign-in page, which says why
// signing in cannot work.
func TestOutageSessions(t *testing.T) {
	c := newOutageConsole(t, 50*time.Millisecond)
	admin := c.as(t, herald.RoleAdmin)
	admin.page("/console")
	token := admin.session()
	viewer := c.as(t, herald.RoleViewer) // signed in, no page loaded since: never checked here
	c.cut()

	r := admin.get("/console")
	if r.Code != http.StatusServiceUnavailable || whoami(t, parseHTML(t, r.Body)) == "" {
		t.Errorf("the admin during the outage: %d, whoami %q", r.Code, whoami(t, parseHTML(t, r.Body)))
	}
	wantSignInRedirect(t, viewer.get("/console"), "a session this replica never checked")
	r = viewer.get("/console/sign-in")
	if r.Code != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "Signing in needs it") {
		t.Errorf("the sign-in page during the outage: %d", r.Code)
	}

	r = admin.post("/console/sign-out", nil)
	if r.Code != http.StatusSeeOther || admin.session() != "" {
		t.Errorf("sign out during the outage: %d, cookie %q left", r.Code, admin.session())
	}
	replay := c.browser(t)
	replay.plant(token)
	wantSignInRedirect(t, replay.get("/console"), "the signed-out session during the outage")
}

// A query that fails before the monitor's next check (an hour away here)
// tells it at once: the request is answered as an outage (503, the
// banner), not as a bug (500), and the monitor's state says so.
func TestOutageLearntFromAFailedQuery(t *testing.T) {
	c := newOutageConsole(t, time.Hour)
	admin := c.as(t, herald.RoleAdmin)
	admin.page("/console")
	c.proxy.Cut()

	r := admin.get("/console/incidents/new")
	if r.Code != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), `data-testid="database-banner"`) {
		t.Fatalf("a page whose session cannot be read: %d, want 503 with the banner: %.400s", r.Code, r.Body)
	}
	if _, down := c.health.Down(); !down {
		t.Error("the monitor did not learn of the outage from the failed query")
	}
	if strings.Count(c.healthLogs.String(), "database unreachable") != 1 {
		t.Errorf("the monitor's log:\n%s", c.healthLogs.String())
	}
	// Still ready: the replica serves its snapshot, and says it is degraded.
	if r := c.get("/readyz"); r.Code != http.StatusOK || !strings.HasPrefix(string(r.Body), "ready (degraded: database unreachable since ") {
		t.Errorf("/readyz during the outage: %d %q", r.Code, r.Body)
	}
	c.restore()
	if r := admin.get("/console"); r.Code != http.StatusOK || strings.Contains(string(r.Body), `data-testid="database-banner"`) {
		t.Errorf("/console with the database back: %d", r.Code)
	}
	if r := c.get("/readyz"); string(r.Body) != "ready\n" {
		t.Errorf("/readyz with the database back: %q", r.Body)
	}
}

// The public side during an outage: the page and its refresh carry the
// notice (a new ETag), the API keeps its exact fields and says it is stale
// in headers; back, the page is rebuilt without them.
func TestOutagePublicSide(t *testing.T) {
	e := newEnv(t, envOptions{proxied: true, healthInterval: 50 * time.Millisecond})
	before := e.get("/")
	if strings.Contains(string(before.Body), "outage-notice") {
		t.Fatal("a notice before any cut")
	}
	e.cut()
	page := waitPage(t, e, "the notice on the status page", func(r response) bool {
		return strings.Contains(string(r.Body), `data-testid="outage-notice"`)
	})
	if page.Code != http.StatusOK || page.Header.Get("Etag") == before.Header.Get("Etag") {
		t.Errorf("the page with the notice: %d, ETag %q (before %q)", page.Code, page.Header.Get("Etag"), before.Header.Get("Etag"))
	}
	if frag := e.get("/", "HX-Request", "true"); !strings.Contains(string(frag.Body), `data-testid="outage-notice"`) {
		t.Error("the page's refresh lacks the notice")
	}
	if r := e.get("/history"); !strings.Contains(string(r.Body), `data-testid="outage-notice"`) {
		t.Error("/history lacks the notice")
	}
	api := e.get("/api/v2/summary.json")
	dec := json.NewDecoder(bytes.NewReader(api.Body))
	dec.DisallowUnknownFields()
	var sum statusapi.Summary
	if err := dec.Decode(&sum); err != nil || api.Code != http.StatusOK {
		t.Errorf("summary.json during the outage: %d, strict decode: %v", api.Code, err)
	}
	if !strings.HasPrefix(api.Header.Get("Warning"), "110 ") || api.Header.Get("Age") == "" {
		t.Errorf("summary.json headers: Warning %q, Age %q", api.Header.Get("Warning"), api.Header.Get("Age"))
	}
	e.restore()
	waitPage(t, e, "the notice to go", func(r response) bool {
		return !strings.Contains(string(r.Body), "outage-notice") && r.Header.Get("Warning") == ""
	})
	if api := e.get("/api/v2/summary.json"); api.Header.Get("Warning") != "" || api.Header.Get("Age") != "" {
		t.Errorf("summary.json still stale: Warning %q, Age %q", api.Header.Get("Warning"), api.Header.Get("Age"))
	}
}

// waitPage gets / until ok holds, for up to 10 s.
func waitPage(t *testing.T, e *env, what string, ok func(response) bool) response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.get("/")
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A form sent in the seconds after the database returned, before the
// monitor's next check (an hour away here), is saved: a write asks the
// monitor again rather than being refused on old news.
func TestOutageWriteRightAfterTheReturn(t *testing.T) {
	c := newOutageConsole(t, time.Hour)
	admin := c.as(t, herald.RoleAdmin)
	admin.page("/console")
	c.proxy.Cut()
	if r := admin.get("/console/incidents/new"); r.Code != http.StatusServiceUnavailable {
		t.Fatalf("a page during the outage: %d, want 503", r.Code)
	}
	c.proxy.Restore()
	if _, down := c.health.Down(); !down {
		t.Fatal("the monitor already knows the database is back: the test proves nothing")
	}
	r := admin.post("/console/users", url.Values{"email": {"back.again@kredete.test"}, "name": {"Back Again"},
		"role": {"viewer"}, "password": {"a-long-enough-password-1"}, "action": {"add"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("add a user right after the return: %d, want 303: %.300s", r.Code, r.Body)
	}
	if _, _, err := c.store.UserByEmail(context.Background(), "back.again@kredete.test"); err != nil {
		t.Errorf("the user added right after the return is not stored: %v", err)
	}
	if _, down := c.health.Down(); down {
		t.Error("the monitor still says the database is down")
	}
}
