package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// incidentIDFromPath returns the id in /console/incidents/{id}.
func incidentIDFromPath(t *testing.T, ctx context.Context) string {
	t.Helper()
	p := evalJS[string](t, ctx, "location.pathname")
	id, ok := strings.CutPrefix(p, "/console/incidents/")
	if !ok || id == "" || strings.Contains(id, "/") {
		t.Fatalf("expected an incident's page, the browser is at %s", p)
	}
	return id
}

// consoleComponentStatus reads a component's status on the console's
// incident page, by the component's name.
func consoleComponentStatus(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	return evalJS[string](t, ctx, fmt.Sprintf(`(() => {
		const li = Array.from(document.querySelectorAll('[data-testid=incident-components] li'))
			.find(li => li.querySelector('.component-name').innerText.trim() === %q);
		return li ? li.querySelector('[data-testid^=cstatus-]').innerText.trim() : 'missing';
	})()`, name))
}

// publicComponentIs is a condition on the public page: the component's
// status reads status.
func publicComponentIs(name, status string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid=component]')).some(c =>
		c.querySelector('.component-name').innerText.trim() === %q &&
		c.querySelector('[data-testid=component-status]').innerText.trim().endsWith(%q))`, name, status)
}

// pollIn polls a condition in a tab from a goroutine, so the test can act
// in another tab meanwhile; the channel gets when it held, or the error.
func pollIn(ctx context.Context, cond string, timeout time.Duration) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(timeout),
			chromedp.WithPollingInterval(25*time.Millisecond)))
		ch <- pollResult{At: time.Now(), Err: err}
	}()
	return ch
}

type pollResult struct {
	At  time.Time
	Err error
}

// testCommanderFlow: a commander declares an incident on two components,
// posts an update to the public page and engineering, and resolves it,
// while a visitor watches the public page in another browser context.
func testCommanderFlow(t *testing.T, browser context.Context, u consoleUser) {
	ctx := newPerson(t, browser, 50*time.Second)
	signIn(t, ctx, u)

	// Declare, from the list's button.
	click(t, ctx, "main a.button.primary[href='/console/incidents/new']", http.StatusOK)
	name := "Loan repayments not posting " + suffix()
	first := "We are investigating repayments that are not posting to loan accounts."
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SetValue(chromedp.CSS("#impact"), "major"),
		chromedp.SetValue(chromedp.CSS("#body"), first)); err != nil {
		t.Fatal(err)
	}
	selectByLabel(t, ctx, "[data-testid=declare-form] .comp-grid", "Admin Dashboard", "major_outage")
	selectByLabel(t, ctx, "[data-testid=declare-form] .comp-grid", newComponent.Name, "partial_outage")
	if cmdr := evalJS[string](t, ctx, "document.querySelector('#commander').selectedOptions[0].innerText"); !strings.Contains(cmdr, u.Name) {
		t.Errorf("the declare form proposes %q as commander, want the signed-in %s", cmdr, u.Name)
	}
	click(t, ctx, "[data-testid=declare-submit]", http.StatusOK)
	id := incidentIDFromPath(t, ctx)
	if flash := evalJS[string](t, ctx, "(document.querySelector('[data-testid=flash]') || {innerText: ''}).innerText"); !strings.Contains(flash, "declared") {
		t.Errorf("after declaring, the flash says %q", flash)
	}
	if title := evalJS[string](t, ctx, "document.querySelector('[data-testid=incident-title]').innerText"); title != name {
		t.Errorf("incident page title %q, want %q", title, name)
	}
	if st := evalJS[string](t, ctx, "document.querySelector('[data-testid=incident-state]').innerText"); !strings.Contains(st, "Investigating") || !strings.Contains(st, "Major impact") {
		t.Errorf("incident state reads %q, want Investigating and Major impact", st)
	}
	for comp, want := range map[string]string{"Admin Dashboard": "Major outage", newComponent.Name: "Partial outage"} {
		if got := consoleComponentStatus(t, ctx, comp); !strings.HasSuffix(got, want) {
			t.Errorf("%s shows %q on the incident page, want %q", comp, got, want)
		}
	}
	if seat := evalJS[string](t, ctx, "document.querySelector('[data-testid=seat-commander]').innerText"); seat != u.Name {
		t.Errorf("the commander's seat shows %q, want %s", seat, u.Name)
	}

	// A visitor opens the public page in a fresh context and keeps it open.
	pub := newPerson(t, browser, 50*time.Second)
	if err := chromedp.Do(pub, chromedp.Navigate(herald.URL+"/")); err != nil {
		t.Fatal(err)
	}
	// Wait out the refresh every page makes as its event stream connects:
	// a change announced during it would be dropped by the public page
	// (its refreshing element replaces itself; see the report), which is
	// not what this test is about.
	waitLiveRefresh(t, pub, "/")
	waitFor(t, pub, "the declared incident and its components on the public page", fmt.Sprintf(
		`!!document.querySelector('[data-incident=%q]') && %s && %s`, id,
		publicComponentIs("Admin Dashboard", "Major outage"), publicComponentIs(newComponent.Name, "Partial outage")))
	stillThere := sameDocument(t, pub)

	// The composer, below the timeline: the button by the title leads to it.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-testid=jump-composer]"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the composer in view after Post an update", `(() => { const r = document.querySelector('#composer').getBoundingClientRect();
		return location.hash === '#composer' && r.top >= -1 && r.top < innerHeight; })()`)
	// Status, audiences, text; the previews follow the text.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#status"), "identified")); err != nil {
		t.Fatal(err)
	}
	ticked := evalJS[map[string]bool](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll('#previews input[name=audience]')).map(i => [i.value, i.checked]))`)
	if !ticked["public"] || !ticked["engineering"] || ticked["executives"] || ticked["regulators"] {
		t.Errorf("the composer ticks %v by default, want public and engineering only", ticked)
	}
	if evalJS[bool](t, ctx, "!document.querySelector('#aud-regulators').disabled") {
		t.Error("regulators can be ticked although this incident does not notify them")
	}
	smsBefore := evalJS[string](t, ctx, "document.querySelector('[data-audience=executives] [data-testid=sms-count]').innerText")
	text := "We have identified a stalled queue between the payments processor and the loan ledger. " +
		"Repayments made since 09:40 are safe and will post once it drains. Next update within 30 minutes."
	if err := chromedp.Do(ctx, clearField("#main"),
		chromedp.SendKeys(chromedp.CSS("#main"), text)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, ctx, "the previews and the executives' SMS count to follow the text", fmt.Sprintf(`(() => {
		const p = k => document.querySelector('#previews [data-audience=' + k + ']');
		return p('public').querySelector('[data-testid=preview-text]').innerText.trim() === %[1]q &&
			p('engineering').querySelector('[data-testid=preview-text]').innerText.trim() === %[1]q &&
			p('executives').querySelector('[data-testid=sms-count]').innerText.trim() === %[2]q;
	})()`, text, smsCount(len(text))))
	t.Logf("composer previews followed the typing %v after the last key (SMS for executives: %q, was %q)",
		time.Since(start).Round(time.Millisecond), smsCount(len(text)), smsBefore)

	// Post; the public page shows it without a reload. The page notes (in
	// the browser's clock) when the event arrives and when the update is
	// on screen, to compare with when the server answered the post.
	shown := fmt.Sprintf(`(() => { const i = document.querySelector('[data-incident=%q]');
		const u = i ? i.querySelector('[data-testid=update]') : null;
		return !!u && u.innerText.includes(%q) && u.innerText.includes('Identified'); })()`, id, text)
	if err := chromedp.Do(pub, chromedp.Evaluate[chromedp.Void](`(() => {
		const now = () => performance.timeOrigin + performance.now();
		window.__eventAt = 0; window.__shownAt = 0;
		document.body.addEventListener('htmx:sseMessage', () => { window.__eventAt = window.__eventAt || now(); });
		new MutationObserver(() => { if (!window.__shownAt && `+shown+`) window.__shownAt = now(); })
			.observe(document.body, {childList: true, subtree: true, characterData: true});
	})()`)); err != nil {
		t.Fatal(err)
	}
	appeared := pollIn(pub, shown, 15*time.Second)
	clicked := time.Now()
	click(t, ctx, "[data-testid=composer-submit]", http.StatusOK)
	res := <-appeared
	if res.Err != nil {
		t.Fatalf("the update did not reach the open public page: %v", res.Err)
	}
	// The post's 303 ends the redirect part of the console's navigation.
	answeredAt := evalJS[float64](t, ctx, `(() => { const n = performance.getEntriesByType('navigation')[0];
		return performance.timeOrigin + (n.redirectEnd || n.fetchStart); })()`)
	at := evalJS[[]float64](t, pub, "[window.__eventAt, window.__shownAt]")
	if at[1] == 0 {
		t.Fatal("the public page did not note when the update was shown")
	}
	ms := func(f float64) time.Duration {
		return time.Duration(f * float64(time.Millisecond)).Round(time.Millisecond)
	}
	t.Logf("SSE delay: the update was on the open public page %v after the server answered the post (event after %v, then fetch and swap); %v after Post was clicked",
		ms(at[1]-answeredAt), ms(at[0]-answeredAt), res.At.Sub(clicked).Round(time.Millisecond))
	stillThere("after the update was posted")
	if res.At.Sub(clicked) > 5*time.Second {
		t.Errorf("the update took %v to reach the public page, want a few seconds at most", res.At.Sub(clicked))
	}
	if flash := evalJS[string](t, ctx, "(document.querySelector('[data-testid=flash]') || {innerText: ''}).innerText"); flash != "Update posted." {
		t.Errorf("after posting, the flash says %q, want Update posted.", flash)
	}
	if tl := evalJS[string](t, ctx, "document.querySelector('[data-testid=timeline]').innerText"); !strings.Contains(tl, "Public update (Identified): "+text) || !strings.Contains(tl, "Told engineering, public") && !strings.Contains(tl, "Told public, engineering") {
		t.Errorf("the timeline does not show the update and who was told:\n%s", tl)
	}
	lastTold := evalJS[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll('[data-testid=cadence-board] [data-testid=clock]')).map(r => [r.dataset.audience, r.children[2].innerText.trim()]))`)
	if lastTold["executives"] != "not yet" || lastTold["public"] == "not yet" || lastTold["engineering"] == "not yet" {
		t.Errorf("cadence board's last told: %v; want executives not yet, public and engineering told", lastTold)
	}

	// Resolve through the composer: the template for resolved, then post.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#status"), "resolved")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, "#composer button[value=template]", http.StatusOK)
	if main := evalJS[string](t, ctx, "document.querySelector('#main').value"); !strings.Contains(main, "resolved") || !strings.Contains(main, "Admin Dashboard") {
		t.Errorf("the resolved template filled %q", main)
	}
	if st := evalJS[string](t, ctx, "document.querySelector('#status').value"); st != "resolved" {
		t.Fatalf("after filling the template the status is %q, want resolved still chosen", st)
	}
	operational := pollIn(pub, publicComponentIs("Admin Dashboard", "Operational")+" && "+publicComponentIs(newComponent.Name, "Operational")+
		fmt.Sprintf(` && !document.querySelector('[data-testid=active-incidents] [data-incident=%q]')`, id), 15*time.Second)
	clicked = time.Now()
	click(t, ctx, "[data-testid=composer-submit]", http.StatusOK)
	if res := <-operational; res.Err != nil {
		t.Fatalf("after resolving, the public page did not show both components operational and the incident gone: %v", res.Err)
	} else {
		t.Logf("resolution reached the public page %v after the click", res.At.Sub(clicked).Round(time.Millisecond))
	}
	stillThere("after the incident was resolved")
	for _, comp := range []string{"Admin Dashboard", newComponent.Name} {
		if got := consoleComponentStatus(t, ctx, comp); !strings.HasSuffix(got, "Operational") {
			t.Errorf("%s shows %q on the resolved incident's page", comp, got)
		}
	}
	if st := evalJS[string](t, ctx, "document.querySelector('[data-testid=incident-state]').innerText"); !strings.Contains(st, "Resolved") {
		t.Errorf("incident state after resolving reads %q", st)
	}
	if evalJS[bool](t, ctx, "!!document.querySelector('[data-testid=composer]')") || !evalJS[bool](t, ctx, "!!document.querySelector('[data-testid=reopen-submit]')") {
		t.Error("a resolved incident's page should offer Reopen instead of the composer")
	}
	if in, ok := findPublic(publicIncidents(t), name); !ok || in.Status != "resolved" || len(in.Updates) != 3 {
		t.Errorf("the API shows %+v, want the incident resolved with 3 updates", in)
	}
}

// testViewer: a viewer reads everything and can change nothing, and the
// server refuses what the page does not offer.
func testViewer(t *testing.T, browser context.Context, v consoleUser, open apiRef) {
	ctx := newPerson(t, browser, 30*time.Second)
	signIn(t, ctx, v)
	// The list refreshes itself once its event stream connects; let that
	// happen before reading and clicking in it.
	waitLiveRefresh(t, ctx, "/console")
	list := evalJS[map[string]int](t, ctx, `({
		declare: document.querySelectorAll('[data-testid=nav-declare], a[href="/console/incidents/new"]').length,
		writes: document.querySelectorAll('form[method=post]:not([action="/console/sign-out"])').length,
		rows: document.querySelectorAll('[data-testid=incident-row]').length,
	})`)
	if list["declare"] != 0 || list["writes"] != 0 {
		t.Errorf("the viewer's incident list offers %d declare links and %d forms that write", list["declare"], list["writes"])
	}
	if list["rows"] == 0 {
		t.Error("the viewer sees no active incidents")
	}
	before, ok := findPublic(publicIncidents(t), open.Name)
	if !ok {
		t.Fatalf("incident %q is not in the public API", open.Name)
	}

	click(t, ctx, fmt.Sprintf("[data-testid=incident-row] a[href='/console/incidents/%s']", open.ID), http.StatusOK)
	page := evalJS[map[string]int](t, ctx, `({
		composer: document.querySelectorAll('[data-testid=composer], #composer, [data-testid=jump-composer]').length,
		declare: document.querySelectorAll('[data-testid=nav-declare], a[href="/console/incidents/new"]').length,
		forms: document.querySelectorAll('form:not([action="/console/sign-out"])').length,
		controls: document.querySelectorAll('input, select, textarea').length,
		timeline: document.querySelectorAll('[data-testid=timeline] li').length,
		board: document.querySelectorAll('[data-testid=cadence-board] [data-testid=clock]').length,
	})`)
	if page["composer"] != 0 || page["declare"] != 0 || page["forms"] != 0 || page["controls"] != 0 {
		t.Errorf("the viewer's incident page offers a composer (%d), declare links (%d), forms (%d), form controls (%d); want none",
			page["composer"], page["declare"], page["forms"], page["controls"])
	}
	if page["timeline"] == 0 || page["board"] == 0 {
		t.Errorf("the viewer should still read the timeline (%d entries) and the cadence board (%d rows)", page["timeline"], page["board"])
	}

	// The server refuses what the page does not offer: a POST with the
	// viewer's own cookie, from the console's own origin.
	version := evalJS[string](t, ctx, "document.querySelector('#live').dataset.version")
	posts := map[string]string{
		"/console/incidents/" + open.ID + "/updates": "version=" + version + "&status=identified&impact=major&main=Forged+by+a+viewer&audience=public&action=post",
		"/console/incidents":                         "name=Declared+by+a+viewer&impact=critical&body=x",
		"/console/incidents/" + open.ID + "/notes":   "note=A+viewer+writing",
	}
	for path, body := range posts {
		status := evalAwait[int](t, ctx, fmt.Sprintf(`fetch(%q, {method: 'POST', credentials: 'same-origin',
			headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: %q}).then(r => r.status)`, path, body))
		if status != http.StatusForbidden {
			t.Errorf("a viewer's POST %s answered %d, want 403", path, status)
		}
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(herald.URL+"/console/incidents/new"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusForbidden {
		t.Errorf("a viewer opening the declare form got HTTP %d, want 403", resp.Status)
	}
	after, _ := findPublic(publicIncidents(t), open.Name)
	if len(after.Updates) != len(before.Updates) {
		t.Errorf("the incident had %d updates before the viewer's POST and %d after", len(before.Updates), len(after.Updates))
	}
	if _, ok := findPublic(publicIncidents(t), "Declared by a viewer"); ok {
		t.Error("the viewer declared an incident")
	}
}

// testCrossSite: a page on another origin makes the signed-in commander's
// browser post to the console. The browser sends the session cookie (the
// other origin is the same site: same host, another port), so only the
// cross-origin check stands in the way.
func testCrossSite(t *testing.T, browser context.Context, u consoleUser) {
	ctx := newPerson(t, browser, 30*time.Second)
	signIn(t, ctx, u)
	// What an attacker needs for a valid declaration: the commander's id
	// and a component's field name, as the declare form shows them.
	click(t, ctx, "[data-testid=nav-declare]", http.StatusOK)
	commander := evalJS[string](t, ctx, "document.querySelector('#commander').value")
	component := evalJS[string](t, ctx, "document.querySelector('[data-testid=component-select]').name")
	formName, fetchName := "Forged by a cross-site form "+suffix(), "Forged by a cross-site fetch "+suffix()
	fields := func(name string) map[string]string {
		return map[string]string{"name": name, "impact": "critical", "body": "All services are down.",
			"commander": commander, component: "major_outage"}
	}

	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var b strings.Builder
		b.WriteString("<!doctype html><html lang=en><title>You won a prize</title><body>")
		switch r.URL.Path {
		case "/form":
			fmt.Fprintf(&b, `<form id=f method=post action="%s/console/incidents">`, herald.URL)
			for k, v := range fields(formName) {
				fmt.Fprintf(&b, `<input type=hidden name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
			}
			b.WriteString(`</form><script>document.getElementById('f').submit()</script>`)
		case "/fetch":
			var q []string
			for k, v := range fields(fetchName) {
				q = append(q, k+"="+strings.ReplaceAll(v, " ", "+"))
			}
			fmt.Fprintf(&b, `<script>fetch(%q, {method: 'POST', mode: 'no-cors', credentials: 'include',
				headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: %q})
				.then(() => document.title = 'sent', () => document.title = 'failed')</script>`,
				herald.URL+"/console/incidents", strings.Join(q, "&"))
		}
		w.Write([]byte(b.String())) //nolint:errcheck
	}))
	defer attacker.Close()
	if !strings.HasPrefix(attacker.URL, "http://127.0.0.1:") || attacker.URL == herald.URL {
		t.Fatalf("attacker at %s: want another port on 127.0.0.1", attacker.URL)
	}

	// The auto-submitting form: the browser lands on Herald's answer.
	logStart := len(herald.Log.String())
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/form")); err != nil {
		t.Fatal(err)
	}
	got := pollAcrossNavigation(t, ctx, "the forged form to reach Herald", `[location.origin, document.readyState,
		(performance.getEntriesByType('navigation')[0] || {}).responseStatus || 0, document.body ? document.body.innerText : '']`,
		func(v []any) bool { return len(v) == 4 && v[0] == herald.URL && v[1] == "complete" })
	status, body := int(got[2].(float64)), got[3].(string)
	if status != http.StatusForbidden {
		t.Errorf("the cross-site form post answered %d, want 403:\n%s", status, body)
	}
	t.Logf("cross-site form post: HTTP %d %q", status, strings.TrimSpace(body))

	// A no-cors fetch from the other origin: the answer is opaque to the
	// attacker, so only the server's refusal counts.
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/fetch")); err != nil {
		t.Fatal(err)
	}
	pollAcrossNavigation(t, ctx, "the cross-site fetch to finish", "[location.origin, document.title]",
		func(v []any) bool { return len(v) == 2 && v[0] == attacker.URL && (v[1] == "sent" || v[1] == "failed") })

	incidents := publicIncidents(t)
	for _, name := range []string{formName, fetchName} {
		if _, ok := findPublic(incidents, name); ok {
			t.Errorf("a cross-site POST declared %q", name)
		}
	}
	// The session was live all along: the console still knows the commander.
	if err := chromedp.Do(ctx, chromedp.Navigate(herald.URL+"/console")); err != nil {
		t.Fatal(err)
	}
	if who := evalJS[string](t, ctx, "(document.querySelector('[data-testid=whoami]') || {innerText: ''}).innerText"); !strings.Contains(who, u.Name) {
		t.Errorf("after the attempts the commander is no longer signed in (header %q); the test proves less than it says", who)
	}
	if n := strings.Count(herald.Log.String()[logStart:], "method=POST path=/console/incidents status=403"); n != 2 {
		t.Errorf("Herald logged %d refused POST /console/incidents, want 2 (the form and the fetch): the requests did not arrive as the test thinks", n)
	}
}

