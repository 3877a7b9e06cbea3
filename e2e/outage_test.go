package e2e

// Issue 8's degraded mode, with real parts: a Herald process on PostgreSQL
// reached through a TCP proxy that this test cuts (every connection closed,
// new ones refused) and restores, so the database really goes away. While
// it is away the public page and API keep serving the last snapshot, with
// the notice and its age; the console says so in a banner and gives a form
// back as typed; sign-in says it needs the database. When it is back,
// everything recovers without a restart: the notice goes, a write
// succeeds, the snapshot shows it, another replica's write arrives by
// LISTEN/NOTIFY, and a Slack message queued before the cut is delivered
// once.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	domain "github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/statusapi"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

const (
	outageEmail    = "ic@kredete.example"
	outagePassword = "a long enough console password"
	outageToken    = "outage-test-admin-token-0123456789"
	outageUpdate   = "Rolling back the card authorisation deploy; next update at 11:00."
	outageMore     = " Card payments recover as it rolls out."
)

const outagePlan = `page:
  id: outage
  name: Kredete
  url: https://status.kredete.example
  time_zone: Africa/Johannesburg
objectives:
  rto: 4h
  rpo: 1h
  availability: 99.99%
components:
  - key: api-platform
    name: API Platform
    description: Public and partner-facing REST APIs.
  - key: card-payments
    name: Card Payments
    description: Card authorisation and settlement.
audiences:
  - key: engineering
    name: Engineering Team
    channels: [slack]
    description: "Slack #incident-response"
    cadence: real_time
    recipients:
      slack_channel: "#incident-response"
  - key: public
    name: Partners and clients
    channels: [status_page]
    description: Status page
    cadence: every 15m
failover:
  runbooks:
    - key: database-failover
      name: Database failover
      description: Manual failover of the PostgreSQL primary to the standby.
      stages:
        - name: Promote the standby
          command: pg_ctl promote
`

// outageWorld is the test's Herald, its database and the way to cut it.
type outageWorld struct {
	t      *testing.T
	url    string
	proxy  *storetest.Proxy
	st     *store.Store // straight to the database: another replica
	slack  *slacktest.Server
	slackC string
	log    *syncBuffer
	ic     *http.Client // the incident commander's browser: signed in before the cut
}

