package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"

	"github.com/kredete/herald/components"
)

// The static export writes the public side as files (herald export,
// HERALD_EXPORT_DIR), for object storage or a CDN with an index document:
//
//	index.html                     the status page
//	history/index.html             /history/, and history/2/index.html …
//	incidents/ID/index.html        every incident and maintenance of the snapshot
//	history.atom, history.rss      the feeds
//	api/v2/….json                  every Statuspage API document
//	static/…                       the stylesheet and htmx, under their hashed names
//	404.html                       the error document
//
// The API documents and feeds are the snapshot's own bytes, as Herald
// serves them. The pages are rendered for a static host: no connection to
// Herald (the status page refetches its own file), links that end in a
// slash, and a note of when they were generated.

// Exported directory layout.
const (
	// exportMeta is the export's own directory inside DIR: temporary files
	// are written there and renamed into place (so a sync sees whole files
	// at every real path), and its marker file says that DIR is Herald's.
	exportMeta   = ".herald"
	exportMarker = "export"
	// staleTemp is how old a temporary file must be before an export
	// deletes it as a crashed writer's: far longer than any write, so
	// another replica's write in progress is never taken.
	staleTemp = 10 * time.Minute
)

// exportOwned are the directories whose files the export removes when the
// snapshot no longer has them. Anything else in DIR is left alone, static/
// too: an asset of an earlier release (content-hashed, a few kilobytes)
// stays for the pages a CDN or a browser still holds, and for a replica of
// that release during a rolling deploy.
var exportOwned = []string{"incidents", "history", "api"}

// AssetSource gives the bytes of an asset by its hashed URL (web.Assets).
type AssetSource interface {
	Body(url string) ([]byte, bool)
}

// Exporter writes snapshots into a directory as a static site, and keeps it
// current when offered each new snapshot (Offer, Run).
type Exporter struct {
	dir     string
	liveURL string
	assets  AssetSource
	log     *slog.Logger

	mu      sync.Mutex                   // one Export at a time
	written map[string][sha256.Size]byte // path → what this process last wrote there

	latest atomic.Pointer[Snapshot]
	kick   chan struct{}
}

// ExportStats counts what one Export did.
type ExportStats struct {
	Written, Unchanged, Removed int
}

// NewExporter prepares dir for exports: it creates it when missing, and
// refuses a directory that holds files but was not written by Herald, whose
// stale files it would otherwise delete. liveURL is Herald's own base URL
// (HERALD_PUBLIC_URL), where the copy's subscribe link points; "" leaves
// the link out.
func NewExporter(dir, liveURL string, assets AssetSource, log *slog.Logger) (*Exporter, error) {
	if dir == "" {
		return nil, errors.New("export: no directory given")
	}
	if liveURL != "" {
		u, err := url.Parse(liveURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("export: HERALD_PUBLIC_URL %q is not an http(s) URL; the static copy links to it for subscriptions", liveURL)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	marker := filepath.Join(dir, exportMeta, exportMarker)
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		// .herald alone is another replica starting on the same new
		// directory a moment earlier, about to write its marker.
		if slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() != exportMeta }) {
			return nil, fmt.Errorf("export: %s is not empty and was not written by Herald (no %s); choose an empty or new directory, "+
				"since an export removes the files of pages that no longer exist", dir, filepath.Join(exportMeta, exportMarker))
		}
	} else if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, exportMeta), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	x := &Exporter{dir: dir, liveURL: strings.TrimRight(liveURL, "/"), assets: assets, log: log,
		written: map[string][sha256.Size]byte{}, kick: make(chan struct{}, 1)}
	note := []byte("This directory is a static copy of a Herald status page, written by `herald export` or HERALD_EXPORT_DIR.\n" +
		"Herald replaces its files and removes those of pages that no longer exist under incidents/, history/ and api/.\n" +
		"This folder (.herald) holds files being written; leave it out of a sync.\n")
	if err := x.write(path.Join(exportMeta, exportMarker), note); err != nil {
		return nil, err
	}
	x.removeStaleTemps()
	return x, nil
}