// pollAcrossNavigation evaluates expr until done accepts the value, while
// the page may be navigating under the test's feet: chromedp.Poll runs in
// one document and fails when that document goes away.
func pollAcrossNavigation(t *testing.T, ctx context.Context, what, expr string, done func([]any) bool) []any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](expr))
		if err == nil && done(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within 10s (last: %v, %v)", what, got, err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// testLiveConsole: commander A has the incident open and is half-way
// through an update when commander B posts one. A's page shows B's update
// without a reload and keeps what A typed.
func testLiveConsole(t *testing.T, browser context.Context, a, b consoleUser, open apiRef) {
	url := herald.URL + "/console/incidents/" + open.ID
	actx := newPerson(t, browser, 40*time.Second)
	signIn(t, actx, a)
	if err := chromedp.Do(actx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitLiveRefresh(t, actx, "/console/incidents/"+open.ID)
	unchanged := sameDocument(t, actx)
	versionBefore := evalJS[string](t, actx, "document.querySelector('#live').dataset.version")
	halfTyped := "Half-typed by Ada: the failover to eu-west-1 is"
	note := "Ada's note, not added yet: replica lag 40 ms"
	if err := chromedp.Do(actx, clearField("#main"),
		chromedp.SendKeys(chromedp.CSS("#main"), halfTyped),
		chromedp.SendKeys(chromedp.CSS("#note"), note)); err != nil {
		t.Fatal(err)
	}

	bctx := newPerson(t, browser, 40*time.Second)
	signIn(t, bctx, b)
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	bText := "Bongani: exports resume for most customers; we are still checking the largest accounts. " + suffix()
	if err := chromedp.Do(bctx, chromedp.SetValue(chromedp.CSS("#main"), bText)); err != nil {
		t.Fatal(err)
	}
	seen := pollIn(actx, fmt.Sprintf(`document.querySelector('#live').dataset.version !== %q &&
		document.querySelector('[data-testid=timeline]').innerText.includes(%q)`, versionBefore, bText), 15*time.Second)
	clicked := time.Now()
	click(t, bctx, "[data-testid=composer-submit]", http.StatusOK)
	if flash := evalJS[string](t, bctx, "(document.querySelector('[data-testid=flash]') || {innerText: ''}).innerText"); flash != "Update posted." {
		t.Errorf("B's flash after posting says %q, want Update posted.", flash)
	}
	res := <-seen
	if res.Err != nil {
		t.Fatalf("A's page did not show B's update: %v", res.Err)
	}
	t.Logf("B's update appeared on A's open incident page %v after B clicked Post", res.At.Sub(clicked).Round(time.Millisecond))
	unchanged("after B posted")
	kept := evalJS[map[string]string](t, actx, `({main: document.querySelector('#main').value,
		note: document.querySelector('#note').value, focus: document.activeElement ? document.activeElement.id : ''})`)
	if kept["main"] != halfTyped {
		t.Errorf("A's half-typed composer text became %q, want %q kept", kept["main"], halfTyped)
	}
	if kept["note"] != note {
		t.Errorf("A's half-typed note became %q, want %q kept", kept["note"], note)
	}
	if kept["focus"] != "note" {
		t.Errorf("A was typing in the note; focus is now on %q", kept["focus"])
	}
	// A is told before posting that the incident moved on.
	if !evalJS[bool](t, actx, "(() => { const n = document.querySelector('[data-testid=composer-outdated]'); return !!n && n.checkVisibility(); })()") {
		t.Error("A's composer does not say that the incident changed since A started writing")
	}

	// A posts anyway: the server shows the latest state and keeps A's text.
	if err := chromedp.Do(actx, chromedp.SendKeys(chromedp.CSS("#main"), " complete.")); err != nil {
		t.Fatal(err)
	}
	// The previews catch up before the click: their new height moves the
	// button, and a click aimed at where it was lands elsewhere.
	waitFor(t, actx, "the previews to follow the text", `document.querySelector('#previews [data-audience=public] [data-testid=preview-text]').innerText.trim() ===
		document.querySelector('#main').value.trim() && !document.querySelector('.htmx-request')`)
	click(t, actx, "[data-testid=composer-submit]", http.StatusConflict)
	if got := evalJS[string](t, actx, "document.querySelector('#main').value"); got != halfTyped+" complete." {
		t.Errorf("after the conflict A's text is %q", got)
	}
	waitLiveRefresh(t, actx, "/console/incidents/"+open.ID) // the notice must survive the refresh that follows every page load
	if !evalJS[bool](t, actx, "(() => { const n = document.querySelector('[data-testid=stale]'); return !!n && n.checkVisibility(); })()") {
		t.Error("after the conflict the page does not say someone else changed the incident")
	}
	click(t, actx, "[data-testid=composer-submit]", http.StatusOK)
	if tl := evalJS[string](t, actx, "document.querySelector('[data-testid=timeline]').innerText"); !strings.Contains(tl, halfTyped+" complete.") || !strings.Contains(tl, bText) {
		t.Errorf("the timeline lacks A's or B's update:\n%s", tl)
	}

	t.Run("ChangeDuringRefresh", func(t *testing.T) {
		testChangeDuringRefresh(t, actx, open, "/console/incidents/"+open.ID, func(body string) string {
			return fmt.Sprintf("document.querySelector('[data-testid=timeline]').innerText.includes(%q)", body)
		})
	})
}

// xhrHold pauses a tab's background requests (htmx's XHRs) after the
// server answered and before the page gets the answer, until released: a
// slow network under the test's control (Chromium's Fetch domain).
type xhrHold struct {
	t       *testing.T
	ctx     context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	holding bool
	paused  []fetch.RequestID
	seen    chan struct{}
}

func holdXHR(t *testing.T, ctx context.Context) *xhrHold {
	t.Helper()
	lctx, stop := context.WithCancel(ctx)
	h := &xhrHold{t: t, ctx: ctx, stop: stop, holding: true, seen: make(chan struct{}, 16)}
	events := chromedp.Events(lctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{
		URLPattern: "*", ResourceType: network.ResourceTypeXHR, RequestStage: fetch.RequestStageResponse}}}); err != nil {
		stop()
		t.Fatalf("intercept the page's requests: %v", err)
	}
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			h.mu.Lock()
			hold := h.holding
			if hold {
				h.paused = append(h.paused, ev.RequestID)
			}
			h.mu.Unlock()
			if !hold {
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}) //nolint:errcheck // the page may have aborted it
			}
			select {
			case h.seen <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(h.release)
	return h
}