func TestDatabaseOutage(t *testing.T) {
	w := newOutageWorld(t)
	ctx := context.Background()

	// Before the cut: signed in (this replica checked the session against
	// the database), an incident declared while Slack is down, so its
	// Slack message is queued and waiting to be retried when the
	// database goes away.
	w.signIn(w.ic)
	if r := w.get(w.ic, "/console", nil); r.code != http.StatusOK {
		t.Fatalf("/console signed in: %d", r.code)
	}
	w.slack.SetDown(true)
	inc := w.declare()
	parent := w.waitDelivery(inc, func(d domain.Delivery) bool { return d.Attempts >= 1 && !d.State.Final() },
		"the Slack message tried once and waiting for a retry")
	before := w.get(nil, "/", nil)
	if before.code != http.StatusOK || strings.Contains(before.body, "outage-notice") {
		t.Fatalf("/ before the cut: %d, notice shown: %v", before.code, strings.Contains(before.body, "outage-notice"))
	}

	// A browser tab on the incident, with an update typed into the
	// composer but not yet sent when the database goes away.
	browser, tab := w.browserOnIncident(inc)

	w.proxy.Cut()
	cutAt := time.Now()
	eventuallyHTTP(t, 10*time.Second, "/readyz to say degraded", func() (bool, string) {
		r := w.get(nil, "/readyz", nil)
		return r.code == http.StatusOK && strings.HasPrefix(r.body, "ready (degraded: database unreachable since "), r.body
	})
	t.Logf("the outage was seen %s after the cut", time.Since(cutAt).Round(time.Millisecond))

	t.Run("public page and API while the database is away", func(t *testing.T) {
		var page response
		eventuallyHTTP(t, 10*time.Second, "the notice on the status page", func() (bool, string) {
			page = w.get(nil, "/", nil)
			return strings.Contains(page.body, `data-testid="outage-notice"`), fmt.Sprintf("%d", page.code)
		})
		if page.code != http.StatusOK {
			t.Errorf("/ during the outage: %d", page.code)
		}
		notice := regexp.MustCompile(`This page shows the status as of <time datetime="[^"]+" data-testid="outage-as-of">(\d\d:\d\d SAST)</time>\s*\(<span data-testid="outage-age">([^<]+)</span>\)`)
		if m := notice.FindStringSubmatch(page.body); m == nil {
			t.Errorf("the notice does not give the time with its zone and the age:\n%s", excerpt(page.body, "outage-notice"))
		} else {
			t.Logf("notice: status as of %s (%s)", m[1], m[2])
		}
		if !strings.Contains(page.body, "Card payments failing") {
			t.Error("the status page lost the incident declared before the cut")
		}
		if page.header.Get("Etag") == before.header.Get("Etag") {
			t.Error("the page with the notice has the ETag of the page without it")
		}
		frag := w.get(nil, "/", http.Header{"Hx-Request": {"true"}})
		if frag.code != http.StatusOK || !strings.Contains(frag.body, `data-testid="outage-notice"`) {
			t.Errorf("the htmx refresh of the page lacks the notice (%d)", frag.code)
		}
		if r := w.get(nil, "/incidents/"+inc, nil); r.code != http.StatusOK || !strings.Contains(r.body, `data-testid="outage-notice"`) {
			t.Errorf("/incidents/%s during the outage: %d, notice: %v", inc, r.code, strings.Contains(r.body, "outage-notice"))
		}

		api := w.get(nil, "/api/v2/summary.json", nil)
		if api.code != http.StatusOK {
			t.Fatalf("summary.json during the outage: %d", api.code)
		}
		dec := json.NewDecoder(strings.NewReader(api.body))
		dec.DisallowUnknownFields() // Statuspage's fields, no more
		var sum statusapi.Summary
		if err := dec.Decode(&sum); err != nil {
			t.Errorf("summary.json does not decode strictly: %v", err)
		}
		if len(sum.Incidents) != 1 || sum.Incidents[0].Name != "Card payments failing" {
			t.Errorf("summary.json incidents: %+v", sum.Incidents)
		}
		if !strings.HasPrefix(api.header.Get("Warning"), "110 ") {
			t.Errorf("summary.json Warning = %q, want 110 (stale)", api.header.Get("Warning"))
		}
		if age, err := strconv.Atoi(api.header.Get("Age")); err != nil || age < 0 {
			t.Errorf("summary.json Age = %q", api.header.Get("Age"))
		}
	})

	t.Run("console while the database is away", func(t *testing.T) {
		r := w.get(w.ic, "/console", nil)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, `data-testid="database-banner"`) ||
			!strings.Contains(r.body, "Changes cannot be saved") || !strings.Contains(r.body, "SAST") {
			t.Errorf("/console: %d, banner:\n%s", r.code, excerpt(r.body, "database-banner"))
		}
		if !strings.Contains(r.body, `data-testid="whoami"`) {
			t.Error("the signed-in commander is not known during the outage")
		}
		if r := w.get(w.ic, "/console/runbooks", nil); r.code != http.StatusOK || !strings.Contains(r.body, `data-testid="database-banner"`) ||
			!strings.Contains(r.body, "pg_ctl promote") {
			t.Errorf("/console/runbooks (the plan only): %d, banner %v", r.code, strings.Contains(r.body, "database-banner"))
		}

		// A form sent: refused with the reason, and given back as typed.
		form := url.Values{"status": {"identified"}, "main": {outageUpdate}, "audience": {"engineering", "public"}}
		r = w.post(w.ic, "/console/incidents/"+inc+"/updates", form, nil)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "so this was not saved") {
			t.Fatalf("compose during the outage: %d\n%s", r.code, excerpt(r.body, "not-saved"))
		}
		if !strings.Contains(r.body, `value="`+outageUpdate+`"`) && !strings.Contains(r.body, ">"+outageUpdate+"</textarea>") {
			t.Errorf("the refused update's text is not given back:\n%s", excerpt(r.body, "not-saved-form"))
		}
		if !strings.Contains(r.body, `action="/console/incidents/`+inc+`/updates"`) {
			t.Error("the form given back does not post where it came from")
		}
		if strings.Count(r.body, `name="audience"`) != 2 {
			t.Errorf("the ticked audiences are not both kept: %d", strings.Count(r.body, `name="audience"`))
		}

		// An htmx request: a 503 with the banner, retargeted to its slot.
		r = w.post(w.ic, "/console/incidents/"+inc+"/preview", form, http.Header{"Hx-Request": {"true"}})
		if r.code != http.StatusServiceUnavailable || r.header.Get("Hx-Retarget") != "#database-banner" ||
			!strings.Contains(r.body, "Herald cannot reach its database") {
			t.Errorf("htmx preview: %d, HX-Retarget %q", r.code, r.header.Get("Hx-Retarget"))
		}

		// Signing in: the reason, not "wrong password".
		other := newClient()
		r = w.get(other, "/console/sign-in", nil)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "Signing in needs it") {
			t.Errorf("sign-in page: %d\n%s", r.code, excerpt(r.body, "database-banner"))
		}
		r = w.post(other, "/console/sign-in", url.Values{"email": {outageEmail}, "password": {outagePassword}}, nil)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "Signing in needs Herald&#39;s database") ||
			strings.Contains(r.body, "Sign-in failed") || !strings.Contains(r.body, `value="`+outageEmail+`"`) {
			t.Errorf("sign-in: %d\n%s", r.code, excerpt(r.body, "signin-error"))
		}
		// The admin API: JSON, 503.
		r = w.adminPost("/admin/api/incidents/"+inc+"/updates", `{"status":"identified","body":"x"}`)
		if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "nothing was saved") {
			t.Errorf("admin API during the outage: %d %s", r.code, r.body)
		}
	})

	t.Run("in a browser", func(t *testing.T) {
		w.browserDuringOutage(t, browser, tab)
	})

	// The database comes back (and Slack): everything recovers by itself.
	w.slack.SetDown(false)
	w.proxy.Restore()
	eventuallyHTTP(t, 15*time.Second, "/readyz to say ready", func() (bool, string) {
		r := w.get(nil, "/readyz", nil)
		return r.code == http.StatusOK && r.body == "ready\n", r.body
	})
	eventuallyHTTP(t, 15*time.Second, "the notice to go", func() (bool, string) {
		r := w.get(nil, "/", nil)
		return r.code == http.StatusOK && !strings.Contains(r.body, "outage-notice") && r.header.Get("Warning") == "", r.header.Get("Warning")
	})
	if r := w.get(nil, "/api/v2/summary.json", nil); r.header.Get("Age") != "" || r.header.Get("Warning") != "" {
		t.Errorf("the API still says stale: Age %q, Warning %q", r.header.Get("Age"), r.header.Get("Warning"))
	}
	if r := w.get(w.ic, "/console", nil); r.code != http.StatusOK || strings.Contains(r.body, `data-testid="database-banner"`) {
		t.Errorf("/console after the return: %d, banner %v", r.code, strings.Contains(r.body, `data-testid="database-banner"`))
	}
	// The form given back, sent again: saved, and on the public page.
	form := url.Values{"status": {"identified"}, "main": {outageUpdate}, "audience": {"engineering", "public"}}
	if r := w.post(w.ic, "/console/incidents/"+inc+"/updates", form, nil); r.code != http.StatusSeeOther {
		t.Fatalf("compose after the return: %d\n%s", r.code, r.body)
	}
	eventuallyHTTP(t, 10*time.Second, "the update on the status page", func() (bool, string) {
		r := w.get(nil, "/", nil)
		return strings.Contains(r.body, "Rolling back the card authorisation deploy"), ""
	})
	// Another replica's write (straight to the database) reaches this one
	// by LISTEN/NOTIFY: its poll is an hour.
	comps, err := w.st.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cardID string
	for _, c := range comps {
		if c.Key == "card-payments" {
			cardID = c.ID
		}
	}
	if _, err := w.st.SetComponentStatus(ctx, cardID, domain.MajorOutage, "another replica"); err != nil {
		t.Fatal(err)
	}
	eventuallyHTTP(t, 10*time.Second, "another replica's write by LISTEN/NOTIFY", func() (bool, string) {
		r := w.get(nil, "/api/v2/components.json", nil)
		return strings.Contains(r.body, `"major_outage"`), ""
	})

	// The Slack message queued before the cut: delivered, once; and the
	// update's reply after it.
	ds := w.waitAllFinal(inc, 2)
	posted := map[string]int{}
	for _, m := range w.slack.Messages(w.slackC) {
		var meta struct {
			EventPayload struct {
				DeliveryID string `json:"delivery_id"`
			} `json:"event_payload"`
		}
		if json.Unmarshal([]byte(m.Metadata), &meta) == nil {
			posted[meta.EventPayload.DeliveryID]++
		}
	}
	for _, d := range ds {
		if d.Channel != domain.ChannelSlack || d.Kind == domain.KindEdit {
			continue // an edit changes the thread's parent: it posts nothing
		}
		if d.State != domain.DeliverySent || posted[d.ID] != 1 {
			t.Errorf("Slack %s delivery %s: %s after %d attempts, in the channel %d times (want sent, once)",
				d.Kind, d.ID, d.State, d.Attempts, posted[d.ID])
		}
	}
	if n := posted[parent.ID]; n != 1 {
		t.Errorf("the message queued before the cut is in Slack %d times, want once", n)
	}
	// The outage and the return were each logged once.
	logs := w.log.String()
	if n := strings.Count(logs, "database unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if n := strings.Count(logs, "database reachable again"); n != 1 {
		t.Errorf("the return was logged %d times, want once", n)
	}
}