// Dir is the directory the exporter writes.
func (x *Exporter) Dir() string { return x.dir }

// Offer hands over a snapshot to write and returns at once: Run writes the
// latest one offered. An older snapshot than one already offered is
// ignored, so the copy never goes back in time.
func (x *Exporter) Offer(s *Snapshot) {
	for {
		cur := x.latest.Load()
		if cur != nil && (cur.Version > s.Version || cur.Version == s.Version && cur.BuiltAt.After(s.BuiltAt)) {
			return
		}
		if x.latest.CompareAndSwap(cur, s) {
			break
		}
	}
	select {
	case x.kick <- struct{}{}:
	default: // a write is already due; it takes the latest
	}
}

// Run writes each snapshot offered, one at a time; snapshots offered while
// a write is in progress collapse into one write of the latest. A failure
// is logged and the next snapshot (at most a minute away: Public.Run
// rebuilds every minute) tries again. A write in progress when ctx ends is
// finished, so no temporary file is left behind. Run returns when ctx ends.
func (x *Exporter) Run(ctx context.Context) {
	var done *Snapshot
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.kick:
		}
		s := x.latest.Load()
		if s == nil || s == done {
			continue
		}
		st, err := x.Export(context.WithoutCancel(ctx), s)
		if err != nil {
			x.log.Error("static export", "dir", x.dir, "version", s.Version, "error", err)
			continue
		}
		done = s
		x.log.Debug("static export", "dir", x.dir, "version", s.Version, "written", st.Written,
			"unchanged", st.Unchanged, "removed", st.Removed)
	}
}

// Export writes the snapshot into the directory now. Each file is written
// whole under .herald/ and renamed into place; a file whose content this
// process already wrote there is left alone (pages compared without their
// generation time), except the status page, whose note of when it was
// generated tells a reader how fresh the copy is. Pages come before the
// status page that links them, and files of pages that no longer exist are
// removed last.
func (x *Exporter) Export(ctx context.Context, s *Snapshot) (ExportStats, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var st ExportStats
	site := s.site
	site.Static = &components.StaticCopy{GeneratedAt: s.BuiltAt, LiveURL: x.liveURL}
	// Pages rendered without the time are what "unchanged" is judged on.
	bare := s.site
	bare.Static = &components.StaticCopy{LiveURL: x.liveURL}
	keep := map[string]bool{}

	put := func(rel string, key [sha256.Size]byte, body func() ([]byte, error)) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		keep[rel] = true
		if prev, ok := x.written[rel]; ok && prev == key && x.exists(rel) {
			st.Unchanged++
			return nil
		}
		b, err := body()
		if err != nil {
			return err
		}
		if err := x.write(rel, b); err != nil {
			return err
		}
		x.written[rel] = key
		st.Written++
		return nil
	}
	file := func(rel string, b []byte) error {
		return put(rel, sha256.Sum256(b), func() ([]byte, error) { return b, nil })
	}
	page := func(rel string, view func(components.Site) templ.Component) error {
		var buf bytes.Buffer
		if err := view(bare).Render(ctx, &buf); err != nil {
			return fmt.Errorf("export: render %s: %w", rel, err)
		}
		return put(rel, sha256.Sum256(buf.Bytes()), func() ([]byte, error) {
			buf.Reset()
			if err := view(site).Render(ctx, &buf); err != nil {
				return nil, fmt.Errorf("export: render %s: %w", rel, err)
			}
			return buf.Bytes(), nil
		})
	}

	for _, u := range []string{site.Assets.CSS, site.Assets.HTMX} {
		b, ok := x.assets.Body(u)
		if !ok {
			return st, fmt.Errorf("export: no asset at %s", u)
		}
		if err := file(strings.TrimPrefix(u, "/"), b); err != nil {
			return st, err
		}
	}
	ids := make([]string, 0, len(s.incidents))
	for id := range s.incidents {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !validID(id) {
			return st, fmt.Errorf("export: incident id %q is not a safe file name", id)
		}
		in := s.incidents[id]
		err := page("incidents/"+id+"/index.html", func(site components.Site) templ.Component {
			return components.IncidentPage(components.IncidentView{Site: site, Incident: in, Components: s.components})
		})
		if err != nil {
			return st, err
		}
	}
	for p := 1; (p-1)*historyPageSize < len(s.months); p++ {
		from, to := (p-1)*historyPageSize, min(p*historyPageSize, len(s.months))
		rel := "history/index.html"
		if p > 1 {
			rel = "history/" + strconv.Itoa(p) + "/index.html"
		}
		err := page(rel, func(site components.Site) templ.Component {
			return components.HistoryPage(components.HistoryView{Site: site, Months: s.months[from:to], Page: p, Older: to < len(s.months)})
		})
		if err != nil {
			return st, err
		}
	}
	for _, key := range exportedEntries {
		e, ok := s.Entry(key)
		if !ok {
			return st, fmt.Errorf("export: the snapshot has no %s", key)
		}
		if err := file(strings.TrimPrefix(key, "/"), e.Body); err != nil {
			return st, err
		}
	}
	err := page("404.html", func(site components.Site) templ.Component {
		return components.NotFound(components.NotFoundView{Site: site, Message: "There is no page at this address."})
	})
	if err != nil {
		return st, err
	}
	// The status page last, always: its note is the copy's heartbeat.
	delete(x.written, "index.html")
	err = page("index.html", func(site components.Site) templ.Component {
		v := s.view
		v.Site = site
		return components.StatusPage(v)
	})
	if err != nil {
		return st, err
	}
	removed, err := x.removeStale(keep)
	st.Removed = removed
	x.removeStaleTemps()
	return st, err
}

