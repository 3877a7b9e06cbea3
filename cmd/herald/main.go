// Command herald is Kredete's incident communication hub: the public status
// page and its Statuspage-compatible API, on SQLite by default and
// PostgreSQL in production.
//
//	herald                 serve (same as `herald serve`)
//	herald migrate         apply database migrations and exit
//	herald check-config    validate the configuration and print a summary
//	herald demo-data       fill the database with 90 days of sample history
//	herald export DIR      write the status page, API and feeds to DIR as static files
//	herald healthcheck     exit 0 when the local server answers /readyz (for Docker)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	_ "time/tzdata" // zones work in a scratch or distroless image

	"github.com/kredete/herald"
	"github.com/kredete/herald/auth"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

const usage = `usage: herald [serve | migrate | check-config | demo-data | export DIR | healthcheck | user add]

  serve         serve the status page (the default)
  migrate       apply pending database migrations and exit
  check-config  validate HERALD_CONFIG (or the embedded default) and print a summary
  demo-data     add sample incidents and 90 days of status history (for demos and benchmarks)
  export DIR    write the status page, its API and feeds to DIR as static files (for object
                storage or a CDN) and exit; HERALD_EXPORT_DIR keeps DIR current while serving
  healthcheck   exit 0 when the server on HERALD_ADDR answers /readyz (Docker HEALTHCHECK)
  user add      add a console user: --email, --name, --phone, --role; the password
                from HERALD_USER_PASSWORD or --password-file

Configuration is read from the environment; see README.md.`

