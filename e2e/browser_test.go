package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The demo data (cmd/herald/demo.go): five components, three active
// incidents of twenty updates each on the first three, the worst critical.
var (
	demoComponents = []struct{ Name, Status string }{
		{"API Platform", "Degraded performance"},
		{"Credit Origination", "Partial outage"},
		{"Partner Integrations", "Major outage"},
		{"Customer Portal", "Operational"},
		{"Admin Dashboard", "Operational"},
	}
	demoIncidents = []string{"Elevated API error rates", "Delayed loan disbursements", "Partner webhook delivery delays"}
	demoBanner    = "Major System Outage"
	statusLabels  = []string{"Operational", "Degraded performance", "Partial outage", "Major outage", "Under maintenance"}
)

const uptimeDays = 90

// pageState is what a visitor sees on the status page, read from the DOM
// as rendered (innerText, so only what is shown).
type pageState struct {
	Banner        string           `json:"banner"`
	BannerVisible bool             `json:"bannerVisible"`
	Components    []componentState `json:"components"`
	Incidents     []incidentState  `json:"incidents"`
	Updated       string           `json:"updated"`
	UpdatedISO    string           `json:"updatedISO"`
	Mains         int              `json:"mains"`
	Headers       int              `json:"headers"`
	HXGet         string           `json:"hxGet"`
	HXTrigger     string           `json:"hxTrigger"`
	HXSwap        string           `json:"hxSwap"`
	SSEConnect    string           `json:"sseConnect"`
	Legend        []string         `json:"legend"`
	HTMX          bool             `json:"htmx"` // htmx loaded and running
}

type componentState struct {
	Name         string     `json:"name"`
	Status       string     `json:"status"`
	Visible      bool       `json:"visible"`
	BarsLabel    string     `json:"barsLabel"`
	Bars         []barState `json:"bars"`
	Availability string     `json:"availability"`
	Below        bool       `json:"below"`
	BarLegend    string     `json:"barLegend"`
}

type barState struct {
	Class string `json:"class"`
	Title string `json:"title"`
}

type incidentState struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Visible bool     `json:"visible"`
	Updates []string `json:"updates"`
	Shown   int      `json:"shown"` // updates shown, not folded away
}

const readPage = `(() => {
	const all = (sel, root) => Array.from((root || document).querySelectorAll(sel));
	const text = (el) => el ? el.innerText.replace(/\s+/g, ' ').trim() : '';
	const visible = (el) => !!el && el.checkVisibility() && el.getBoundingClientRect().height > 0;
	const banner = document.querySelector('[data-testid=banner]');
	const main = document.getElementById('content');
	const live = document.getElementById('live-status');
	const updated = document.querySelector('[data-testid=updated] time');
	return {
		banner: text(banner),
		bannerVisible: visible(banner),
		components: all('[data-testid=component]').map(c => ({
			name: text(c.querySelector('.component-name')),
			status: text(c.querySelector('[data-testid=component-status]')),
			visible: visible(c),
			barsLabel: (c.querySelector('[data-testid=uptime-bars]') || {getAttribute: () => ''}).getAttribute('aria-label') || '',
			bars: all('[data-testid=uptime-bars] > *', c).map(b => ({class: b.className, title: b.getAttribute('title') || ''})),
			availability: text(c.querySelector('[data-testid=availability]')),
			below: !!c.querySelector('[data-testid=availability].below'),
			barLegend: text(c.querySelector('.bar-legend')),
		})),
		incidents: all('[data-testid=active-incidents] [data-testid=incident]').map(i => ({
			id: i.dataset.incident || '',
			name: text(i.querySelector('h3')),
			visible: visible(i),
			updates: all('[data-testid=update]', i).map(u => u.textContent.replace(/\s+/g, ' ').trim()),
			shown: all('[data-testid=update]', i).filter(visible).length,
		})),
		updated: text(updated),
		updatedISO: updated ? updated.getAttribute('datetime') : '',
		mains: all('main').length,
		headers: all('header.site').length,
		// The refresh is wired on #live-status, which wraps #content and
		// is never swapped, so no announcement is lost mid-refresh.
		hxGet: live ? live.getAttribute('hx-get') || '' : '',
		hxTrigger: live ? live.getAttribute('hx-trigger') || '' : '',
		hxSwap: live ? (live.getAttribute('hx-target') || '') + ' ' + (live.getAttribute('hx-swap') || '') : '',
		sseConnect: live ? live.getAttribute('sse-connect') || '' : '',
		legend: all('.legend li').map(text),
		htmx: typeof window.htmx === 'object',
	};
})()`

