package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/kredete/herald/statusapi/statusapitest"
	"github.com/kredete/herald/store/storetest"
)

// The plan's page URL (config/default.yaml): feeds and the API link
// incidents under it.
const pageURL = "https://status.kredete.com"

// liveHerald is HERALD_PUBLIC_URL in these tests: the copy's subscribe link.
const liveHerald = "https://herald.kredete.example"

var apiPaths = []string{
	"/api/v2/summary.json", "/api/v2/status.json", "/api/v2/components.json", "/api/v2/incidents.json",
	"/api/v2/incidents/unresolved.json", "/api/v2/scheduled-maintenances.json",
	"/api/v2/scheduled-maintenances/upcoming.json", "/api/v2/scheduled-maintenances/active.json",
}

// server is a `herald serve` started through run.
type server struct {
	base string
	stop func() error
	logs func() string // what it printed
}

// startServe runs serve with vars until stop is called (or the test ends).
func startServe(t *testing.T, vars map[string]string) server {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(vars), pw)
		pw.Close()
	}()
	addr := make(chan string, 1)
	var mu sync.Mutex
	var printed strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			printed.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if _, a, ok := strings.Cut(sc.Text(), " on http://"); ok {
				addr <- a
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not listen within 30 s")
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("serve did not stop within 30 s")
		}
	}
	t.Cleanup(func() { stop() }) //nolint:errcheck // a test that cares has stopped it already
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return printed.String()
	}
	return server{base: base, stop: stop, logs: logs}
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", u, resp.StatusCode, b)
	}
	return b
}

// TestExportCommand exports demo data through `herald export DIR` on SQLite
// and PostgreSQL, serves the directory with a plain file server, and reads
// it as a visitor and a client would: every link and asset of every page
// resolves in the directory (and no page links a route only Herald has);
// every page written is reached; the API documents are byte for byte what
// the live server answers and conform to Statuspage's API; the feeds parse
// and their links resolve.
func TestExportCommand(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"HERALD_DATABASE_URL": storetest.URL(t, d), "HERALD_LOG_LEVEL": "error",
				"HERALD_ENGINE": "false", "HERALD_ADDR": "127.0.0.1:0", "HERALD_PUBLIC_URL": liveHerald}
			if err := run(t.Context(), []string{"demo-data"}, env(vars), io.Discard); err != nil {
				t.Fatal(err)
			}
			live := startServe(t, vars)
			dir := filepath.Join(t.TempDir(), "status")
			var out strings.Builder
			if err := run(t.Context(), []string{"export", dir}, env(vars), &out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "exported the Kredete status page to "+dir) {
				t.Errorf("export printed %q", out.String())
			}
			static := httptest.NewServer(http.FileServer(http.Dir(dir)))
			defer static.Close()

			pages := crawl(t, static.URL, dir)
			if len(pages) < 10 {
				t.Errorf("the crawl reached %d pages; the demo data has more than 10", len(pages))
			}
			for _, p := range apiPaths {
				exported, served := get(t, static.URL+p), get(t, live.base+p)
				if !bytes.Equal(exported, served) {
					t.Errorf("%s differs from the live server's:\nexported %s\nlive     %s", p, exported, served)
				}
				for _, problem := range statusapitest.Problems(exported, statusapitest.ForPath(p), "+00:00") {
					t.Errorf("%s: %s", p, problem)
				}
			}
			var summary statusapitest.Summary
			json.Unmarshal(get(t, static.URL+"/api/v2/summary.json"), &summary) //nolint:errcheck // checked above
			if len(summary.Incidents) != 3 || len(summary.ScheduledMaintenances) != 1 {
				t.Errorf("summary lists %d incidents and %d maintenances, want the demo's 3 and 1", len(summary.Incidents), len(summary.ScheduledMaintenances))
			}
			var links []string
			for _, in := range summary.Incidents {
				links = append(links, in.Shortlink)
			}
			for _, feed := range []string{"/history.atom", "/history.rss"} {
				exported := get(t, static.URL+feed)
				if !bytes.Equal(exported, get(t, live.base+feed)) {
					t.Errorf("%s differs from the live server's", feed)
				}
				links = append(links, feedLinks(t, feed, exported)...)
			}
			// Feeds and the API link incidents at the page's URL: where the
			// copy is hosted there, each resolves.
			for _, l := range links {
				rest, ok := strings.CutPrefix(l, pageURL+"/incidents/")
				if !ok {
					t.Errorf("link %q is not an incident under %s", l, pageURL)
					continue
				}
				get(t, static.URL+"/incidents/"+rest)
			}
			if err := live.stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// crawl walks every page from / (and 404.html), checking each reference,