// run is the whole program: main only wires signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, stdout)
	case "migrate":
		st, err := openStore(ctx, cfg, store.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "herald: database is up to date")
		return nil
	case "check-config":
		plan, err := config.LoadPlan(cfg.ConfigFile)
		if err != nil {
			return err
		}
		printPlan(stdout, plan)
		return nil
	case "demo-data":
		return demoData(ctx, cfg, stdout)
	case "export":
		return exportCommand(ctx, cfg, args[1:], log, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv, stdout)
	case "user":
		return userCommand(ctx, cfg, args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func openStore(ctx context.Context, cfg config.Config, opts store.Options) (*store.Store, error) {
	dialect, dsn, err := config.SplitDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, dialect, dsn, opts)
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	start := time.Now()
	// The heap is small (tens of MB) and the hot path allocates little, so a
	// laxer GC (GOGC 200) trades a few MB for less CPU per request. Under
	// scripts/bench.sh's load GOGC 400 peaked at 46 MiB resident, 200 at 38
	// and 100 at 36, their throughput the same within the machine's noise
	// (2026-12-02). GOGC in the environment still wins.
	if getenvGOGC() == "" {
		debug.SetGCPercent(200)
	}
	// A lax GC lets garbage grow the heap to several times what is live: with
	// 1,000 open incidents (live ~20 MB, the snapshot rebuilt every minute)
	// that was ~100 MB resident idle. A soft limit makes the GC run earlier
	// instead (~68 MB resident, no measurable CPU; scripts/engine-bench.sh).
	// GOMEMLIMIT in the environment still wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
	plan, err := config.LoadPlan(cfg.ConfigFile)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(plan.Page.TimeZone)
	if err != nil {
		return fmt.Errorf("config: page.time_zone: %w", err)
	}
	st, err := openStore(ctx, cfg, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.AutoMigrate {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	} else if err := st.CheckSchema(ctx); err != nil {
		return err
	}
	if err := st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		return err
	}
	// The plan's exercise results join the log once; later starts add
	// only results added to the plan since.
	if err := st.SeedExercises(ctx, plan.Exercises.Results); err != nil {
		return err
	}
	assets, err := web.New()
	if err != nil {
		return fmt.Errorf("assets: %w", err)
	}
	site := publicSite(plan, loc, assets)
	public := handlers.NewPublic(&handlers.SnapshotBuilder{Source: st, Plan: plan, Site: site, Now: time.Now}, st, log)
	exporter, err := newExporter(cfg, public, assets, log)
	if err != nil {
		return err
	}
	// The database's health: asked every 2 s (and at once when a query
	// fails), each check given 2 s. While it does not answer the public
	// side serves the last snapshot with its age, /readyz stays ready and
	// the console says changes cannot be saved; all of it recovers by
	// itself when the database is back.
	health := st.NewHealth(log, dbCheckInterval, dbCheckTimeout)
	public.UseHealth(health)
	health.OnChange(public.Changed)
	if err := public.Refresh(ctx); err != nil {
		return fmt.Errorf("build the status page: %w", err)
	}
	if err := bootstrapAdmin(ctx, st, cfg, log); err != nil {
		return err
	}
	twilio, err := twilioCallback(cfg, log)
	if err != nil {
		return err
	}
	mailer, err := newSubscriptionMailer(cfg)
	if err != nil {
		return err
	}
	texter, err := newSubscriptionTexter(cfg)
	if err != nil {
		return err
	}
	inbound, err := twilioInbound(cfg, log)
	if err != nil {
		return err
	}
	slackApp := slackCommands(cfg, log)
	reg := newMetrics(st, plan, public, log)
	var requests handlers.RequestMetrics
	if requestMetrics {
		requests = reg
	}
	h := handlers.New(handlers.Deps{Metrics: reg.Handler(), MetricsToken: cfg.MetricsToken.Reveal(), Requests: requests,
		Slack: slackApp, SlackStore: st, Subscriptions: st, Mailer: mailer, PublicURL: cfg.PublicURL, SMSSignupsPerHour: cfg.SMSSignupsPerHour,
		Texter: texter, URLChecker: newURLChecker(log, cfg.WebhookAllow), TwilioInbound: inbound, TwilioCallback: twilio, DeliveryStatus: st, PagerDutyWebhook: pagerDutyWebhook(cfg),
		PagerDutyEvents: st, AutomationSecrets: config.Reveal(cfg.AutomationSecrets), Automation: st, Log: log, Plan: plan, Templates: plan.Templates, Location: loc, Site: site, ConsoleJS: assets.Path("js/console.js"),
		Public: public, Admin: st, Console: st, Sessions: st.SessionStore(), SecureCookie: cfg.CookieSecure,
		Hasher: auth.Hasher{Params: auth.DefaultParams}, AdminToken: cfg.AdminToken.Reveal(), Static: assets, TrustedProxies: cfg.TrustedProxies,
		Health: health})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// No WriteTimeout: server-sent event streams are long by design, and a
	// per-request write deadline measurably slows the hot path. A request,
	// body included, must arrive within 15 s (equal header and read timeouts
	// cost one deadline per request, not two); bodies are size-limited too.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 15 * time.Second, ReadTimeout: 15 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// Open pages hold event streams until they close: end them when the
	// server shuts down, or Shutdown waits out its timeout for every open
	// page (a rolling update would take 15 s a pod and exit with an error).
	srv.RegisterOnShutdown(public.Broker().Close)

	bg, cancel := context.WithCancel(ctx)
	defer cancel()
	// After the engine has stopped (deferred below, so run before this):
	// the export's last write finishes before serve returns.
	waitExport := runExporter(bg, exporter, log)
	defer func() {
		cancel()
		waitExport()
	}()
	if cfg.DebugAddr != "" {
		if err := serveDebug(bg, cfg.DebugAddr, log); err != nil {
			return err
		}
	}
	// Every replica writes the deliveries its writes cause, engine or
	// not: the replicas that run the engine send them.
	st.EnableDeliveries(plan)
	st.EnableFanout(true)
	paging := cfg.PagerDutyRoutingKey.Reveal() != ""
	st.EnablePaging(paging)
	if !paging && plan.PagerDuty.TriggerAt != "" {
		// The plan asks to page, but there is nothing to page with: say so
		// once here rather than fail a delivery on every incident.
		log.Warn("PagerDuty paging is off: the plan sets pagerduty.trigger_at but HERALD_PAGERDUTY_ROUTING_KEY is not set")
	}
	var eng *runningEngine
	if cfg.Engine {
		// The queue and the engine poll the database: during an outage
		// their failures are logged at debug (the monitor said it once).
		engLog := slog.New(quietWhileDown{next: log.Handler(), down: health.Down})
		if eng, err = startEngine(bg, cfg, plan, st, loc, engLog, public.Served, reg); err != nil {
			return err
		}
		defer func() {
			// On an error (a signal stops it below, with the server):
			// the deliveries in flight finish first.
			sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer scancel()
			eng.stop(sctx, cancel)
		}()
	}
	// Back from an outage, the engine reckons its clocks again at once.
	health.OnChange(eng.changed)
	go health.Run(bg)
	go st.Watch(bg, cfg.PollInterval, log, func() {
		public.Changed()
		eng.changed()
	})
	go public.Run(bg)

	// Start-up garbage (migrations, the first build, the compressed static
	// files, the routes) is returned to the OS once, so an idle Herald
	// stays small under the lax GC set above; while the page stays quiet,
	// so is the later garbage, every 15 s (memory.go).
	freeMemory()
	go returnIdleMemory(bg, public.Served, idleMemoryEvery, quietRequests, nil)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("herald ready", "addr", "http://"+ln.Addr().String(), "database", st.Dialect(),
		"startup", time.Since(start).Round(time.Millisecond), "components", len(plan.Components))
	fmt.Fprintf(stdout, "Herald is serving the %s status page on http://%s\n", plan.Page.Name, ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "within", cfg.ShutdownTimeout)
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer scancel()
	// The queue stops taking work now, and its deliveries in flight finish
	// while the server finishes its requests.
	engineStopped := make(chan struct{})
	go func() {
		defer close(engineStopped)
		eng.stop(sctx, cancel)
	}()
	err = srv.Shutdown(sctx)
	<-engineStopped
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func printPlan(w io.Writer, p herald.Plan) {
	fmt.Fprintf(w, "page: %s (%s, times in %s)\n", p.Page.Name, p.Page.URL, p.Page.TimeZone)
	fmt.Fprintf(w, "objectives: RTO %s, RPO %s, availability %.2f%%\n", p.Objectives.RTO, p.Objectives.RPO, p.Objectives.Availability*100)
	fmt.Fprintf(w, "components (%d):\n", len(p.Components))
	for _, c := range p.Components {
		fmt.Fprintf(w, "  - %s (%s)\n", c.Name, c.Key)
	}
	fmt.Fprintf(w, "communication plan (%d audiences):\n", len(p.Audiences))
	for _, a := range p.Audiences {
		cond := ""
		if a.Conditional {
			cond = ", if required"
		}
		fmt.Fprintf(w, "  - %s: %s, %s%s\n", a.Name, a.Description, a.Cadence, cond)
	}
	fmt.Fprintf(w, "failover: %d region, %d component, %d runbooks\n", len(p.Failover.Regions), len(p.Failover.Components), len(p.Failover.Runbooks))
	fmt.Fprintf(w, "DR exercises (%d, %d results to seed):\n", len(p.Exercises.Schedule), len(p.Exercises.Results))
	for _, e := range p.Exercises.Schedule {
		fmt.Fprintf(w, "  - %s: %s (%s)\n", e.Name, e.Frequency, e.Scope)
	}
}

// How often the database's health is checked, and how long a check may
// take before the database counts as unreachable.
const (
	dbCheckInterval = 2 * time.Second
	dbCheckTimeout  = 2 * time.Second
)

func getenvGOGC() string { return os.Getenv("GOGC") }
