package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// findChromium returns the browser to drive, or "" when there is none.
// HERALD_TEST_CHROMIUM names another browser binary (and only that one).
func findChromium() string {
	if p := os.Getenv("HERALD_TEST_CHROMIUM"); p != "" {
		p, _ = exec.LookPath(p)
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile for the test
// and returns its context; tabs are children of it (see newTab). Without a
// browser the test fails, unless HERALD_TEST_SKIP_BROWSER=1.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		if os.Getenv("HERALD_TEST_SKIP_BROWSER") == "1" {
			t.Skip("!!! SKIPPING THE BROWSER TESTS: Chromium was not found and HERALD_TEST_SKIP_BROWSER=1. " +
				"Nothing about the page in a browser, its live refresh or its accessibility was checked. !!!")
		}
		where := "/usr/bin/chromium, or chromium, chromium-browser, google-chrome on PATH"
		if p := os.Getenv("HERALD_TEST_CHROMIUM"); p != "" {
			where = "HERALD_TEST_CHROMIUM=" + p
		}
		t.Fatalf("Chromium was not found (looked for %s). Install it with `apt-get install -y chromium`, "+
			"or set HERALD_TEST_SKIP_BROWSER=1 to skip the browser tests knowingly.", where)
	}
	// The profile lives under the package's scratch directory, removed
	// after every test has ended and Chromium's helpers have gone.
	profile, err := os.MkdirTemp(herald.Dir, "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-GB"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser with a context that has no deadline: the first Run
	// binds the browser's life to it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return ctx
}

// newTab opens a tab in the browser, closed when the test ends; every
// action in it must finish within the timeout.
func newTab(t *testing.T, browser context.Context, timeout time.Duration) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

// view is how a page is looked at: screen size and colour scheme.
type view struct {
	Name   string
	Phone  bool
	Scheme string // "light" or "dark"
}

var views = []view{
	{Name: "desktop-light", Scheme: "light"},
	{Name: "desktop-dark", Scheme: "dark"},
	{Name: "phone-light", Phone: true, Scheme: "light"},
	{Name: "phone-dark", Phone: true, Scheme: "dark"},
}

// emulate makes the tab look at pages as v says.
func emulate(v view) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		size := chromedp.EmulateViewport(1280, 900)
		if v.Phone {
			// An iPhone 14-sized screen: 390×844 CSS pixels at 3×.
			size = chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch,
				chromedp.EmulatePortrait, chromedp.EmulateScale(3))
		}
		if _, err := size(ctx, t); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.Scheme}}})
		return err
	})
}

// noScript turns JavaScript off in the tab, as a visitor may have it.
func noScript() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	// The trailing expression keeps Evaluate from copying the axe object
	// back by value.
	return string(b) + "\n;0", err
})

type axeNode struct {
	Target         []string `json:"target"`
	HTML           string   `json:"html"`
	FailureSummary string   `json:"failureSummary"`
}

type axeViolation struct {
	ID      string    `json:"id"`
	Impact  string    `json:"impact"`
	Help    string    `json:"help"`
	HelpURL string    `json:"helpUrl"`
	Nodes   []axeNode `json:"nodes"`
}

type axeResult struct {
	Violations []axeViolation `json:"violations"`
	Passes     int            `json:"passes"`
	Incomplete []string       `json:"incomplete"`
}

const axeRun = `axe.run(document, {
	runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
}).then(r => ({
	passes: r.passes.length,
	// What axe could not decide, less the aria-hidden symbols (✓ ! ▲ ✕)
	// it declines to judge as text.
	incomplete: r.incomplete.flatMap(v => v.nodes
		.filter(n => !(n.any || []).some(c => c.data && c.data.messageKey === 'nonBmp'))
		.map(n => v.id + ' ' + n.target.join(' ') + ': ' + (((n.any || [])[0] || {}).message || ''))),
	violations: r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, failureSummary: n.failureSummary || ''})),
	})),
}))`

// checkAxe runs axe-core on the page in the tab and fails the test with
// every WCAG 2.1 A/AA violation it finds.
func checkAxe(t *testing.T, ctx context.Context, what string) axeResult {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatalf("read axe-core: %v", err)
	}
	// Every navigation starts a fresh document, so inject each time.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		t.Fatalf("%s: inject axe-core: %v", what, err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[axeResult](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: run axe-core: %v", what, err)
	}
	if len(res.Incomplete) > 0 {
		t.Logf("%s: axe-core could not decide, look at the screenshots:\n  %s", what, strings.Join(res.Incomplete, "\n  "))
	}
	if len(res.Violations) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d accessibility violations (axe-core, WCAG 2.1 A/AA):\n", what, len(res.Violations))
		for _, v := range res.Violations {
			fmt.Fprintf(&b, "  %s (%s): %s\n    %s\n", v.ID, v.Impact, v.Help, v.HelpURL)
			for i, n := range v.Nodes {
				if i == 5 {
					fmt.Fprintf(&b, "    ... and %d more elements\n", len(v.Nodes)-i)
					break
				}
				fmt.Fprintf(&b, "    - %s\n      %s\n      %s\n", strings.Join(n.Target, " "), n.HTML,
					strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
			}
		}
		t.Error(b.String())
	}
	return res
}

// screenshot saves a full-page PNG of the tab as HERALD_SCREENSHOT_DIR/name.png,
// when that variable is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("HERALD_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