// and returns the pages reached. Every HTML file of dir must be among them.
func crawl(t *testing.T, base, dir string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	queue := []string{"/", "/404.html"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d from the exported directory", p, resp.StatusCode)
			continue
		}
		if !strings.HasSuffix(p, "/") && !strings.HasSuffix(p, ".html") {
			continue // an asset, a feed, a document
		}
		for _, ref := range references(t, p, b) {
			u, err := url.Parse(ref)
			if err != nil {
				t.Errorf("%s links %q: %v", p, ref, err)
				continue
			}
			switch {
			case u.Scheme != "":
				if ref != liveHerald+"/subscribe" {
					t.Errorf("%s links %q, outside the copy (only the live Herald's /subscribe may be)", p, ref)
				}
				continue
			case u.Path == "" && u.Fragment != "":
				continue // within the page
			case u.RawQuery != "":
				t.Errorf("%s links %q: a static host ignores query strings", p, ref)
			}
			target := u.Path
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(p+"x"), u.Path)
				if strings.HasSuffix(u.Path, "/") && target != "/" {
					target += "/"
				}
			}
			for _, dynamic := range []string{"/console", "/subscribe", "/subscriptions", "/admin", "/events", "/webhooks", "/slack"} {
				if target == dynamic || strings.HasPrefix(target, dynamic+"/") {
					t.Errorf("%s links %s, a route only Herald has", p, target)
				}
			}
			queue = append(queue, target)
		}
	}
	var orphans []string
	filepath.WalkDir(dir, func(f string, d os.DirEntry, err error) error { //nolint:errcheck // a walk error shows as orphans
		if err != nil || d.IsDir() || !strings.HasSuffix(f, ".html") {
			return err
		}
		rel, _ := filepath.Rel(dir, f)
		rel = "/" + filepath.ToSlash(rel)
		if p := strings.TrimSuffix(rel, "index.html"); !seen[p] && !seen[rel] {
			orphans = append(orphans, rel)
		}
		return nil
	})
	if len(orphans) > 0 {
		t.Errorf("pages no page links: %q", orphans)
	}
	return seen
}

