package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testConsoleAccessibility runs axe-core on the console's pages, in light
// and dark, on a desktop and a phone, checks the phone layout never
// scrolls sideways, and saves screenshots (HERALD_SCREENSHOT_DIR).
func testConsoleAccessibility(t *testing.T, browser context.Context, u consoleUser) {
	// A demo incident: declared hours ago and never updated since, so its
	// cadence board shows audiences overdue.
	demo, ok := findPublic(publicIncidents(t), demoIncidents[0])
	if !ok {
		t.Fatalf("demo incident %q is not in the public API", demoIncidents[0])
	}
	for _, v := range views {
		t.Run(v.Name, func(t *testing.T) {
			ctx := newPerson(t, browser, 40*time.Second)
			if err := chromedp.Do(ctx, emulate(v)); err != nil {
				t.Fatal(err)
			}
			look := func(page string, status int64, resp int64) {
				t.Helper()
				what := page + " (" + v.Name + ")"
				if resp != status {
					t.Errorf("%s: HTTP %d, want %d", what, resp, status)
				}
				if !evalJS[bool](t, ctx, "matchMedia('(prefers-color-scheme: "+v.Scheme+")').matches") {
					t.Fatalf("%s: the %s colour scheme is not in effect", what, v.Scheme)
				}
				checkAxe(t, ctx, what)
				if v.Phone {
					w := evalJS[[]int](t, ctx, "[document.documentElement.scrollWidth, window.innerWidth]")
					if w[0] > w[1] {
						wide := evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('body *'))
							.filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
							.slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).replace(/ /g, '.') : ''))`)
						t.Errorf("%s: the page scrolls sideways: %dpx wide in a %dpx viewport; too wide: %v", what, w[0], w[1], wide)
					}
				}
				screenshot(t, ctx, "console-"+page+"-"+v.Name)
			}
			navigate := func(path string) int64 {
				t.Helper()
				resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(herald.URL+path))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				return resp.Status
			}
			submit := func(sel string) int64 {
				t.Helper()
				resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("click %s: %v", sel, err)
				}
				return resp.Status
			}

			look("signin", http.StatusOK, navigate("/console/sign-in"))
			// A failed sign-in shows its error next to the form (on the
			// desktop only: failures count towards the address's limit).
			if !v.Phone {
				if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#email"), u.Email),
					chromedp.SetValue(chromedp.CSS("#password"), "not the password")); err != nil {
					t.Fatal(err)
				}
				look("signin-failed", http.StatusUnauthorized, submit("main form button[type=submit]"))
			}
			signIn(t, ctx, u)
			waitLiveRefresh(t, ctx, "/console")
			look("incidents", http.StatusOK, http.StatusOK)
			checkOverdue(t, ctx, "[data-testid=active-incidents] [data-testid=clock]", "incident list ("+v.Name+")")

			look("declare", http.StatusOK, navigate("/console/incidents/new"))
			// Everything empty: the title and the message are required.
			if err := chromedp.Do(ctx, clearField("#body")); err != nil {
				t.Fatal(err)
			}
			look("declare-errors", http.StatusUnprocessableEntity, submit("[data-testid=declare-submit]"))
			errs := evalJS[map[string]string](t, ctx, `Object.fromEntries(Array.from(document.querySelectorAll('.field-error'))
				.map(e => [e.id, e.innerText]))`)
			if errs["err-name"] == "" || errs["err-body"] == "" {
				t.Errorf("declare form submitted empty shows errors %v, want the title's and the message's", errs)
			}
			if d := evalJS[string](t, ctx, "document.querySelector('#name').getAttribute('aria-describedby') + ' ' + document.querySelector('#name').getAttribute('aria-invalid')"); d != "err-name true" {
				t.Errorf("the title field is not tied to its error: aria-describedby aria-invalid = %q", d)
			}

			// The DR exercises: the schedule (overdue in words and red), the
			// log, the record and run-as-drill forms.
			look("exercises", http.StatusOK, navigate("/console/exercises"))

			status := navigate("/console/incidents/" + demo.ID)
			waitLiveRefresh(t, ctx, "/console/incidents/"+demo.ID)
			look("incident", http.StatusOK, status)
			checkOverdue(t, ctx, "[data-testid=cadence-board] [data-testid=clock]", "incident page ("+v.Name+")")
			if v.Phone {
				// The composer's audience columns: one under the other, each
				// wide enough to read.
				widths := evalJS[[]float64](t, ctx, "Array.from(document.querySelectorAll('[data-testid=preview]')).map(p => p.getBoundingClientRect().width)")
				for i, w := range widths {
					if w < 280 {
						t.Errorf("composer audience column %d is %.0fpx wide on a phone; too narrow to read", i, w)
					}
				}
			}
		})
	}
}

// checkOverdue checks that overdue clocks say so in words and stand out.
func checkOverdue(t *testing.T, ctx context.Context, sel, what string) {
	t.Helper()
	type clock struct {
		Class   string `json:"class"`
		Text    string `json:"text"`
		State   string `json:"state"`
		Bg      string `json:"bg"`
		Weight  string `json:"weight"`
		Visible bool   `json:"visible"`
	}
	clocks, err := chromedp.Run(ctx, chromedp.Evaluate[[]clock](`Array.from(document.querySelectorAll(`+jsString(sel)+`)).map(c => {
		const s = c.querySelector('.clock-state');
		return {class: c.className, text: c.innerText.replace(/\s+/g, ' ').trim(), state: s ? s.innerText.trim() : '',
			bg: getComputedStyle(c).backgroundColor, weight: s ? getComputedStyle(s).fontWeight : '', visible: c.checkVisibility()};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	overdue := 0
	var normalBg string
	for _, c := range clocks {
		if !strings.Contains(c.Class, "clock-overdue") {
			normalBg = c.Bg
		}
	}
	for _, c := range clocks {
		if !strings.Contains(c.Class, "clock-overdue") {
			if strings.Contains(c.State, "overdue") {
				t.Errorf("%s: clock %q says overdue without the overdue style", what, c.Text)
			}
			continue
		}
		overdue++
		if !strings.HasPrefix(c.State, "Overdue by ") && !strings.HasPrefix(c.State, "overdue by ") {
			t.Errorf("%s: an overdue clock reads %q; say it in words", what, c.State)
		}
		if c.Bg == normalBg || c.Weight < "600" || !c.Visible {
			t.Errorf("%s: overdue clock %q does not stand out (background %s like the others %s, weight %s)", what, c.Text, c.Bg, normalBg, c.Weight)
		}
	}
	if overdue == 0 {
		t.Errorf("%s: no overdue clock among %d; the demo incidents were declared hours ago and never updated", what, len(clocks))
	}
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