func readState(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return s
}

// TestBrowser drives the real Herald with Chromium: one browser, a tab per
// subtest.
func TestBrowser(t *testing.T) {
	browser := newBrowser(t)
	t.Run("StatusPage", func(t *testing.T) { testStatusPage(t, browser) })
	t.Run("WithoutJavaScript", func(t *testing.T) { testWithoutJavaScript(t, browser) })
	t.Run("AccessibilityAndLayout", func(t *testing.T) { testAccessibility(t, browser) })
	// Last: it declares an incident, which changes the page the others see.
	t.Run("LiveRefresh", func(t *testing.T) { testLiveRefresh(t, browser) })
}

// testStatusPage checks what a person sees on /.
func testStatusPage(t *testing.T, browser context.Context) {
	ctx := newTab(t, browser, 20*time.Second)
	if err := chromedp.Do(ctx, emulate(views[0]), chromedp.Navigate(herald.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("[data-testid=banner]"))); err != nil {
		t.Fatal(err)
	}
	// htmx loads deferred; wait until it runs so the page is what a
	// visitor with JavaScript has.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void]("typeof htmx === 'object'",
		chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("htmx did not load: %v", err)
	}
	s := readState(t, ctx)
	checkStatusContent(t, s)

	// Uptime bars: 90 a component, each with its tooltip, grey days never
	// counted as an outage.
	dateTitle := regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2} \d{4}: `)
	grey := 0
	for _, c := range s.Components {
		if len(c.Bars) != uptimeDays {
			t.Errorf("%s: %d uptime bars, want %d", c.Name, len(c.Bars), uptimeDays)
		}
		if !strings.Contains(c.BarsLabel, c.Name) || !strings.Contains(c.BarsLabel, "%") {
			t.Errorf("%s: uptime bars' aria-label %q does not name the component and its uptime", c.Name, c.BarsLabel)
		}
		for i, b := range c.Bars {
			if !dateTitle.MatchString(b.Title) {
				t.Errorf("%s: bar %d has tooltip %q, want it to start with the date", c.Name, i, b.Title)
			}
			nodata := strings.Contains(b.Class, "day-nodata")
			if nodata {
				grey++
				if !strings.HasSuffix(b.Title, ": no data") || strings.Contains(b.Class, "outage") {
					t.Errorf("%s: grey bar %d is %q %q, want a no-data day only", c.Name, i, b.Class, b.Title)
				}
			} else if !strings.Contains(b.Title, "uptime") {
				t.Errorf("%s: bar %d tooltip %q gives no uptime", c.Name, i, b.Title)
			}
		}
	}
	if grey == 0 {
		t.Errorf("no grey (no data) bar anywhere; %s was added without history and should have some", newComponent.Name)
	}
	percent := regexp.MustCompile(`^\d{2,3}(\.\d+)?% uptime$`)
	for _, c := range s.Components {
		if c.Name == newComponent.Name {
			// 89 grey days and today: grey days are missing data, not
			// downtime, so the component meets the target.
			if c.Availability != "" && c.Availability != "100% uptime" || c.Below {
				t.Errorf("%s (no history): availability %q below=%v, want 100%% (grey days are not outages)", c.Name, c.Availability, c.Below)
			}
			if nodata := countClass(c.Bars, "day-nodata"); nodata < uptimeDays-2 {
				t.Errorf("%s: %d grey bars, want at least %d", c.Name, nodata, uptimeDays-2)
			}
			continue
		}
		if !percent.MatchString(c.Availability) {
			t.Errorf("%s: availability text %q, want e.g. 99.93%% uptime", c.Name, c.Availability)
		}
		if !strings.Contains(c.BarLegend, "target") {
			t.Errorf("%s: the legend under the bars %q does not compare with the target", c.Name, c.BarLegend)
		}
	}
	for _, want := range append(slices.Clone(statusLabels), "No data") {
		if !slices.Contains(s.Legend, want) {
			t.Errorf("the colour legend %q lacks %q", s.Legend, want)
		}
	}

	// Last updated, in the page's zone with the zone's name.
	if !regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$`).MatchString(s.Updated) {
		t.Errorf("Last updated shows %q, want e.g. 25 Nov 2026, 14:05 UTC", s.Updated)
	}
	if at, err := time.Parse(time.RFC3339, s.UpdatedISO); err != nil {
		t.Errorf("Last updated datetime %q: %v", s.UpdatedISO, err)
	} else if got := at.UTC().Format("2 Jan 2006, 15:04 MST"); got != s.Updated {
		t.Errorf("Last updated shows %q, its datetime attribute says %q", s.Updated, got)
	}

	// The refresh in place is wired on the content.
	if s.HXGet != "/" || s.HXTrigger != "sse:changed, every 30s" || s.HXSwap != "#content outerHTML" || !strings.HasPrefix(s.SSEConnect, "/events?v=") {
		t.Errorf("#live-status has hx-get=%q hx-trigger=%q target+swap=%q sse-connect=%q, want /, sse:changed, every 30s, #content outerHTML, /events?v=N",
			s.HXGet, s.HXTrigger, s.HXSwap, s.SSEConnect)
	}
}