// exportedEntries are the snapshot's documents written as they are served.
var exportedEntries = []string{
	"/history.atom", "/history.rss",
	"/api/v2/summary.json", "/api/v2/status.json", "/api/v2/components.json", "/api/v2/incidents.json",
	"/api/v2/incidents/unresolved.json", "/api/v2/scheduled-maintenances.json",
	"/api/v2/scheduled-maintenances/upcoming.json", "/api/v2/scheduled-maintenances/active.json",
}

func (x *Exporter) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(x.dir, filepath.FromSlash(rel)))
	return err == nil
}

// write puts body at rel atomically: a temporary file in .herald/, flushed
// to disk, then renamed over the old file. A reader (a web server, a sync
// to object storage) sees the old file or the new one, never a part; two
// replicas writing the same file leave one whole version of it.
func (x *Exporter) write(rel string, body []byte) (err error) {
	target := filepath.Join(x.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	f, err := os.CreateTemp(filepath.Join(x.dir, exportMeta), "tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("export: write %s: %w", rel, err)
		}
	}()
	if _, err := f.Write(body); err != nil {
		return err
	}
	// Web servers and sync tools run as other users: the copy is public.
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	err = os.Rename(f.Name(), target)
	if errors.Is(err, fs.ErrNotExist) {
		// Another replica, behind by a change, removed the directory as
		// empty between MkdirAll and here: make it again, once.
		if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
			err = os.Rename(f.Name(), target)
		}
	}
	return err
}

// removeStale deletes files under the export's own directories that this
// export did not write, and the directories left empty.
func (x *Exporter) removeStale(keep map[string]bool) (int, error) {
	removed := 0
	for _, top := range exportOwned {
		root := filepath.Join(x.dir, top)
		var dirs []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
				return nil
			}
			rel, err := filepath.Rel(x.dir, p)
			if err != nil {
				return err
			}
			if keep[filepath.ToSlash(rel)] {
				return nil
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			delete(x.written, filepath.ToSlash(rel))
			removed++
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("export: remove stale files: %w", err)
		}
		// Deepest first; a directory that is not empty stays.
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i]) //nolint:errcheck // not empty: kept
		}
	}
	return removed, nil
}

// removeStaleTemps deletes temporary files a crashed writer left behind.
func (x *Exporter) removeStaleTemps() {
	meta := filepath.Join(x.dir, exportMeta)
	entries, err := os.ReadDir(meta)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "tmp-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(meta, e.Name())) //nolint:errcheck // another replica may have taken it
		}
	}
}
