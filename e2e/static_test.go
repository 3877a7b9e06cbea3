package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// staticCopy is the folder of herald.Dir that Herald keeps current as
// HERALD_EXPORT_DIR.
const staticCopy = "static-copy"

// TestStaticCopy opens the copy Herald keeps in HERALD_EXPORT_DIR from a
// plain file server, as a CDN would host it: the page works and passes axe
// with every request going to the host of the copy, never to Herald; after
// a declaration Herald rewrites the copy and the page's refetch of itself
// shows it; with the host failing, the refetch leaves the page as it was.
func TestStaticCopy(t *testing.T) {
	dir := filepath.Join(herald.Dir, staticCopy)
	var down atomic.Bool
	files := http.FileServer(http.Dir(dir))
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "the host is down", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer host.Close()

	browser := newBrowser(t)
	ctx := newTab(t, browser, 3*time.Minute) // generous: a shared machine under load starts Chromium slowly
	var mu sync.Mutex
	var requested []string
	// chromedp enables the network domain on every tab.
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, emulate(views[0]), chromedp.Navigate(host.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("[data-testid=banner]"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "htmx to load", "typeof htmx === 'object'")
	note, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#generated').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(note, "This is a static copy of the status page, generated ") || !strings.Contains(note, "UTC") {
		t.Errorf("the copy's note reads %q, want when it was generated, with the zone", note)
	}
	checkAxe(t, ctx, "the static copy")
	screenshot(t, ctx, "static-copy")

	ref := declareOverAPI(t, "Card payments failing (static copy)", newComponent.Key, "major_outage")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "index.html"))
		if bytes.Contains(b, []byte(ref.Name)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Herald did not rewrite %s/index.html with the declaration within 20 s", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What the page's poll (every 60 s) does, now: the same element's
	// request, target, selection and swap.
	// The promise is not awaited: what counts is what the page shows.
	const refetch = `htmx.ajax('GET', '/', {source: '#live-status'}).catch(() => {}); true`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](refetch)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the refetched copy to show the declaration",
		`document.querySelector('#content').innerText.includes('`+ref.Name+`') && document.querySelectorAll('#generated').length === 1`)
	after, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#generated time').getAttribute('datetime')`))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); !bytes.Contains(b, []byte(`datetime="`+after+`"`)) {
		t.Errorf("the note's time %s is not the rewritten file's: the note was not refreshed with the content", after)
	}

	down.Store(true)
	const watch = `window.__refetchFailed = false;
		document.body.addEventListener('htmx:responseError', () => { window.__refetchFailed = true; }, {once: true}); true`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](watch)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](refetch)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the refetch to fail", "window.__refetchFailed === true")
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#content').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, ref.Name) || !strings.Contains(shown, newComponent.Name) {
		t.Errorf("with the host failing, the page lost its content: %.300q", shown)
	}

	mu.Lock()
	defer mu.Unlock()
	copyHost, _ := url.Parse(host.URL)
	for _, r := range requested {
		u, err := url.Parse(r)
		if err != nil || u.Host != copyHost.Host {
			t.Errorf("the copy requested %s, not from its own host %s", r, copyHost.Host)
		}
	}
	if len(requested) < 3 {
		t.Errorf("saw %d requests (%q); want the page, its assets and the refetches", len(requested), requested)
	}
}