// checkStatusContent checks the banner, the components and the demo's
// active incidents: what must be there with or without JavaScript.
func checkStatusContent(t *testing.T, s pageState) {
	t.Helper()
	if !strings.Contains(s.Banner, demoBanner) || !s.BannerVisible {
		t.Errorf("banner %q (visible %v), want %q shown", s.Banner, s.BannerVisible, demoBanner)
	}
	byName := map[string]componentState{}
	for _, c := range s.Components {
		byName[c.Name] = c
		if !c.Visible {
			t.Errorf("component %q is not visible", c.Name)
		}
		if !slices.ContainsFunc(statusLabels, func(l string) bool { return strings.HasSuffix(c.Status, l) }) {
			t.Errorf("component %q shows status %q, want one of %q", c.Name, c.Status, statusLabels)
		}
	}
	for _, want := range demoComponents {
		c, ok := byName[want.Name]
		if !ok {
			t.Errorf("component %q is missing; the page shows %d components", want.Name, len(s.Components))
			continue
		}
		if !strings.HasSuffix(c.Status, want.Status) {
			t.Errorf("component %q shows %q, want %q", want.Name, c.Status, want.Status)
		}
		// A status is told in words and a symbol, not by colour alone.
		if label, _ := strings.CutSuffix(c.Status, want.Status); strings.TrimSpace(label) == "" {
			t.Errorf("component %q status %q has no symbol before the words", want.Name, c.Status)
		}
	}
	for _, name := range demoIncidents {
		i := slices.IndexFunc(s.Incidents, func(in incidentState) bool { return in.Name == name })
		if i < 0 {
			t.Errorf("active incident %q is missing", name)
			continue
		}
		in := s.Incidents[i]
		if !in.Visible {
			t.Errorf("incident %q is not visible", name)
		}
		if len(in.Updates) != 20 {
			t.Errorf("incident %q shows %d updates, want 20", name, len(in.Updates))
		}
		if len(in.Updates) > 0 && !strings.Contains(in.Updates[0], "Update 20:") {
			t.Errorf("incident %q: newest update first, got %q", name, in.Updates[0])
		}
		// The latest updates are shown; the older ones are folded away
		// behind "Show 17 earlier updates" (see testWithoutJavaScript).
		if in.Shown != latestUpdates {
			t.Errorf("incident %q shows %d updates unfolded, want the latest %d", name, in.Shown, latestUpdates)
		}
	}
}

// latestUpdates is how many updates of an incident the status page shows
// before "Show N earlier updates" (components.latestUpdates).
const latestUpdates = 3

func countClass(bars []barState, class string) int {
	n := 0
	for _, b := range bars {
		if strings.Contains(b.Class, class) {
			n++
		}
	}
	return n
}

