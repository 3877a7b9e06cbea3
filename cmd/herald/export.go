package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/web"
)

// publicSite is what every public page shares: the plan's name and URL, its
// zone, and the hashed URLs of the assets.
func publicSite(plan herald.Plan, loc *time.Location, assets *web.Assets) components.Site {
	return components.Site{Name: plan.Page.Name, URL: plan.Page.URL, Location: loc,
		Assets: components.Assets{CSS: assets.Path("css/herald.css"), HTMX: assets.Path("js/htmx.min.js"), SSE: assets.Path("js/sse.min.js")}}
}

// exportCommand is `herald export [DIR]`: it reads the database as serve
// does (without writing to it), builds the status page's snapshot, writes
// it to DIR (or HERALD_EXPORT_DIR) as static files and exits.
func exportCommand(ctx context.Context, cfg config.Config, args []string, log *slog.Logger, stdout io.Writer) error {
	dir := cfg.ExportDir
	switch {
	case len(args) == 1 && !strings.HasPrefix(args[0], "-"):
		dir = filepath.Clean(args[0])
	case len(args) > 0:
		return fmt.Errorf("export: want one directory, got %q\nusage: herald export DIR", args)
	}
	if dir == "" {
		return errors.New("export: say where to write: herald export DIR (or set HERALD_EXPORT_DIR)")
	}
	plan, err := config.LoadPlan(cfg.ConfigFile)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(plan.Page.TimeZone)
	if err != nil {
		return fmt.Errorf("config: page.time_zone: %w", err)
	}
	if err := databaseExists(cfg); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckSchema(ctx); err != nil {
		return err
	}
	assets, err := web.New()
	if err != nil {
		return fmt.Errorf("assets: %w", err)
	}
	site := publicSite(plan, loc, assets)
	snap, err := (&handlers.SnapshotBuilder{Source: st, Plan: plan, Site: site, Now: time.Now}).Build(ctx)
	if err != nil {
		return fmt.Errorf("build the status page: %w", err)
	}
	x, err := handlers.NewExporter(dir, cfg.PublicURL, assets, log)
	if err != nil {
		return err
	}
	stats, err := x.Export(ctx, snap)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "herald: exported the %s status page to %s (%d files written, %d removed)\n",
		plan.Page.Name, dir, stats.Written, stats.Removed)
	return nil
}

// databaseExists refuses an SQLite file that is not there: opening it would
// create an empty database, and the export would fail on its schema with a
// less useful message.
func databaseExists(cfg config.Config) error {
	dialect, dsn, err := config.SplitDatabaseURL(cfg.DatabaseURL)
	if err != nil || dialect != store.SQLite || strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory") {
		return err
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export: there is no database at %s (HERALD_DATABASE_URL); run herald migrate or herald serve first", path)
	}
	return nil
}

// newExporter prepares HERALD_EXPORT_DIR, when set, and has every
// snapshot the public side puts in service offered to it (Offer returns at
// once: the request that caused a rebuild never waits for the files). Call
// it before the first Refresh, so the first snapshot is written too; nil
// when the export is off.
func newExporter(cfg config.Config, public *handlers.Public, assets *web.Assets, log *slog.Logger) (*handlers.Exporter, error) {
	if cfg.ExportDir == "" {
		return nil, nil
	}
	x, err := handlers.NewExporter(cfg.ExportDir, cfg.PublicURL, assets, log)
	if err != nil {
		return nil, err
	}
	public.OnRefresh(x.Offer)
	return x, nil
}

// runExporter writes the offered snapshots in its own goroutine until ctx
// ends. The returned function waits, a bounded time, for the write in
// progress when ctx ended, so no temporary file is left behind.
func runExporter(ctx context.Context, x *handlers.Exporter, log *slog.Logger) func() {
	if x == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.Run(ctx)
	}()
	log.Info("keeping a static copy of the status page", "dir", x.Dir())
	return func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			log.Warn("the static export did not finish within 10 s of the shutdown", "dir", x.Dir())
		}
	}
}