func newOutageWorld(t *testing.T) *outageWorld {
	t.Helper()
	proxied, direct, proxy := storetest.ProxiedURL(t)
	w := &outageWorld{t: t, proxy: proxy, slack: slacktest.New(t), log: &syncBuffer{}, ic: newClient()}
	w.slackC = w.slack.AddChannel("incident-response")
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(outagePlan), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "HERALD_DATABASE_URL="+proxied, "HERALD_CONFIG="+plan,
		"HERALD_ADMIN_EMAIL="+outageEmail, "HERALD_ADMIN_PASSWORD="+outagePassword, "HERALD_ADMIN_TOKEN="+outageToken,
		"HERALD_SLACK_TOKEN="+slacktest.DefaultToken, "HERALD_SLACK_API_URL="+w.slack.URL(),
		// Only LISTEN/NOTIFY can carry another replica's write in time.
		"HERALD_POLL_INTERVAL=1h", "HERALD_LOG_LEVEL=info")
	u, stop, err := serveHerald(filepath.Join(herald.Dir, "herald"), env, w.log)
	if err != nil {
		t.Fatal(err)
	}
	w.url = u
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("Herald's output:\n%s", w.log.String())
		}
	})
	if w.st, err = store.Open(context.Background(), store.Postgres, direct, store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.st.Close)
	return w
}