// testWithoutJavaScript loads the pages with JavaScript off: everything is
// rendered on the server.
func testWithoutJavaScript(t *testing.T, browser context.Context) {
	ctx := newTab(t, browser, 20*time.Second)
	if err := chromedp.Do(ctx, noScript(), chromedp.Navigate(herald.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("[data-testid=banner]"))); err != nil {
		t.Fatal(err)
	}
	s := readState(t, ctx)
	if s.HTMX {
		t.Fatal("htmx ran although JavaScript is off; the test does not test what it says")
	}
	checkStatusContent(t, s)
	if len(s.Incidents) == 0 {
		return
	}
	// The folded updates open without JavaScript.
	first := s.Incidents[0]
	summary := fmt.Sprintf("[data-incident=%q] .earlier summary", first.ID)
	label, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(summary)))
	if err != nil {
		t.Fatalf("%s: no control to show the earlier updates: %v", first.Name, err)
	}
	if want := fmt.Sprintf("Show %d earlier updates", len(first.Updates)-latestUpdates); strings.TrimSpace(label) != want {
		t.Errorf("%s: the fold says %q, want %q", first.Name, label, want)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(summary))); err != nil {
		t.Fatal(err)
	}
	if got := readState(t, ctx); got.Incidents[0].Shown != len(first.Updates) {
		t.Errorf("%s: after opening the fold %d of %d updates are shown", first.Name, got.Incidents[0].Shown, len(first.Updates))
	}
	// Follow an incident's link, as a visitor without JavaScript would.
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(
		fmt.Sprintf("[data-incident=%q] h3 a", s.Incidents[0].ID))))
	if err != nil {
		t.Fatalf("follow the link of %q: %v", s.Incidents[0].Name, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("incident page: HTTP %d", resp.Status)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll('[data-testid=update]').length"))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(s.Incidents[0].Updates) {
		t.Errorf("incident page shows %d updates, the status page %d", n, len(s.Incidents[0].Updates))
	}
	screenshot(t, ctx, "incident-nojs")
}

// testAccessibility runs axe-core on every kind of public page, in light
// and dark, on a desktop and a phone, and checks the phone layout never
// scrolls sideways.
func testAccessibility(t *testing.T, browser context.Context) {
	id := firstIncidentID(t, browser)
	pages := []struct {
		Name, Path string
		Status     int64
	}{
		{"status", "/", http.StatusOK},
		{"incident", "/incidents/" + id, http.StatusOK},
		{"history", "/history", http.StatusOK},
		{"notfound", "/no-such-page", http.StatusNotFound},
	}
	for _, v := range views {
		t.Run(v.Name, func(t *testing.T) {
			ctx := newTab(t, browser, 30*time.Second)
			if err := chromedp.Do(ctx, emulate(v)); err != nil {
				t.Fatal(err)
			}
			for _, p := range pages {
				what := p.Path + " (" + v.Name + ")"
				resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(herald.URL+p.Path))
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if resp.Status != p.Status {
					t.Errorf("%s: HTTP %d, want %d", what, resp.Status, p.Status)
				}
				scheme, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
					"matchMedia('(prefers-color-scheme: "+v.Scheme+")').matches"))
				if err != nil || !scheme {
					t.Fatalf("%s: the %s colour scheme is not in effect (err %v)", what, v.Scheme, err)
				}
				checkAxe(t, ctx, what)
				if v.Phone {
					w, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](
						"[document.documentElement.scrollWidth, window.innerWidth]"))
					if err != nil {
						t.Fatal(err)
					}
					if w[0] > w[1] {
						t.Errorf("%s: the page scrolls sideways: %dpx wide in a %dpx viewport", what, w[0], w[1])
					}
				}
				screenshot(t, ctx, p.Name+"-"+v.Name)
			}
		})
	}
}

// firstIncidentID reads the id of an active incident from the status page.
func firstIncidentID(t *testing.T, browser context.Context) string {
	t.Helper()
	ctx := newTab(t, browser, 10*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(herald.URL+"/")); err != nil {
		t.Fatal(err)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		"document.querySelector('[data-testid=active-incidents] [data-incident]').dataset.incident"))
	if err != nil || id == "" {
		t.Fatalf("no active incident on the status page: %v", err)
	}
	return id
}