// waitPaused waits until a request is held.
func (h *xhrHold) waitPaused(what string) {
	h.t.Helper()
	select {
	case <-h.seen:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("waiting for %s: no request was made", what)
	case <-h.ctx.Done():
		h.t.Fatal(h.ctx.Err())
	}
}

// release lets every held answer through and stops holding.
func (h *xhrHold) release() {
	h.mu.Lock()
	h.holding = false
	paused := h.paused
	h.paused = nil
	h.mu.Unlock()
	for _, id := range paused {
		// A request the page aborted meanwhile cannot continue.
		chromedp.Call(h.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id}) //nolint:errcheck
	}
}

// testChangeDuringRefresh: a second change announced while the page is
// still fetching the first must reach the page too. (htmx queues the
// second refresh on the element that asked; if that element is the one
// the first refresh replaces, the queued refresh is dropped and the page
// stays behind until the next change.)
func testChangeDuringRefresh(t *testing.T, ctx context.Context, open apiRef, path string, shown func(body string) string) {
	waitLiveRefresh(t, ctx, path)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](
		"window.__sse = 0; document.body.addEventListener('htmx:sseMessage', () => window.__sse++)")); err != nil {
		t.Fatal(err)
	}
	hold := holdXHR(t, ctx)
	var out struct{}
	first, second := "First of two quick updates "+suffix(), "Second of two quick updates "+suffix()
	adminPost(t, "/admin/api/incidents/"+open.ID+"/updates", map[string]any{"status": "investigating", "body": first}, &out)
	hold.waitPaused("the refresh for the first update")
	sse := evalJS[int](t, ctx, "window.__sse")
	adminPost(t, "/admin/api/incidents/"+open.ID+"/updates", map[string]any{"status": "investigating", "body": second}, &out)
	waitFor(t, ctx, "the second update's announcement", fmt.Sprintf("window.__sse > %d", sse))
	hold.release()
	waitFor(t, ctx, "the second update on the page (announced while the first was being fetched)", shown(second))
}