type response struct {
	code   int
	header http.Header
	body   string
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (w *outageWorld) do(c *http.Client, req *http.Request) response {
	w.t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func (w *outageWorld) get(c *http.Client, path string, h http.Header) response {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.url+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	return w.do(c, req)
}

func (w *outageWorld) post(c *http.Client, path string, form url.Values, h http.Header) response {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range h {
		req.Header[k] = v
	}
	return w.do(c, req)
}

func (w *outageWorld) adminPost(path, body string) response {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+outageToken)
	req.Header.Set("Content-Type", "application/json")
	return w.do(nil, req)
}

func (w *outageWorld) signIn(c *http.Client) {
	w.t.Helper()
	r := w.post(c, "/console/sign-in", url.Values{"email": {outageEmail}, "password": {outagePassword}}, nil)
	if r.code != http.StatusSeeOther {
		w.t.Fatalf("sign in: %d\n%s", r.code, r.body)
	}
}

func (w *outageWorld) declare() string {
	w.t.Helper()
	r := w.adminPost("/admin/api/incidents", `{"name":"Card payments failing","impact":"major",
		"body":"We are investigating failed card payments.","components":[{"id":"card-payments","status":"partial_outage"}]}`)
	id, ok := strings.CutPrefix(r.header.Get("Location"), "/incidents/")
	if r.code != http.StatusCreated || !ok {
		w.t.Fatalf("declare: %d %s", r.code, r.body)
	}
	return id
}

// waitDelivery waits for the incident's Slack delivery to satisfy cond.
func (w *outageWorld) waitDelivery(inc string, cond func(domain.Delivery) bool, what string) domain.Delivery {
	w.t.Helper()
	var found domain.Delivery
	eventuallyHTTP(w.t, 20*time.Second, what, func() (bool, string) {
		ds, err := w.st.Deliveries(context.Background(), inc, 100)
		if err != nil {
			return false, err.Error()
		}
		for _, d := range ds {
			if d.Channel == domain.ChannelSlack && cond(d) {
				found = d
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d deliveries", len(ds))
	})
	return found
}

// waitAllFinal waits until the incident has at least n deliveries, all
// final.
func (w *outageWorld) waitAllFinal(inc string, n int) []domain.Delivery {
	w.t.Helper()
	var ds []domain.Delivery
	eventuallyHTTP(w.t, 60*time.Second, "every delivery final", func() (bool, string) {
		var err error
		if ds, err = w.st.Deliveries(context.Background(), inc, 100); err != nil {
			return false, err.Error()
		}
		open := 0
		for _, d := range ds {
			if !d.State.Final() {
				open++
			}
		}
		return len(ds) >= n && open == 0, fmt.Sprintf("%d deliveries, %d not final", len(ds), open)
	})
	return ds
}

// eventuallyHTTP polls cond every 20 ms until it holds, or fails the test
// after within with what it last saw.
func eventuallyHTTP(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", within, what, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// excerpt is the part of an HTML page around a data-testid, for messages.
func excerpt(body, testid string) string {
	i := strings.Index(body, testid)
	if i < 0 {
		return fmt.Sprintf("(no %s in %d bytes)", testid, len(body))
	}
	return body[max(0, i-200):min(len(body), i+800)]
}

// browserOnIncident opens the incident's console page in a browser signed
// in as the commander and types an update into the composer, unsent.
func (w *outageWorld) browserOnIncident(inc string) (browser, tab context.Context) {
	t := w.t
	t.Helper()
	browser = newBrowser(t)
	tab = newTab(t, browser, 2*time.Minute)
	if err := chromedp.Do(tab, chromedp.Navigate(w.url+"/console/sign-in"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), outageEmail), chromedp.SetValue(chromedp.CSS("#password"), outagePassword)); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS("main form button[type=submit]")))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("sign in in the browser: %v %v", err, resp)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(w.url+"/console/incidents/"+inc),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="composer"] textarea[name="main"]`)),
		clearField(`[data-testid="composer"] textarea[name="main"]`),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="composer"] textarea[name="main"]`), outageUpdate)); err != nil {
		t.Fatalf("type into the composer: %v", err)
	}
	return browser, tab
}

