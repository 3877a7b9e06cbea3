package handlers_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/web"
)

const liveURL = "https://herald.kredete.example"

// newExporter prepares an exporter on dir with its own log, apart from the
// env's (whose errors fail the test).
func newExporter(t *testing.T, dir, live string) (*handlers.Exporter, *syncBuffer) {
	t.Helper()
	assets, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	x, err := handlers.NewExporter(dir, live, assets, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return x, logs
}

func (e *env) export(x *handlers.Exporter) handlers.ExportStats {
	e.t.Helper()
	if err := e.public.Refresh(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	st, err := x.Export(context.Background(), e.public.Snapshot())
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func readFile(t *testing.T, dir, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stat(t *testing.T, dir, rel string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// files lists every file under dir, slash-separated and sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestExportKeepsTheDirectoryCurrent follows one incident through exports:
// its page appears, changes with each update, and goes when it leaves the
// snapshot's year; pages that did not change are not rewritten (the same
// file stays), the status page always is (its generation time is the
// copy's heartbeat); files Herald does not own stay; no temporary file is
// left.
func TestExportKeepsTheDirectoryCurrent(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		dir := t.TempDir()
		x, logs := newExporter(t, dir, liveURL)
		os.WriteFile(filepath.Join(dir, "robots.txt"), []byte("User-agent: *\n"), 0o644)
		os.MkdirAll(filepath.Join(dir, "incidents", "gone00000000"), 0o755)
		os.WriteFile(filepath.Join(dir, "incidents", "gone00000000", "index.html"), []byte("old"), 0o644)
		os.MkdirAll(filepath.Join(dir, "static", "css"), 0o755)
		os.WriteFile(filepath.Join(dir, "static", "css", "herald.000000000000.css"), []byte("old"), 0o644)

		first := e.export(x)
		got := files(t, dir)
		if slices.Contains(got, "incidents/gone00000000/index.html") {
			t.Error("the page of an incident the snapshot does not have was not removed")
		}
		if _, err := os.Stat(filepath.Join(dir, "incidents", "gone00000000")); err == nil {
			t.Error("the removed page's directory is left, empty")
		}
		// An earlier release's asset stays for pages still cached.
		for _, kept := range []string{"robots.txt", "static/css/herald.000000000000.css"} {
			if !slices.Contains(got, kept) {
				t.Errorf("%s was removed", kept)
			}
		}
		if first.Removed != 1 {
			t.Errorf("first export removed %d files, want 1", first.Removed)
		}
		// A rebuild with nothing new (and nothing open, so the uptime
		// bars stand still) writes only the status page: its note of
		// when it was generated is the copy's heartbeat.
		beforeIndex := stat(t, dir, "index.html")
		again := e.export(x)
		if again.Written != 1 || again.Unchanged != first.Written-1 {
			t.Errorf("a rebuild of the same data wrote %d and kept %d files, want 1 (index.html) and %d", again.Written, again.Unchanged, first.Written-1)
		}
		if os.SameFile(beforeIndex, stat(t, dir, "index.html")) {
			t.Error("index.html, the copy's heartbeat, was not written again")
		}

		in := e.declare(map[string]any{"name": "Elevated API error rates", "body": "We are investigating.",
			"components": []map[string]string{{"id": "api-platform", "status": "partial_outage"}}})
		e.export(x)
		page := "incidents/" + in.ID + "/index.html"
		if !bytes.Contains(readFile(t, dir, page), []byte("We are investigating.")) {
			t.Errorf("%s lacks the incident's update", page)
		}
		if !bytes.Contains(readFile(t, dir, "index.html"), []byte(`href="/incidents/`+in.ID+`/"`)) {
			t.Error("index.html does not link the incident's page")
		}
		if !bytes.Contains(readFile(t, dir, "api/v2/incidents/unresolved.json"), []byte(in.ID)) {
			t.Error("unresolved.json lacks the open incident")
		}
		before := stat(t, dir, page)
		e.export(x)
		if !os.SameFile(before, stat(t, dir, page)) {
			t.Error("the unchanged incident page was written again")
		}

		e.update(in.ID, map[string]any{"status": "identified", "body": "A database node failed; failover is under way."})
		e.export(x)
		if !bytes.Contains(readFile(t, dir, page), []byte("failover is under way")) {
			t.Errorf("%s does not follow the update", page)
		}
		if os.SameFile(before, stat(t, dir, page)) {
			t.Error("the updated incident's page was not replaced")
		}

		e.update(in.ID, map[string]any{"status": "resolved", "body": "Resolved."})
		e.export(x)
		if bytes.Contains(readFile(t, dir, "api/v2/incidents/unresolved.json"), []byte(in.ID)) {
			t.Error("unresolved.json still lists the resolved incident")
		}
		// A year and more later the incident has left the snapshot (the
		// live site reads it from the database): its page goes.
		e.clock.Set(e.clock.Now().Add(400 * 24 * time.Hour))
		e.export(x)
		if _, err := os.Stat(filepath.Join(dir, "incidents", in.ID)); err == nil {
			t.Errorf("the page of an incident the snapshot no longer has is still there")
		}
		if got := files(t, dir); !slices.Equal(filter(got, ".herald/"), []string{".herald/export"}) {
			t.Errorf(".herald holds %q, want only its marker (no temporary file)", filter(got, ".herald/"))
		}
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("the exporter logged errors:\n%s", logs)
		}
	})
}

func filter(list []string, prefix string) []string {
	var out []string
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// TestExportRefusesAForeignDirectory: an export removes stale files, so it
// writes only into an empty directory or one it wrote before.
func TestExportRefusesAForeignDirectory(t *testing.T) {
	assets, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if _, err := handlers.NewExporter(dir, "", assets, log); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a directory with someone's files: %v, want a refusal saying it is not empty", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Error("the refused directory's file changed")
	}
	fresh := filepath.Join(t.TempDir(), "new", "copy")
	if _, err := handlers.NewExporter(fresh, "", assets, log); err != nil {
		t.Fatalf("a new directory: %v", err)
	}
	os.WriteFile(filepath.Join(fresh, "robots.txt"), []byte("User-agent: *\n"), 0o644)
	if _, err := handlers.NewExporter(fresh, "", assets, log); err != nil {
		t.Errorf("a directory Herald wrote before, with a file of the operator's: %v", err)
	}
	for _, bad := range []string{"herald.kredete.com", "javascript:alert(1)", "ftp://herald.kredete.com"} {
		if _, err := handlers.NewExporter(t.TempDir(), bad, assets, log); err == nil || !strings.Contains(err.Error(), "HERALD_PUBLIC_URL") {
			t.Errorf("live URL %q: %v, want a refusal naming HERALD_PUBLIC_URL", bad, err)
		}
	}
}

// TestExportedPagesAreStatic: the copy keeps no connection to Herald, says
// when it was generated, and links subscriptions to the live Herald or
// says there are none.
func TestExportedPagesAreStatic(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	in := e.declare(map[string]any{"name": "Slow credit decisions", "body": "Investigating."})
	for _, live := range []string{liveURL, ""} {
		dir := t.TempDir()
		x, _ := newExporter(t, dir, live)
		e.export(x)
		built := e.public.Snapshot().BuiltAt
		for _, rel := range []string{"index.html", "history/index.html", "incidents/" + in.ID + "/index.html", "404.html"} {
			b := readFile(t, dir, rel)
			doc := parseHTML(t, b)
			for _, bad := range []string{"sse-connect", "/events", "hx-ext", "hx-post", "<form", `href="/subscribe"`, "/console"} {
				if bytes.Contains(b, []byte(bad)) {
					t.Errorf("live %q: %s contains %q", live, rel, bad)
				}
			}
			note := queryOne(t, doc, "#generated[data-testid=generated]")
			when := queryOne(t, note, "time")
			if dt, _ := attr(when, "datetime"); dt != built.UTC().Format(time.RFC3339) {
				t.Errorf("%s: generated at %q, want the snapshot's build time %s", rel, dt, built.UTC().Format(time.RFC3339))
			}
			if got := text(when); got != built.Format("2 Jan 2006, 15:04 MST") {
				t.Errorf("%s: generated time reads %q, want the time with its zone", rel, got)
			}
			links := queryAll(t, doc, "[data-testid=subscribe-link]")
			switch {
			case live != "" && len(links) != 1:
				t.Errorf("%s: %d subscribe links, want one to the live Herald", rel, len(links))
			case live != "":
				if href, _ := attr(links[0], "href"); href != live+"/subscribe" {
					t.Errorf("%s: subscribe link %q, want %s/subscribe", rel, href, live)
				}
			case len(links) != 0:
				t.Errorf("%s: a subscribe link with no live Herald to point to", rel)
			case !strings.Contains(text(note), "Subscribing to updates is not available on this copy."):
				t.Errorf("%s: note %q does not say subscribing is unavailable", rel, text(note))
			}
		}
		// The status page refetches its own file, not Herald.
		live := queryOne(t, parseHTML(t, readFile(t, dir, "index.html")), "#live-status")
		for name, want := range map[string]string{"hx-get": "/", "hx-select": "#content", "hx-select-oob": "#generated", "hx-trigger": "every 60s"} {
			if got, _ := attr(live, name); got != want {
				t.Errorf("#live-status %s = %q, want %q", name, got, want)
			}
		}
	}
	// The live page is unchanged: server-sent events, /history, /subscribe.
	b := e.getOK("/").Body
	for _, want := range []string{"sse-connect", `href="/history"`, `href="/subscribe"`, `href="/incidents/` + in.ID + `"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the live page lacks %q", want)
		}
	}
	if bytes.Contains(b, []byte(`id="generated"`)) {
		t.Error("the live page carries the static copy's note")
	}
}

// TestExportFailureIsLoggedAndServingGoesOn: a write that fails is logged;
// the site keeps answering, and the next snapshot offered is written.
func TestExportFailureIsLoggedAndServingGoesOn(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	dir := t.TempDir()
	x, logs := newExporter(t, dir, "")
	// A file where the incidents' directory belongs: no page can go there.
	blocker := filepath.Join(dir, "incidents")
	if err := os.WriteFile(blocker, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.public.OnRefresh(x.Offer)

	in := e.declare(map[string]any{"name": "Partner webhook delays", "body": "Investigating."})
	waitFor(t, "the failed export to be logged", func() (bool, string) {
		l := logs.String()
		return strings.Contains(l, "level=ERROR") && strings.Contains(l, "static export"), l
	})
	if r := e.get("/"); r.Code != 200 || !bytes.Contains(r.Body, []byte("Partner webhook delays")) {
		t.Fatalf("the live page after a failed export: %d", r.Code)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	e.update(in.ID, map[string]any{"status": "identified", "body": "Found it."})
	waitFor(t, "the next snapshot to be written", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(dir, "incidents", in.ID, "index.html"))
		return err == nil && bytes.Contains(b, []byte("Found it.")), logs.String()
	})
}

// TestOfferNeverBlocksAndTheLatestWins: offering returns at once whether or
// not a writer runs, and an older snapshot offered late is not written over
// a newer one.
func TestOfferNeverBlocksAndTheLatestWins(t *testing.T) {
	e := newEnv(t, envOptions{token: adminToken})
	dir := t.TempDir()
	x, _ := newExporter(t, dir, "")
	old := e.public.Snapshot()
	for range 1000 {
		x.Offer(old) // nobody writes yet: none of these may wait
	}
	in := e.declare(map[string]any{"name": "Bureau integration timeouts", "body": "Investigating."})
	newer := e.public.Snapshot()
	if newer.Version <= old.Version {
		t.Fatalf("the declaration did not make a newer snapshot (%d after %d)", newer.Version, old.Version)
	}
	x.Offer(newer)
	x.Offer(old)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	want, _ := newer.Entry("/api/v2/summary.json")
	waitFor(t, "the newer snapshot to be written", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(dir, "api", "v2", "summary.json"))
		return err == nil && bytes.Equal(b, want.Body), string(b)
	})
	if _, err := os.Stat(filepath.Join(dir, "incidents", in.ID, "index.html")); err != nil {
		t.Errorf("the newer snapshot's incident page: %v", err)
	}
}

// BenchmarkExport measures the static export of the benchmark's data (about
// 20 incidents, 4 history pages): "all" writes every file into an empty
// directory, as `herald export` and a server's first export do; "rebuild"
// is what HERALD_EXPORT_DIR costs after a rebuild that changed nothing (every
// page rendered and compared, only index.html written), as every minute.
func BenchmarkExport(b *testing.B) {
	s := benchData(b, store.SQLite)
	ctx := context.Background()
	assets, err := web.New()
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			x, err := handlers.NewExporter(b.TempDir(), "", assets, log)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := x.Export(ctx, s.public.Snapshot()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rebuild", func(b *testing.B) {
		x, err := handlers.NewExporter(b.TempDir(), "", assets, log)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.Export(ctx, s.public.Snapshot()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			st, err := x.Export(ctx, s.public.Snapshot())
			if err != nil {
				b.Fatal(err)
			}
			if st.Written != 1 {
				b.Fatalf("wrote %d files, want only index.html", st.Written)
			}
		}
	})
}