// references lists what a page links or loads, failing on anything that
// would talk to Herald: forms, server-sent events, htmx requests other
// than the status page's refetch of itself.
func references(t *testing.T, page string, body []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	var refs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "form" {
				t.Errorf("%s has a form: a static copy cannot take one", page)
			}
			for _, a := range n.Attr {
				switch {
				case a.Key == "href" || a.Key == "src" || a.Key == "action":
					refs = append(refs, a.Val)
				case a.Key == "sse-connect" || a.Key == "hx-ext":
					t.Errorf("%s: %s=%q connects to Herald", page, a.Key, a.Val)
				case slices.Contains([]string{"hx-post", "hx-put", "hx-patch", "hx-delete"}, a.Key):
					t.Errorf("%s: %s=%q writes to Herald", page, a.Key, a.Val)
				case a.Key == "hx-get":
					if page != "/" || a.Val != "/" {
						t.Errorf("%s: hx-get=%q: only the status page refetches, itself", page, a.Val)
					}
					refs = append(refs, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return refs
}

// feedLinks parses an Atom or RSS feed and returns its entries' links.
func feedLinks(t *testing.T, name string, b []byte) []string {
	t.Helper()
	var links []string
	if strings.HasSuffix(name, ".atom") {
		var f struct {
			XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
			Entries []struct {
				Title string `xml:"title"`
				Link  struct {
					Href string `xml:"href,attr"`
				} `xml:"link"`
			} `xml:"entry"`
		}
		if err := xml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s is not Atom: %v", name, err)
		}
		for _, e := range f.Entries {
			links = append(links, e.Link.Href)
		}
	} else {
		var f struct {
			XMLName xml.Name `xml:"rss"`
			Items   []struct {
				Title string `xml:"title"`
				Link  string `xml:"link"`
			} `xml:"channel>item"`
		}
		if err := xml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s is not RSS: %v", name, err)
		}
		for _, e := range f.Items {
			links = append(links, e.Link)
		}
	}
	if len(links) == 0 {
		t.Errorf("%s has no entries", name)
	}
	return links
}

// TestExportCommandRefusals: the command says what is wrong.
func TestExportCommandRefusals(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing.db")
	for _, c := range []struct {
		args []string
		vars map[string]string
		want string
	}{
		{[]string{"export"}, nil, "herald export DIR"},
		{[]string{"export", "a", "b"}, nil, "want one directory"},
		{[]string{"export", t.TempDir()}, map[string]string{"HERALD_DATABASE_URL": "sqlite:" + missing}, "no database at " + missing},
	} {
		err := run(t.Context(), c.args, env(c.vars), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("the refused export created an empty database")
	}
}

const exportToken = "export-test-admin-token-7d2e"

// adminPost calls a replica's admin API and returns the incident's id.
func adminPost(t *testing.T, base, p string, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+p, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+exportToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Incident struct {
			ID string `json:"id"`
		} `json:"incident"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s = %d: %s", p, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out.Incident.ID
}

// waitFile waits until the exported file rel satisfies ok, and returns it.
func waitFile(t *testing.T, dir, rel, what string, ok func(b []byte) bool) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err == nil && ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not show it within 20 s (%v): %.300s", what, rel, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func has(s string) func([]byte) bool {
	return func(b []byte) bool { return bytes.Contains(b, []byte(s)) }
}

// TestExportDirKeptCurrentWhileServing runs two replicas of serve on one
// database, both keeping HERALD_EXPORT_DIR (one directory) current: an
// incident declared on one and updated and resolved on the other shows in
// the files within moments, the copy ends byte for byte equal to what the
// replicas serve, and no temporary file is left once they have stopped.
func TestExportDirKeptCurrentWhileServing(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "status")
			vars := map[string]string{"HERALD_DATABASE_URL": storetest.URL(t, d), "HERALD_LOG_LEVEL": "error",
				"HERALD_ENGINE": "false", "HERALD_ADDR": "127.0.0.1:0", "HERALD_ADMIN_TOKEN": exportToken,
				"HERALD_EXPORT_DIR": dir, "HERALD_POLL_INTERVAL": "200ms"}
			a := startServe(t, vars)
			b := startServe(t, vars)
			waitFile(t, dir, "index.html", "the first snapshot", has("All Systems Operational"))

			id := adminPost(t, a.base, "/admin/api/incidents", map[string]any{"name": "Delayed loan disbursements",
				"body": "We are investigating delays.", "components": []map[string]string{{"id": "credit-origination", "status": "major_outage"}}})
			page := "incidents/" + id + "/index.html"
			waitFile(t, dir, page, "the declared incident", has("We are investigating delays."))
			waitFile(t, dir, "index.html", "the status page", has(`href="/incidents/`+id+`/"`))
			waitFile(t, dir, "api/v2/incidents/unresolved.json", "the API", has(`"id":"`+id+`"`))

			adminPost(t, b.base, "/admin/api/incidents/"+id+"/updates", map[string]any{"status": "identified",
				"body": "A payment partner's API is timing out; we are failing over."})
			waitFile(t, dir, page, "the update posted on the other replica", has("we are failing over"))
			adminPost(t, b.base, "/admin/api/incidents/"+id+"/updates", map[string]any{"status": "resolved",
				"body": "Disbursements are flowing again."})
			waitFile(t, dir, "api/v2/incidents/unresolved.json", "the resolution", func(b []byte) bool {
				return !bytes.Contains(b, []byte(id))
			})
			waitFile(t, dir, page, "the resolution", has("Disbursements are flowing again."))
			waitFile(t, dir, "index.html", "the status page after the resolution", has("All Systems Operational"))
			// Both replicas converge on one copy: what each serves.
			for _, p := range apiPaths {
				// One replica hears of the other's write within a poll
				// (or a notification): wait for the two to agree.
				var want []byte
				deadline := time.Now().Add(20 * time.Second)
				for {
					want = get(t, a.base+p)
					if bytes.Equal(get(t, b.base+p), want) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the replicas still serve different documents after 20 s", p)
					}
					time.Sleep(20 * time.Millisecond)
				}
				waitFile(t, dir, strings.TrimPrefix(p, "/"), "what the replicas serve", func(b []byte) bool { return bytes.Equal(b, want) })
			}
			for _, s := range []server{a, b} {
				if err := s.stop(); err != nil {
					t.Fatal(err)
				}
				if l := s.logs(); strings.Contains(l, "level=ERROR") {
					t.Errorf("a replica logged errors:\n%s", l)
				}
			}
			meta, err := os.ReadDir(filepath.Join(dir, ".herald"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range meta {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{"export"}) {
				t.Errorf(".herald holds %q after both replicas stopped, want only its marker (no temporary file)", names)
			}
		})
	}
}
