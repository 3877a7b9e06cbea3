package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kredete/herald"
)

// stripItem is one line of the obligations strip as a reader and
// console.js see it.
type stripItem struct {
	Text   string // "Card payments failing: Partners and clients update overdue"
	Href   string
	State  string // "overdue", "due soon"
	Hidden bool
	Late   bool // styled overdue
}

// strip reads the obligations strip of a page or of the strip's fragment.
func strip(t testing.TB, doc *html.Node) []stripItem {
	t.Helper()
	queryOne(t, doc, "#obligations")
	var out []stripItem
	for _, li := range queryAll(t, doc, "#obligations li[data-testid=obligation]") {
		href, _ := attr(queryOne(t, li, "a"), "href")
		_, hidden := attr(li, "hidden")
		class, _ := attr(li, "class")
		out = append(out, stripItem{Text: text(li), Href: href, State: text(queryOne(t, li, ".clock-state")), Hidden: hidden,
			Late: strings.Contains(" "+class+" ", " clock-overdue ")})
	}
	return out
}

// stripOf fetches the strip alone, as its live refresh does.
func stripOf(t testing.TB, b *browser) []stripItem {
	t.Helper()
	r := b.get("/console/obligations", "HX-Request", "true")
	if r.Code != http.StatusOK {
		t.Fatalf("GET /console/obligations = %d: %.300s", r.Code, r.Body)
	}
	return strip(t, parseFragment(t, r.Body))
}

// TestConsoleObligations: the strip on every console page lists what the
// open incidents owe soon or overdue. The default plan: the public page
// every 15 min (first reminder 5 min before due), the executives every 30
// min (5 min before), the regulators' initial notification within 4 h (60
// min before).
func TestConsoleObligations(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		cmdr, viewer := c.as(t, herald.RoleCommander), c.as(t, herald.RoleViewer)

		// No open incidents: an empty strip.
		if got := stripOf(t, viewer); len(got) != 0 {
			t.Fatalf("no incidents, strip %+v", got)
		}
		doc := viewer.page("/console")
		if got := strip(t, doc); len(got) != 0 || len(queryAll(t, doc, "#obligations ul")) != 0 {
			t.Fatalf("no incidents, the console's strip %+v", got)
		}

		id := c.declare(cmdr, url.Values{"name": {"Card payments failing"}})
		in, err := c.store.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		t0, href := in.CreatedAt, "/console/incidents/"+id

		// Just declared: the public update is due in 15 min, its first
		// reminder in 10, within the 15 min the strip loads ahead; it is
		// there, hidden until then. The executives' first reminder is 25 min
		// away: absent.
		c.clock.Set(t0.Add(time.Minute))
		want := []stripItem{{Text: "Card payments failing: Partners and clients update due soon", Href: href, State: "due soon", Hidden: true}}
		for _, got := range [][]stripItem{stripOf(t, viewer), strip(t, viewer.page("/console")), stripOf(t, cmdr)} {
			if !equalStrip(got, want) {
				t.Errorf("a minute after declaring: strip %+v; want %+v", got, want)
			}
		}

		// Past its first reminder: shown. The executives' update, its first
		// reminder (at 25 min) now within 15 min, comes in hidden.
		c.clock.Set(t0.Add(11 * time.Minute))
		want[0].Hidden = false
		want = append(want, stripItem{Text: "Card payments failing: Executive Team update due soon", Href: href,
			State: "due soon", Hidden: true})
		if got := stripOf(t, viewer); !equalStrip(got, want) {
			t.Errorf("11 minutes after declaring: strip %+v; want %+v", got, want)
		}

		// Past due: overdue, on every page.
		c.clock.Set(t0.Add(16 * time.Minute))
		want = []stripItem{
			{Text: "Card payments failing: Partners and clients update overdue", Href: href, State: "overdue", Late: true},
			{Text: "Card payments failing: Executive Team update due soon", Href: href, State: "due soon", Hidden: true},
		}
		if got := stripOf(t, viewer); !equalStrip(got, want) {
			t.Errorf("16 minutes after declaring: strip %+v; want %+v", got, want)
		}
		for _, page := range []string{"/console", href, "/console/incidents/new"} {
			if got := strip(t, cmdr.page(page)); !equalStrip(got, want) {
				t.Errorf("%s: strip %+v; want %+v", page, got, want)
			}
		}

		// A public update meets the obligation: it leaves the strip.
		doc = cmdr.page(href)
		r := cmdr.post(href+"/updates", url.Values{"version": {composerVersion(t, doc)}, "status": {"identified"},
			"impact": {"major"}, "main": {"We found the cause."}, "audience": {"public"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("post an update: %d: %.300s", r.Code, r.Body)
		}
		for _, it := range stripOf(t, viewer) {
			if it.Overdue() {
				t.Errorf("after the public update: %+v", it)
			}
		}

		// Resolved: the incident owes nothing more; the strip is empty.
		doc = cmdr.page(href)
		r = cmdr.post(href+"/updates", url.Values{"version": {composerVersion(t, doc)}, "status": {"resolved"},
			"impact": {"major"}, "main": {"Card payments work again."}, "audience": {"public"}, "action": {"post"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("resolve: %d: %.300s", r.Code, r.Body)
		}
		c.clock.Set(t0.Add(5 * time.Hour))
		if got := stripOf(t, viewer); len(got) != 0 {
			t.Errorf("after resolving: strip %+v", got)
		}
	})
}

// TestConsoleObligationsRegulators: the regulators' initial notification
// shows from its first reminder, an hour before due, and is hidden within
// the 15 minutes before that.
func TestConsoleObligationsRegulators(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		cmdr := c.as(t, herald.RoleCommander)
		id := c.declare(cmdr, url.Values{"name": {"Ledger delays"}, "regulators": {"yes"}})
		in, err := c.store.Incident(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		t0 := in.CreatedAt
		regulators := func(at time.Duration) (stripItem, bool) {
			t.Helper()
			c.clock.Set(t0.Add(at))
			for _, it := range stripOf(t, cmdr) {
				if strings.Contains(it.Text, "Regulators") {
					return it, true
				}
			}
			return stripItem{}, false
		}
		// Due at 4h; first reminder at 3h; loaded from 2h45m.
		if it, ok := regulators(2*time.Hour + 40*time.Minute); ok {
			t.Errorf("20 minutes before the first reminder: %+v", it)
		}
		want := stripItem{Text: "Ledger delays: Regulators initial notification due soon", Href: "/console/incidents/" + id,
			State: "due soon", Hidden: true}
		if it, ok := regulators(2*time.Hour + 50*time.Minute); !ok || it != want {
			t.Errorf("10 minutes before the first reminder: %+v (%v); want %+v", it, ok, want)
		}
		want.Hidden = false
		if it, ok := regulators(3*time.Hour + time.Minute); !ok || it != want {
			t.Errorf("after the first reminder: %+v (%v); want %+v", it, ok, want)
		}
		want.Text, want.State, want.Late = "Ledger delays: Regulators initial notification overdue", "overdue", true
		if it, ok := regulators(4*time.Hour + time.Minute); !ok || it != want {
			t.Errorf("past due: %+v (%v); want %+v", it, ok, want)
		}
	})
}

// Overdue says whether the item reads as overdue.
func (it stripItem) Overdue() bool { return it.State == "overdue" || it.Late }

func equalStrip(a, b []stripItem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