// testLiveRefresh declares an incident and posts an update through the
// admin API while the page is open, and waits until they appear without a
// reload: the server announces the change over server-sent events and htmx
// fetches the fragment. Nothing in the test triggers the refresh.
func testLiveRefresh(t *testing.T, browser context.Context) {
	ctx := newTab(t, browser, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(herald.URL+"/"),
		chromedp.Poll[chromedp.Void]("typeof htmx === 'object'", chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	before := readState(t, ctx)
	if before.HXTrigger != "sse:changed, every 30s" {
		t.Fatalf("#live-status has hx-trigger=%q, want sse:changed, every 30s: the page would not refresh itself", before.HXTrigger)
	}
	origin, err := chromedp.Run(ctx, chromedp.Evaluate[float64]("window.__marker = 1; performance.timeOrigin"))
	if err != nil {
		t.Fatal(err)
	}
	history, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	sameDocument := func(step string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64]("[window.__marker || 0, performance.timeOrigin]"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := chromedp.Run(ctx, chromedp.NavigationEntries())
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != 1 || got[1] != origin || len(h.Entries) != len(history.Entries) || h.CurrentIndex != history.CurrentIndex {
			t.Fatalf("%s: the page was reloaded or navigated (marker %v, time origin %v→%v, history %d→%d entries)",
				step, got[0], origin, got[1], len(history.Entries), len(h.Entries))
		}
	}

	name := fmt.Sprintf("Card payments declined at checkout %d", time.Now().UnixNano()%100000)
	if slices.ContainsFunc(before.Incidents, func(in incidentState) bool { return in.Name == name }) {
		t.Fatalf("incident %q is on the page before it was declared", name)
	}
	var declared struct {
		Incident struct {
			ID string `json:"id"`
		} `json:"incident"`
	}
	adminPost(t, "/admin/api/incidents", map[string]any{
		"name": name, "status": "investigating", "impact": "minor",
		"body":       "We are investigating card payments declined at checkout.",
		"components": []map[string]string{{"id": "customer-portal", "status": "degraded_performance"}},
	}, &declared)
	if declared.Incident.ID == "" {
		t.Fatal("the admin API returned no incident id")
	}
	start := time.Now()
	waitFor(t, ctx, "the new incident's name on the page",
		fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid=active-incidents] [data-testid=incident] h3'))
			.some(h => h.innerText.trim() === %q && h.checkVisibility())`, name))
	t.Logf("the declared incident appeared %v after the admin API answered", time.Since(start).Round(time.Millisecond))
	sameDocument("after the incident was declared")
	after := readState(t, ctx)
	if after.Mains != 1 || after.Headers != 1 {
		t.Errorf("after the refresh the page has %d <main> and %d site headers, want 1 each (a fragment swapped in place)", after.Mains, after.Headers)
	}
	if after.HXTrigger != "sse:changed, every 30s" {
		t.Errorf("after the refresh #live-status has hx-trigger=%q; it would stop refreshing", after.HXTrigger)
	}
	for _, c := range after.Components {
		if c.Name == "Customer Portal" && !strings.HasSuffix(c.Status, "Degraded performance") {
			t.Errorf("Customer Portal shows %q after the incident, want Degraded performance", c.Status)
		}
	}

	body := "Browser test: the cause is a certificate rotation at the card processor."
	var updated struct {
		Incident struct {
			ID string `json:"id"`
		} `json:"incident"`
	}
	adminPost(t, "/admin/api/incidents/"+declared.Incident.ID+"/updates",
		map[string]any{"status": "identified", "body": body}, &updated)
	start = time.Now()
	waitFor(t, ctx, "the update on the page", fmt.Sprintf(
		`(() => { const i = document.querySelector('[data-incident=%q]');
			if (!i) return false;
			const u = Array.from(i.querySelectorAll('[data-testid=update]'));
			return u.length === 2 && u[0].innerText.includes(%q) && u[0].innerText.includes('Identified'); })()`,
		declared.Incident.ID, body))
	t.Logf("the update appeared %v after the admin API answered", time.Since(start).Round(time.Millisecond))
	sameDocument("after the update was posted")
	screenshot(t, ctx, "status-after-live-refresh")
}

// waitFor polls a JavaScript condition in the page until it holds.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(time.Until(deadline)),
			chromedp.WithPollingInterval(50*time.Millisecond)))
		// A navigation that lands while the poll runs (the page the last
		// action led to replacing the one before) destroys the script's
		// context: poll again in the new document until the deadline.
		if err != nil && contextLost(err) && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		return
	}
}

func contextLost(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") || strings.Contains(msg, "Execution context was destroyed")
}
