package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleUser is a console account the tests sign in with.
type consoleUser struct {
	Email, Name, Role, Password string
}

// consoleUsers are created with `herald user add` against the running
// server's database, as an operator adds people.
type consoleUsers struct {
	A, B, Viewer consoleUser
}

// TestConsole drives the incident commander console as its users would:
// each person signs in in their own browser context (own cookies), the
// public page is watched from yet another.
func TestConsole(t *testing.T) {
	browser := newBrowser(t)
	users := addConsoleUsers(t)
	// An open incident for the viewer and the live console; declared over
	// the admin API so those subtests do not depend on the first one.
	open := declareOverAPI(t, fmt.Sprintf("Statement exports failing %s", suffix()), "admin-dashboard", "partial_outage")

	t.Run("CommanderDeclaresUpdatesResolves", func(t *testing.T) { testCommanderFlow(t, browser, users.A) })
	t.Run("ViewerCannotChangeAnything", func(t *testing.T) { testViewer(t, browser, users.Viewer, open) })
	t.Run("CrossSitePostRefused", func(t *testing.T) { testCrossSite(t, browser, users.A) })
	t.Run("LiveConsole", func(t *testing.T) { testLiveConsole(t, browser, users.A, users.B, open) })
	t.Run("PublicPageChangeDuringRefresh", func(t *testing.T) {
		ctx := newPerson(t, browser, 20*time.Second)
		if err := chromedp.Do(ctx, chromedp.Navigate(herald.URL+"/")); err != nil {
			t.Fatal(err)
		}
		testChangeDuringRefresh(t, ctx, open, "/", func(body string) string {
			return fmt.Sprintf("document.querySelector('[data-incident=%q] [data-testid=update]').innerText.includes(%q)", open.ID, body)
		})
	})
	t.Run("AccessibilityAndLayout", func(t *testing.T) { testConsoleAccessibility(t, browser, users.A) })
}

// suffix makes names unique within the server's life (go test -count=2
// reuses it).
func suffix() string {
	b := make([]byte, 3)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}

// addConsoleUsers adds two commanders and a viewer with the CLI.
func addConsoleUsers(t *testing.T) consoleUsers {
	t.Helper()
	s := suffix()
	mk := func(who, name, role string) consoleUser {
		pw := make([]byte, 12)
		rand.Read(pw) //nolint:errcheck
		u := consoleUser{Email: who + "-" + s + "@kredete.example", Name: name, Role: role, Password: hex.EncodeToString(pw)}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(herald.Dir, "herald"), "user", "add",
			"--email", u.Email, "--name", u.Name, "--role", u.Role)
		cmd.Env = append(cleanEnv(), "HERALD_DATABASE_URL=sqlite:"+filepath.Join(herald.Dir, "herald.db"),
			"HERALD_CONFIG="+filepath.Join(herald.Dir, "herald.yaml"), "HERALD_USER_PASSWORD="+u.Password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("herald user add --email %s --role %s: %v\n%s", u.Email, role, err, out)
		}
		return u
	}
	return consoleUsers{
		A:      mk("ada", "Ada Okafor", "commander"),
		B:      mk("bongani", "Bongani Dlamini", "commander"),
		Viewer: mk("vera", "Vera Naidoo", "viewer"),
	}
}

// declareOverAPI declares an incident through the admin API and returns
// its id and name.
func declareOverAPI(t *testing.T, name, component, status string) apiRef {
	t.Helper()
	var out struct {
		Incident struct {
			ID string `json:"id"`
		} `json:"incident"`
	}
	adminPost(t, "/admin/api/incidents", map[string]any{
		"name": name, "status": "investigating", "impact": "major",
		"body":       "We are investigating failed statement exports.",
		"components": []map[string]string{{"id": component, "status": status}},
	}, &out)
	if out.Incident.ID == "" {
		t.Fatal("the admin API returned no incident id")
	}
	return apiRef{ID: out.Incident.ID, Name: name}
}

type apiRef struct{ ID, Name string }

// newPerson opens a tab in a fresh browser context: its own cookies and
// storage, like a separate incognito window. Every action must finish
// within the timeout.
func newPerson(t *testing.T, browser context.Context, timeout time.Duration) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("open a tab in a new browser context: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

// signIn signs u in on the sign-in page and lands on the incident list.
func signIn(t *testing.T, ctx context.Context, u consoleUser) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(herald.URL+"/console"),
		chromedp.WaitVisible(chromedp.CSS("#email"))); err != nil {
		t.Fatalf("open the console (expect the sign-in page): %v", err)
	}
	if loc := evalJS[string](t, ctx, "location.pathname"); loc != "/console/sign-in" {
		t.Fatalf("signed out, /console led to %s, want /console/sign-in", loc)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#email"), u.Email),
		chromedp.SetValue(chromedp.CSS("#password"), u.Password)); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("main form button[type=submit]")))
	if err != nil {
		t.Fatalf("sign in as %s: %v", u.Email, err)
	}
	if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/console") {
		t.Fatalf("sign in as %s: HTTP %d at %s, want 200 at /console", u.Email, resp.Status, resp.URL)
	}
	who := evalJS[string](t, ctx, "document.querySelector('[data-testid=whoami]').innerText")
	if !strings.Contains(who, u.Name) {
		t.Fatalf("signed in as %s, the header says %q", u.Name, who)
	}
}