// browserDuringOutage sends the composer typed before the cut, and looks at
// the pages a person sees during the outage: the update given back, the
// public page on a desktop and a phone, the sign-in page. Each is checked
// with axe-core and saved as a screenshot when HERALD_SCREENSHOT_DIR is set.
func (w *outageWorld) browserDuringOutage(t *testing.T, browser, tab context.Context) {
	// Typing more asks htmx for the composer's preview, which needs the
	// database: the banner is swapped into the page, the text stays.
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS(`[data-testid="composer"] textarea[name="main"]`), outageMore)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "the banner swapped in by the failed preview",
		`(document.querySelector('[data-testid="database-banner"]') || {innerText: ''}).innerText.includes('cannot reach its database')`)
	if v := evalJS[string](t, tab, `document.querySelector('[data-testid="composer"] textarea[name="main"]').value`); v != outageUpdate+outageMore {
		t.Errorf("the composer holds %q after the failed preview", v)
	}
	resp, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`[data-testid="composer-submit"]`)))
	if err != nil {
		t.Fatalf("send the composer: %v", err)
	}
	if resp.Status != http.StatusServiceUnavailable {
		t.Errorf("the composer sent during the outage: HTTP %d, want 503", resp.Status)
	}
	kept := evalJS[string](t, tab, `(() => { const f = [...document.querySelectorAll('[data-testid="not-saved-form"] [name="main"]')];
		return f.length ? f[0].value : ''; })()`)
	if kept != outageUpdate+outageMore {
		t.Errorf("the update typed in the browser came back as %q", kept)
	}
	if banner := evalJS[string](t, tab, `(document.querySelector('[data-testid="database-banner"]') || {innerText: ''}).innerText`); !strings.Contains(banner, "cannot reach its database") {
		t.Errorf("the console banner in the browser: %q", banner)
	}
	checkAxe(t, tab, "the console's not-saved page")
	screenshot(t, tab, "outage-console-not-saved")

	for _, v := range []view{{Name: "desktop-light", Scheme: "light"}, {Name: "phone-dark", Phone: true, Scheme: "dark"}} {
		pub := newTab(t, browser, time.Minute)
		if err := chromedp.Do(pub, emulate(v), chromedp.Navigate(w.url+"/"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="outage-notice"]`))); err != nil {
			t.Fatalf("%s: the public page's notice: %v", v.Name, err)
		}
		if v.Phone {
			// The notice fits the phone's width: nothing scrolls sideways.
			if wide := evalJS[bool](t, pub, `document.documentElement.scrollWidth > window.innerWidth`); wide {
				t.Errorf("%s: the page is wider than the phone's screen", v.Name)
			}
		}
		checkAxe(t, pub, "the public page during the outage ("+v.Name+")")
		screenshot(t, pub, "outage-public-"+v.Name)
	}

	signin := newPerson(t, browser, time.Minute)
	if err := chromedp.Do(signin, emulate(view{Name: "phone-light", Phone: true, Scheme: "light"}),
		chromedp.Navigate(w.url+"/console/sign-in"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="database-banner"]`))); err != nil {
		t.Fatalf("the sign-in page's banner: %v", err)
	}
	checkAxe(t, signin, "the sign-in page during the outage")
	screenshot(t, signin, "outage-sign-in-phone")
}