// evalJS evaluates an expression in the page.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", firstLine(expr), err)
	}
	return v
}

// evalAwait evaluates an expression that returns a promise.
func evalAwait[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", firstLine(expr), err)
	}
	return v
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// click clicks and waits for the page the click leads to.
func click(t *testing.T, ctx context.Context, sel string, want int64) {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
	if resp.Status != want {
		body := evalJS[string](t, ctx, "document.body ? document.body.innerText.slice(0, 600) : ''")
		t.Fatalf("click %s: HTTP %d at %s, want %d\n%s", sel, resp.Status, resp.URL, want, body)
	}
}

// waitLive waits until htmx runs and the page's server-sent events stream
// is open, so a change announced from now on reaches the page.
func waitLive(t *testing.T, ctx context.Context) {
	t.Helper()
	waitFor(t, ctx, "htmx and the event stream", `(() => {
		if (typeof htmx !== 'object') return false;
		const el = document.querySelector('[sse-connect]');
		const d = el && el['htmx-internal-data'];
		return !!(d && d.sseEventSource && d.sseEventSource.readyState === 1);
	})()`)
}

// sameDocument marks the page and returns a check that fails the test if
// the page was reloaded or navigated since.
func sameDocument(t *testing.T, ctx context.Context) func(step string) {
	t.Helper()
	origin := evalJS[float64](t, ctx, "window.__marker = 1; performance.timeOrigin")
	history, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	return func(step string) {
		t.Helper()
		got := evalJS[[]float64](t, ctx, "[window.__marker || 0, performance.timeOrigin]")
		h, err := chromedp.Run(ctx, chromedp.NavigationEntries())
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != 1 || got[1] != origin || len(h.Entries) != len(history.Entries) || h.CurrentIndex != history.CurrentIndex {
			t.Fatalf("%s: the page was reloaded or navigated (marker %v, time origin %v→%v, history %d→%d entries)",
				step, got[0], origin, got[1], len(history.Entries), len(h.Entries))
		}
	}
}

// selectByLabel sets the <select> labelled label (exact text) to value.
func selectByLabel(t *testing.T, ctx context.Context, scope, label, value string) {
	t.Helper()
	id := evalJS[string](t, ctx, fmt.Sprintf(`(() => {
		const l = Array.from(document.querySelectorAll(%q + ' label')).find(l => l.textContent.trim() === %q);
		return l ? l.htmlFor : '';
	})()`, scope, label))
	if id == "" {
		t.Fatalf("no field labelled %q in %s", label, scope)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#"+id), value)); err != nil {
		t.Fatalf("set %q to %s: %v", label, value, err)
	}
}

// smsCount is what the composer should say for a GSM-7 text of n
// characters.
func smsCount(n int) string {
	parts := 1
	if n > 160 {
		parts = (n + 152) / 153
	}
	s := "s"
	if parts == 1 {
		s = ""
	}
	return fmt.Sprintf("SMS: %d characters, %d segment%s (GSM-7)", n, parts, s)
}

// publicIncident is an incident as the Statuspage API shows it.
type publicIncident struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Updates []struct {
		Status string `json:"status"`
		Body   string `json:"body"`
	} `json:"incident_updates"`
}

// publicIncidents reads /api/v2/incidents.json.
func publicIncidents(t *testing.T) []publicIncident {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, herald.URL+"/api/v2/incidents.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/incidents.json: %s %v\n%s", resp.Status, err, raw)
	}
	var doc struct {
		Incidents []publicIncident `json:"incidents"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode /api/v2/incidents.json: %v", err)
	}
	return doc.Incidents
}

func findPublic(incidents []publicIncident, name string) (publicIncident, bool) {
	for _, in := range incidents {
		if in.Name == name {
			return in, true
		}
	}
	return publicIncident{}, false
}

// waitLiveRefresh waits until the page's event stream is open and nothing
// is being fetched or swapped. The page tells the stream which version it
// shows (sse-connect="...?v=N"), so it refetches path only when something
// newer is announced, not once on every load.
func waitLiveRefresh(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	waitLive(t, ctx)
	waitFor(t, ctx, "a settled page at "+path, `!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')`)
}

// clearField empties a text field as a user selecting everything and
// deleting it would: the value goes, an input event follows.
func clearField(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const el = document.querySelector(%q);
		el.focus(); el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); })()`, sel))
}
