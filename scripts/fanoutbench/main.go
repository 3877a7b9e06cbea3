// Command fanoutbench measures one public update fanned out to Herald's
// status-page subscribers, with Herald running as a separate process, as
// issue 6 asks: by default 100,000 confirmed email subscribers and 1,000
// webhook subscribers, all following every component. Use
// scripts/fanout-bench.sh, which runs it from the repository.
//
// It creates a fresh database (an SQLite file in a temporary directory, or
// with -pg a fresh PostgreSQL database, dropped afterwards), migrates it,
// syncs the default plan's components and stores the subscribers through
// the store package: the email subscribers with ImportSubscribers (as the
// console's CSV import does), the webhook subscribers with Subscribe and
// ConfirmSubscriber (as the sign-up does; an import refuses webhooks), each
// at https://127.0.0.1:PORT/hook/N with its own signing secret.
//
// In this process it runs the two receivers:
//   - an SMTP server (github.com/emersion/go-smtp, as comms/email/smtptest)
//     that keeps no message: it reads each message's header, counts the
//     messages per recipient against the subscribers' addresses, and
//     discards the body (smtptest keeps every message in memory and has no
//     counting mode);
//   - comms/webhook/webhooktest's TLS receiver, with each subscriber's
//     secret registered for its path so that every post's signature is
//     checked; its Requests channel is drained here, each post counted per
//     subscriber and kind (incident or component notification) and its
//     Idempotency-Key checked for repeats. Its certificate is written to a
//     PEM file that Herald trusts through SSL_CERT_FILE (crypto/x509 reads
//     it on Linux), and HERALD_WEBHOOK_ALLOW=127.0.0.1/32 lets Herald post
//     to the loopback address.
//
// It builds ./cmd/herald (or runs -herald) with HERALD_DATABASE_URL,
// HERALD_SMTP_URL, HERALD_ADMIN_TOKEN, HERALD_SUBSCRIBER_EMAIL_RATE,
// HERALD_SUBSCRIBER_WEBHOOK_RATE, HERALD_SUBSCRIBER_WORKERS from the flags,
// waits for /readyz, and then:
//
//  1. idle: `wrk -t2 -c64 -d10s --latency http://ADDR/` (after a warm-up);
//  2. declares a major incident on one component through the admin API
//     (POST /admin/api/incidents): a public update, so an email to every
//     email subscriber, and an incident notification and a component
//     notification to every webhook subscriber;
//  3. runs the same wrk at once, and, if the fan-out is still expected to
//     run for longer than a wrk run once half of it is delivered, again
//     from there; meanwhile it samples Herald's VmRSS every 0.5 s;
//  4. waits (at most -timeout) until every subscriber has its mail and
//     every webhook its two posts, then a few seconds more for repeats;
//  5. runs wrk once more with the fan-out over ("idle after": the page now
//     shows the incident, as it did during the fan-out);
//  6. stops Herald and reads the incident's subscriber deliveries from the
//     database (sent, failed, skipped).
//
// It prints a markdown report (one summary row, then the wrk runs, memory
// and the checks) and writes it to bench-results/fanout-YYYYmmdd-HHMMSS.md.
// Targets (issue 6): Herald under 150 MB resident (VmHWM) at 100,000
// subscribers, not growing with their number (compare a run with -emails
// 20000), and the page's throughput during the fan-out within 10% of idle.
// wrk, Herald and both receivers share the machine, so the report gives the
// CPU each used during each wrk run.
//
// Needs: go, wrk; PostgreSQL at HERALD_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) for -pg.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/webhook/webhooktest"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/scripts/internal/benchkit"
	"github.com/kredete/herald/store"
)

const (
	adminToken   = "fanoutbench-admin-token-0123456789"
	componentKey = "api-platform"
	incidentName = "Fan-out benchmark: card payments failing"
	rssEvery     = 500 * time.Millisecond
	readyTimeout = 2 * time.Minute
	stopTimeout  = 20 * time.Second
	repeatGrace  = 3 * time.Second // after the last expected message, how long to watch for repeats
	maxRSSBytes  = 150_000_000     // issue 6: under 150 MB resident
	minRatio     = 0.90            // issue 6: the page within 10% of idle
)

type options struct {
	emails, webhooks int
	pg               bool
	emailRate        float64
	webhookRate      float64
	workers          int
	timeout          time.Duration
	wrkDuration      time.Duration
	wrkThreads       int
	wrkConns         int
	heraldBin        string
	outDir           string
	keep             bool
	env              []string
	quietWait        time.Duration
	quietMax         float64
	idleTries        int
	duringRuns       int
}

type envFlag struct{ o *options }

func (f envFlag) String() string { return "" }
func (f envFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return errors.New("want KEY=VALUE")
	}
	f.o.env = append(f.o.env, v)
	return nil
}

func main() {
	var o options
	flag.IntVar(&o.emails, "emails", 100000, "confirmed email subscribers")
	flag.IntVar(&o.webhooks, "webhooks", 1000, "confirmed webhook subscribers")
	flag.BoolVar(&o.pg, "pg", false, "use a fresh PostgreSQL database (HERALD_TEST_POSTGRES_URL or "+benchkit.DefaultPostgres+") instead of SQLite")
	// The defaults let herald go as fast as it can here (100,000 + 1,000
	// in about 4 minutes on SQLite, 7 on PostgreSQL, 2 cores): the rates
	// at Herald's maximum, and 100 workers, since each worker takes at
	// most about 10 messages a second (River fetches every 100 ms).
	flag.Float64Var(&o.emailRate, "email-rate", 100000, "HERALD_SUBSCRIBER_EMAIL_RATE: subscriber emails per second (Herald accepts up to 100000)")
	flag.Float64Var(&o.webhookRate, "webhook-rate", 100000, "HERALD_SUBSCRIBER_WEBHOOK_RATE: webhook calls per second")
	flag.IntVar(&o.workers, "workers", 100, "HERALD_SUBSCRIBER_WORKERS: concurrent subscriber sends")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up waiting for the fan-out after this long")
	flag.DurationVar(&o.wrkDuration, "wrk-duration", 10*time.Second, "wrk -d")
	flag.IntVar(&o.wrkThreads, "wrk-threads", 2, "wrk -t")
	flag.IntVar(&o.wrkConns, "wrk-conns", 64, "wrk -c")
	flag.StringVar(&o.heraldBin, "herald", "", "herald binary to run (default: build ./cmd/herald)")
	flag.StringVar(&o.outDir, "out", "bench-results", "directory for the report")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (herald.log, wrk output, RSS samples, SQLite file) and the PostgreSQL database")
	flag.DurationVar(&o.quietWait, "quiet-wait", 2*time.Minute, "before the idle runs, the declaration and the second run, wait at most this long for the rest of the machine to go quiet")
	flag.IntVar(&o.duringRuns, "during-runs", 2, "wrk runs during the fan-out: one at once, the others spread over it (each while a run's worth of fan-out is left)")
	flag.IntVar(&o.idleTries, "idle-tries", 3, "repeat a disturbed idle run up to this many runs in all, keeping the least disturbed")
	flag.Float64Var(&o.quietMax, "quiet-max", 0.25, "quiet: the rest of the machine uses less than this many cores")
	flag.Var(envFlag{&o}, "env", "extra KEY=VALUE for herald's environment, e.g. GOMEMLIMIT=100MiB (repeatable)")
	flag.Parse()
	if o.emails < 1 || o.webhooks < 0 || o.workers < 1 || o.emailRate <= 0 || o.webhookRate <= 0 {
		fmt.Fprintln(os.Stderr, "fanoutbench: -emails must be at least 1, -webhooks at least 0, -workers at least 1, rates above 0")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c benchkit.Cleanups
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintln(os.Stderr, "fanoutbench:", r)
				code = 1
			}
		}()
		ok, err := run(ctx, o, &c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fanoutbench:", err)
			code = 1
		} else if !ok {
			code = 1
		}
	}()
	c.Run()
	os.Exit(code)
}

// fakeTB lets webhooktest run outside a test: it only registers cleanups.
type fakeTB struct {
	testing.TB
	c *benchkit.Cleanups
}

func (t fakeTB) Helper()                           {}
func (t fakeTB) Cleanup(f func())                  { t.c.Add(f) }
func (t fakeTB) Logf(format string, args ...any)   { logf(format, args...) }
func (t fakeTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t fakeTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fanoutbench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// result is everything the report needs.
type result struct {
	o            options
	started      time.Time
	load0, load1 string
	dialect      string
	seedEmails   time.Duration
	seedHooks    time.Duration
	readyIn      time.Duration
	incidentID   string
	t0           time.Time // the declaration was sent
	declareTook  time.Duration
	emailsDone   time.Time // the last subscriber's first mail arrived (zero: not all)
	hooksDone    time.Time
	firstMail    time.Time
	timedOut     bool
	idleRSSKB    int64 // before the declaration, after the idle wrk
	hwmBeforeKB  int64 // VmHWM before the declaration
	hwmKB        int64 // VmHWM at the end (the whole life)
	afterRSSKB   int64 // VmRSS at the end
	samples      []rssSample
	heraldCPU    time.Duration // during the fan-out (declaration → all delivered)
	benchCPU     time.Duration // this process (the receivers), same window
	pgCPU        time.Duration // our PostgreSQL backends, same window
	fanoutOthers float64       // cores the rest of the machine used, same window (wrk included)
	quietDeclare float64       // the rest of the machine in the second before the declaration
	fanoutWall   time.Duration
	wrk          []wrkResult
	wrk2Note     string
	mail         mailStats
	hooks        hookStats
	counts       map[herald.Channel]map[herald.DeliveryState]int
	countsErr    error
	heraldLogErr []string // warn/error lines of herald's log (first few)
	heraldErrN   int
}

type rssSample struct {
	at  time.Duration // since the declaration
	kb  int64
	cpu time.Duration // herald's CPU time so far
}

func run(ctx context.Context, o options, c *benchkit.Cleanups) (bool, error) {
	r := &result{o: o, started: time.Now(), load0: benchkit.LoadAvg(), dialect: store.SQLite}
	if o.pg {
		r.dialect = store.Postgres
	}
	repo, err := benchkit.RepoRoot()
	if err != nil {
		return false, err
	}
	for _, tool := range []string{"wrk", "go"} {
		if _, err := exec.LookPath(tool); err != nil && !(tool == "go" && o.heraldBin != "") {
			return false, fmt.Errorf("%s is not installed (apt-get install -y %s)", tool, tool)
		}
	}
	tmp, err := os.MkdirTemp("", "herald-fanoutbench-")
	if err != nil {
		return false, err
	}
	c.Add(func() {
		if o.keep {
			logf("kept %s", tmp)
			return
		}
		os.RemoveAll(tmp)
	})
	if o.heraldBin == "" {
		o.heraldBin = filepath.Join(tmp, "herald")
		logf("building %s", o.heraldBin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.heraldBin, "./cmd/herald")
		cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if err := cmd.Run(); err != nil {
			return false, fmt.Errorf("go build ./cmd/herald: %w", err)
		}
	}

	// The receivers first: the webhook subscribers' URLs carry the port.
	mail, err := startMailSink(o.emails)
	if err != nil {
		return false, err
	}
	c.Add(mail.close)
	hooks, certFile, err := startHookSink(c, o.webhooks, tmp)
	if err != nil {
		return false, err
	}

	// The database and the subscribers.
	dbURL, err := benchkit.FreshDatabase(ctx, c, r.dialect == store.Postgres, tmp, "herald_fanoutbench", o.keep, logf)
	if err != nil {
		return false, err
	}
	if err := seed(ctx, r, dbURL, mail, hooks); err != nil {
		return false, err
	}

	// Herald.
	p, err := startHerald(ctx, o, tmp, dbURL, mail.url(), certFile)
	if err != nil {
		return false, err
	}
	c.Add(func() { p.Stop(stopTimeout) })
	r.readyIn = p.ReadyIn
	mt := &meter{herald: p.PID}
	if r.dialect == store.Postgres {
		u, _ := url.Parse(dbURL)
		mt.pgDB = strings.TrimPrefix(u.Path, "/")
	}
	logf("herald (pid %d) ready on %s in %s", p.PID, p.Addr, p.ReadyIn.Round(time.Millisecond))
	base := "http://" + p.Addr
	for range 50 { // warm-up: the first requests fill caches and buffers
		if err := get(base + "/"); err != nil {
			return false, fmt.Errorf("GET /: %w", err)
		}
	}
	time.Sleep(time.Second)

	// Idle.
	progress := func() int { return mail.subscribersDone() + hooks.postsDone() }
	idle, err := idleWrk(ctx, o, tmp, base+"/", "idle (before)", mt, progress)
	if err != nil {
		return false, err
	}
	r.wrk = append(r.wrk, idle)
	time.Sleep(2 * time.Second)
	r.idleRSSKB = benchkit.StatusKB(p.PID, "VmRSS")
	r.hwmBeforeKB = benchkit.StatusKB(p.PID, "VmHWM")
	r.quietDeclare = mt.waitQuiet(ctx, o.quietWait, o.quietMax, "the declaration")

	// The fan-out.
	sampler := startSampler(p.PID)
	cpu0 := mt.snap()
	r.t0 = time.Now()
	sampler.setZero(r.t0)
	mail.startClock(r.t0)
	r.incidentID, err = declare(base)
	if err != nil {
		sampler.stop()
		return false, err
	}
	r.declareTook = time.Since(r.t0)
	hooks.expectIncident(r.incidentID)
	logf("declared incident %s in %s; fan-out to %d emails and %d webhooks", r.incidentID, r.declareTook.Round(time.Millisecond),
		o.emails, o.webhooks)
	// The runs during the fan-out, one after another: the first at once,
	// then o.duringRuns-1 more, the i-th from i/o.duringRuns of the way
	// (after waiting for a quiet machine, if that leaves a run's worth of
	// fan-out), while a run's worth is left.
	var fanoutOver atomic.Bool
	type runsDone struct {
		res  []wrkResult
		note string
		err  error
	}
	runs := make(chan runsDone, 1)
	go func() {
		var out runsDone
		defer func() { runs <- out }()
		w, err := runWrk(ctx, o, tmp, base+"/", "during fan-out #1", mt, r.t0, progress)
		if err != nil {
			out.err = err
			return
		}
		out.res = append(out.res, w)
		total := o.emails + 2*o.webhooks
		for i := 1; i < o.duringRuns; i++ {
			for !fanoutOver.Load() && progress()*o.duringRuns < i*total && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			got, elapsed := progress(), time.Since(r.t0)
			if fanoutOver.Load() || got == 0 {
				out.note = fmt.Sprintf("the fan-out was over before run #%d could start", i+1)
				return
			}
			left := time.Duration(float64(elapsed) * float64(total-got) / float64(got))
			if left <= o.wrkDuration {
				out.note = fmt.Sprintf("before run #%d (%s in) about %s of the fan-out were left, less than a run", i+1,
					elapsed.Round(time.Second), left.Round(time.Second))
				return
			}
			q := mt.waitQuiet(ctx, min(o.quietWait, (left-o.wrkDuration)/2), o.quietMax, fmt.Sprintf("run #%d", i+1))
			if fanoutOver.Load() {
				out.note = fmt.Sprintf("the fan-out was over before run #%d could start", i+1)
				return
			}
			w, err := runWrk(ctx, o, tmp, base+"/", fmt.Sprintf("during fan-out #%d", i+1), mt, r.t0, progress)
			if err != nil {
				out.err = err
				return
			}
			w.quietBefore = q
			out.res = append(out.res, w)
		}
	}()
	deadline := r.t0.Add(o.timeout)
	lastLog := time.Now()
	for {
		now := time.Now()
		if r.emailsDone.IsZero() {
			if at, ok := mail.doneAt(); ok {
				r.emailsDone = at
				logf("every email subscriber has its mail: %s", at.Sub(r.t0).Round(time.Millisecond))
			}
		}
		if r.hooksDone.IsZero() {
			if at, ok := hooks.doneAt(); ok {
				r.hooksDone = at
				logf("every webhook subscriber has both notifications: %s", at.Sub(r.t0).Round(time.Millisecond))
			}
		}
		if !r.emailsDone.IsZero() && !r.hooksDone.IsZero() {
			break
		}
		if now.After(deadline) {
			r.timedOut = true
			logf("timed out after %s", o.timeout)
			break
		}
		if ctx.Err() != nil {
			sampler.stop()
			return false, ctx.Err()
		}
		if now.Sub(lastLog) >= 5*time.Second {
			lastLog = now
			logf("%s: mails %d/%d, webhook posts %d/%d, herald RSS %.1f MiB", now.Sub(r.t0).Round(time.Second),
				mail.subscribersDone(), o.emails, hooks.postsDone(), 2*o.webhooks, benchkit.MiB(benchkit.StatusKB(p.PID, "VmRSS")))
		}
		if err := p.Alive(); err != nil {
			sampler.stop()
			return false, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	fanoutOver.Store(true)
	end := time.Now()
	if !r.timedOut {
		end = later(r.emailsDone, r.hooksDone)
	}
	r.fanoutWall = end.Sub(r.t0)
	cpu1 := mt.snap()
	r.heraldCPU, r.benchCPU, r.pgCPU = cpu1.herald-cpu0.herald, cpu1.bench-cpu0.bench, cpu1.pg-cpu0.pg
	r.fanoutOthers = mt.between(cpu0, cpu1, time.Since(r.t0), 0).others
	d := <-runs
	if d.err != nil {
		sampler.stop()
		return false, d.err
	}
	r.wrk = append(r.wrk, d.res...)
	r.wrk2Note = d.note
	time.Sleep(repeatGrace)

	// Idle again, the page as it was during the fan-out.
	if !r.timedOut {
		after, err := idleWrk(ctx, o, tmp, base+"/", "idle (after)", mt, progress)
		if err != nil {
			sampler.stop()
			return false, err
		}
		r.wrk = append(r.wrk, after)
	}
	r.samples = sampler.stop()
	r.hwmKB = benchkit.StatusKB(p.PID, "VmHWM")
	r.afterRSSKB = benchkit.StatusKB(p.PID, "VmRSS")
	r.mail = mail.stats()
	r.hooks = hooks.stats()
	p.Stop(stopTimeout)
	r.heraldErrN, r.heraldLogErr = benchkit.LogProblems(p.LogFile)

	// What Herald recorded.
	if dialect, dsn, err := config.SplitDatabaseURL(dbURL); err == nil {
		if st, err := store.Open(ctx, dialect, dsn, store.Options{}); err == nil {
			r.counts, r.countsErr = st.SubscriberDeliveryCounts(ctx, r.incidentID)
			st.Close()
		} else {
			r.countsErr = err
		}
	}
	r.load1 = benchkit.LoadAvg()

	text, ok := r.markdown()
	fmt.Print(text)
	dir := o.outDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repo, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ok, err
	}
	name := filepath.Join(dir, "fanout-"+r.started.Format("20060102-150405")+".md")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		return ok, err
	}
	logf("wrote %s", name)
	return ok, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func get(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// --- Database ----------------------------------------------------------------

// seed migrates the database, syncs the default plan's components (as
// herald's start does) and stores the subscribers, confirmed, following
// every component.
func seed(ctx context.Context, r *result, dbURL string, mail *mailSink, hooks *hookSink) error {
	dialect, dsn, err := config.SplitDatabaseURL(dbURL)
	if err != nil {
		return err
	}
	plan, err := config.LoadPlan("")
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dialect, dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := st.SyncComponents(ctx, plan.Groups, plan.Components); err != nil {
		return err
	}
	began := time.Now()
	rows := make([]herald.CSVSubscriber, len(mail.addrs))
	for i, a := range mail.addrs {
		rows[i] = herald.CSVSubscriber{Channel: "email", Address: a}
	}
	res, err := st.ImportSubscribers(ctx, rows, "fanoutbench")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if res.Imported != len(rows) {
		return fmt.Errorf("import: %d of %d stored: %+v", res.Imported, len(rows), res)
	}
	r.seedEmails = time.Since(began)
	logf("%s: %d email subscribers imported in %s", dialect, len(rows), r.seedEmails.Round(time.Millisecond))
	began = time.Now()
	for i := range r.o.webhooks {
		sr, err := st.Subscribe(ctx, herald.SubscriptionRequest{Channel: herald.SubscriberWebhook,
			Address: fmt.Sprintf("%s/hook/%d", hooks.srv.URL, i), AllComponents: true,
			OwnerEmail: fmt.Sprintf("owner%04d@clients.example", i)}, time.Now())
		if err != nil {
			return fmt.Errorf("webhook subscriber %d: %w", i, err)
		}
		if _, err := st.ConfirmSubscriber(ctx, sr.Token); err != nil {
			return fmt.Errorf("confirm webhook subscriber %d: %w", i, err)
		}
		hooks.srv.Secret(fmt.Sprintf("/hook/%d", i), sr.Subscriber.WebhookSecret)
	}
	r.seedHooks = time.Since(began)
	logf("%s: %d webhook subscribers signed up and confirmed in %s", dialect, r.o.webhooks, r.seedHooks.Round(time.Millisecond))
	return nil
}

// --- SMTP sink -----------------------------------------------------------------

// mailSink is an SMTP server that counts messages per recipient and keeps
// none.
type mailSink struct {
	addrs []string // the subscribers' addresses, in order
	srv   *smtp.Server
	ln    net.Listener

	mu       sync.Mutex
	t0       time.Time
	per      map[string]int32 // subscriber address → messages
	done     int              // subscribers with at least one
	repeats  int              // messages beyond a subscriber's first
	others   map[string]int   // recipients who are not subscribers
	noUnsub  int              // subscriber messages without List-Unsubscribe
	badHdr   int              // messages whose header did not parse
	subject  string           // a subscriber message's subject
	first    time.Time        // the first subscriber message
	last     time.Time        // the message that completed the set
	messages int
}

func startMailSink(n int) (*mailSink, error) {
	s := &mailSink{addrs: make([]string, n), per: make(map[string]int32, n), others: map[string]int{}}
	for i := range n {
		a := fmt.Sprintf("client%06d@clients.example", i)
		s.addrs[i] = a
		s.per[a] = 0
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{s: s}, nil }))
	s.srv.Domain = "fanoutbench.localhost"
	s.srv.MaxRecipients = 1000
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go s.srv.Serve(ln) //nolint:errcheck
	return s, nil
}

// url is the server as a HERALD_SMTP_URL.
func (s *mailSink) url() string {
	return "smtp://" + s.ln.Addr().String() + "?from=herald%40example.com&tls=none"
}

func (s *mailSink) close() { s.srv.Close() }

func (s *mailSink) startClock(t0 time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t0 = t0
}

func (s *mailSink) subscribersDone() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *mailSink) doneAt() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.done == len(s.addrs)
}

type mailStats struct {
	messages, done, repeats, noUnsub, badHdr int
	others                                   map[string]int
	subject                                  string
	first                                    time.Time
}

func (s *mailSink) stats() mailStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mailStats{messages: s.messages, done: s.done, repeats: s.repeats, noUnsub: s.noUnsub, badHdr: s.badHdr,
		others: maps(s.others), subject: s.subject, first: s.first}
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *mailSink) record(to []string, h textproto.MIMEHeader, hdrErr error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages++
	if hdrErr != nil {
		s.badHdr++
	}
	for _, a := range to {
		a = strings.ToLower(a)
		n, ok := s.per[a]
		if !ok {
			s.others[a]++
			continue
		}
		s.per[a] = n + 1
		if n > 0 {
			s.repeats++
			continue
		}
		s.done++
		if s.first.IsZero() {
			s.first = now
		}
		if s.done == len(s.addrs) {
			s.last = now
		}
		if h.Get("List-Unsubscribe") == "" {
			s.noUnsub++
		}
		if s.subject == "" {
			s.subject = h.Get("Subject")
		}
	}
}

type mailSession struct {
	s  *mailSink
	to []string
}

func (ss *mailSession) Reset()                               { ss.to = nil }
func (ss *mailSession) Logout() error                        { return nil }
func (ss *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

// Data reads the header, counts the message and throws the body away.
func (ss *mailSession) Data(r io.Reader) error {
	br := bufio.NewReader(r)
	h, err := textproto.NewReader(br).ReadMIMEHeader()
	if _, cerr := io.Copy(io.Discard, br); cerr != nil {
		return cerr
	}
	ss.s.record(ss.to, h, err)
	return nil
}

// --- Webhook sink ----------------------------------------------------------------

// hookSink drains a webhooktest TLS receiver and counts, per subscriber,
// the incident and component notifications it got.
type hookSink struct {
	srv  *webhooktest.Server
	n    int
	stop chan struct{}
	wg   sync.WaitGroup

	mu          sync.Mutex
	incidentID  string
	incident    []int32 // per subscriber
	component   []int32
	incDone     int
	compDone    int
	repeats     int
	sigErrs     int
	badPath     int
	unknownKind int
	incidents   map[string]int // incident ids seen in incident notifications
	statuses    map[string]int // component notifications' new_status
	keys        map[string]bool
	repeatKeys  int
	noKey       int
	drained     int
	first, last time.Time
}

var hookPath = regexp.MustCompile(`^/hook/(\d+)$`)

func startHookSink(c *benchkit.Cleanups, n int, tmp string) (*hookSink, string, error) {
	s := &hookSink{srv: webhooktest.NewTLS(fakeTB{c: c}, "no-subscriber-has-this-secret"), n: n, stop: make(chan struct{}),
		incident: make([]int32, n), component: make([]int32, n), incidents: map[string]int{}, statuses: map[string]int{},
		keys: make(map[string]bool, 2*n)}
	s.wg.Add(1)
	go s.drain()
	c.Add(func() { close(s.stop); s.wg.Wait() })
	// The certificate, as the server presents it, for SSL_CERT_FILE.
	host := strings.TrimPrefix(s.srv.URL, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // fetching the test server's own certificate
	if err != nil {
		return nil, "", fmt.Errorf("webhook receiver: %w", err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	certFile := filepath.Join(tmp, "webhook-receiver.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o644); err != nil {
		return nil, "", err
	}
	// Check that the file alone is enough to trust the receiver.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, "", errors.New("webhook receiver: the certificate does not load")
	}
	conn, err = tls.Dial("tcp", host, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, "", fmt.Errorf("webhook receiver: its own certificate does not verify it: %w", err)
	}
	conn.Close()
	return s, certFile, nil
}

func (s *hookSink) expectIncident(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incidentID = id
}

func (s *hookSink) drain() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case req := <-s.srv.Requests:
			s.record(req)
		}
	}
}

func (s *hookSink) record(req webhooktest.Request) {
	var body struct {
		Incident *struct {
			ID string `json:"id"`
		} `json:"incident"`
		ComponentUpdate *struct {
			NewStatus string `json:"new_status"`
		} `json:"component_update"`
	}
	jerr := json.Unmarshal(req.Body, &body)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drained++
	if s.first.IsZero() {
		s.first = now
	}
	if req.SignatureErr != nil {
		s.sigErrs++
	}
	if k := req.Header.Get("Idempotency-Key"); k == "" {
		s.noKey++
	} else if s.keys[k] {
		s.repeatKeys++
	} else {
		s.keys[k] = true
	}
	m := hookPath.FindStringSubmatch(req.Path)
	i := -1
	if m != nil {
		i, _ = strconv.Atoi(m[1])
	}
	if i < 0 || i >= s.n {
		s.badPath++
		return
	}
	var counts []int32
	var done *int
	switch {
	case jerr == nil && body.Incident != nil:
		counts, done = s.incident, &s.incDone
		s.incidents[body.Incident.ID]++
	case jerr == nil && body.ComponentUpdate != nil:
		counts, done = s.component, &s.compDone
		s.statuses[body.ComponentUpdate.NewStatus]++
	default:
		s.unknownKind++
		return
	}
	counts[i]++
	if counts[i] > 1 {
		s.repeats++
		return
	}
	*done++
	if s.incDone == s.n && s.compDone == s.n {
		s.last = now
	}
}

func (s *hookSink) postsDone() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.incDone + s.compDone
}

func (s *hookSink) doneAt() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return time.Now(), true
	}
	return s.last, s.incDone == s.n && s.compDone == s.n
}

type hookStats struct {
	received, drained, incDone, compDone, repeats, sigErrs, badPath, unknownKind, repeatKeys, noKey int
	incidents, statuses                                                                             map[string]int
	incidentID                                                                                      string
	first                                                                                           time.Time
}

func (s *hookSink) stats() hookStats {
	received := s.srv.Count()
	s.mu.Lock()
	defer s.mu.Unlock()
	return hookStats{received: received, drained: s.drained, incDone: s.incDone, compDone: s.compDone, repeats: s.repeats,
		sigErrs: s.sigErrs, badPath: s.badPath, unknownKind: s.unknownKind, repeatKeys: s.repeatKeys, noKey: s.noKey,
		incidents: maps(s.incidents), statuses: maps(s.statuses), incidentID: s.incidentID, first: s.first}
}

// --- Herald ----------------------------------------------------------------------

func startHerald(ctx context.Context, o options, tmp, dbURL, smtpURL, certFile string) (*benchkit.Herald, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := append(benchkit.BaseEnv(tmp),
		"HERALD_ADDR="+addr,
		"HERALD_PUBLIC_URL=http://"+addr,
		"HERALD_DATABASE_URL="+dbURL,
		"HERALD_ADMIN_TOKEN="+adminToken,
		"HERALD_SMTP_URL="+smtpURL,
		"HERALD_SUBSCRIBER_EMAIL_RATE="+strconv.FormatFloat(o.emailRate, 'f', -1, 64),
		"HERALD_SUBSCRIBER_WEBHOOK_RATE="+strconv.FormatFloat(o.webhookRate, 'f', -1, 64),
		"HERALD_SUBSCRIBER_WORKERS="+strconv.Itoa(o.workers),
		"HERALD_WEBHOOK_ALLOW=127.0.0.1/32",
		"SSL_CERT_FILE="+certFile,
	)
	env = append(env, o.env...)
	return benchkit.StartHerald(ctx, o.heraldBin, nil, env, addr, filepath.Join(tmp, "herald.log"), readyTimeout)
}

// declare declares a major incident on one component through the admin
// API and returns its id.
func declare(base string) (string, error) {
	body := `{"name":"` + incidentName + `","impact":"major","body":"We are investigating failed card payments.",` +
		`"components":[{"id":"` + componentKey + `","status":"partial_outage"}]}`
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/api/incidents", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("declare: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	id, ok := strings.CutPrefix(resp.Header.Get("Location"), "/incidents/")
	if resp.StatusCode != http.StatusCreated || !ok {
		return "", fmt.Errorf("declare: %d %s", resp.StatusCode, b)
	}
	return id, nil
}

// --- /proc -----------------------------------------------------------------------

// procCPU is a process's user+system CPU time; 0 once it is gone.
func procCPU(pid int) time.Duration {
	d, _ := benchkit.ProcCPU(pid)
	return d
}

// meter reads the CPU time of herald, of this process (the receivers), of
// the PostgreSQL backends serving the benchmark's database (their process
// title names it) and of the whole machine.
type meter struct {
	herald int
	pgDB   string // "" on SQLite
}

type cpuSnap struct {
	herald, bench, pg, machine time.Duration
}

func (m *meter) snap() cpuSnap {
	return cpuSnap{herald: procCPU(m.herald), bench: procCPU(os.Getpid()), pg: m.pgCPU(), machine: benchkit.MachineBusy()}
}

// pgCPU sums the CPU time of the PostgreSQL backends connected to the
// benchmark's database (a backend that exited meanwhile is lost).
func (m *meter) pgCPU() time.Duration { return benchkit.PostgresCPU(m.pgDB) }

// usage is what one window saw, in cores: others is the rest of the
// machine (not herald, this process, our PostgreSQL backends or extra,
// e.g. wrk's own CPU).
type usage struct {
	herald, bench, pg, others float64
}

func (m *meter) between(a, b cpuSnap, wall time.Duration, extra time.Duration) usage {
	w := wall.Seconds()
	return usage{herald: (b.herald - a.herald).Seconds() / w, bench: (b.bench - a.bench).Seconds() / w,
		pg:     (b.pg - a.pg).Seconds() / w,
		others: max(0, ((b.machine-a.machine)-(b.herald-a.herald)-(b.bench-a.bench)-(b.pg-a.pg)-extra).Seconds()/w)}
}

// waitQuiet waits, at most for limit, until the rest of the machine (not
// herald, this process or our PostgreSQL backends) used less than maxCores
// over a second; it returns the last second's figure.
func (m *meter) waitQuiet(ctx context.Context, limit time.Duration, maxCores float64, what string) float64 {
	began := time.Now()
	last := 0.0
	for {
		a := m.snap()
		t := time.Now()
		select {
		case <-ctx.Done():
			return last
		case <-time.After(time.Second):
		}
		last = m.between(a, m.snap(), time.Since(t), 0).others
		if last < maxCores {
			return last
		}
		if time.Since(began) >= limit {
			logf("note: before %s the rest of the machine still uses %.2f cores after %s; running anyway", what, last, limit)
			return last
		}
	}
}

// sampler reads herald's VmRSS every rssEvery.
type sampler struct {
	mu      sync.Mutex
	zero    time.Time
	samples []rssSample
	quit    chan struct{}
	done    chan struct{}
}

func startSampler(pid int) *sampler {
	s := &sampler{zero: time.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	// The first sample now, so that one precedes the declaration.
	s.samples = append(s.samples, rssSample{kb: benchkit.StatusKB(pid, "VmRSS"), cpu: procCPU(pid)})
	go func() {
		defer close(s.done)
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
			kb, cpu := benchkit.StatusKB(pid, "VmRSS"), procCPU(pid)
			s.mu.Lock()
			s.samples = append(s.samples, rssSample{at: time.Since(s.zero), kb: kb, cpu: cpu})
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sampler) setZero(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := t.Sub(s.zero)
	for i := range s.samples {
		s.samples[i].at -= d
	}
	s.zero = t
}

func (s *sampler) stop() []rssSample {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// --- wrk -------------------------------------------------------------------------

type wrkResult struct {
	label        string
	start, end   time.Time
	rps          float64
	p50, p99     float64 // ms
	requests     int
	non2xx       int
	socketErrors string
	heraldCores  float64 // herald's CPU over the run, in cores
	benchCores   float64 // this process (the receivers)
	pgCores      float64 // PostgreSQL backends of the benchmark's database
	otherCores   float64 // the rest of the machine (none of the above, not wrk)
	wrkCores     float64
	quietBefore  float64 // the rest of the machine in the second before (idle runs: after waiting for quiet)
	delivered    int     // subscriber messages delivered during the run
	bytesPerReq  float64 // wrk's bytes read (headers and body) per request
}

// idleWrk runs wrk on a quiet machine if it can: after waiting for quiet;
// a run that other processes disturbed all the same is repeated (at most
// -idle-tries runs), and the least disturbed one kept.
func idleWrk(ctx context.Context, o options, tmp, u, label string, mt *meter, progress func() int) (wrkResult, error) {
	var best wrkResult
	for i := range max(o.idleTries, 1) {
		q := mt.waitQuiet(ctx, o.quietWait, o.quietMax, label)
		w, err := runWrk(ctx, o, tmp, u, label, mt, time.Time{}, progress)
		if err != nil {
			return w, err
		}
		w.quietBefore = q
		if i == 0 || w.otherCores < best.otherCores {
			best = w
		}
		if best.otherCores <= o.quietMax {
			break
		}
		logf("wrk: %s was disturbed (the rest of the machine used %.2f cores); again", label, w.otherCores)
	}
	return best, nil
}

func runWrk(ctx context.Context, o options, tmp, u, label string, mt *meter, t0 time.Time, progress func() int) (wrkResult, error) {
	w := wrkResult{label: label, quietBefore: -1}
	if t0.IsZero() {
		logf("wrk: %s", label)
	} else {
		logf("wrk: %s, %s after the declaration", label, time.Since(t0).Round(100*time.Millisecond))
	}
	name := filepath.Join(tmp, "wrk-"+strings.NewReplacer(" ", "-", "(", "", ")", "", "#", "").Replace(label)+".txt")
	cmd := exec.CommandContext(ctx, "wrk", "-t"+strconv.Itoa(o.wrkThreads), "-c"+strconv.Itoa(o.wrkConns),
		"-d"+strconv.Itoa(int(o.wrkDuration.Seconds()))+"s", "--latency", u)
	c0, d0 := mt.snap(), progress()
	w.start = time.Now()
	out, err := cmd.CombinedOutput()
	w.end = time.Now()
	c1, d1 := mt.snap(), progress()
	os.WriteFile(name, out, 0o644) //nolint:errcheck
	if err != nil {
		return w, fmt.Errorf("wrk %s: %v\n%s", label, err, out)
	}
	ws, err := benchkit.ParseWrk(string(out))
	if err != nil {
		return w, fmt.Errorf("wrk %s: %w", label, err)
	}
	w.rps, w.p50, w.p99, w.requests, w.bytesPerReq, w.non2xx = ws.RPS, ws.P50, ws.P99, ws.Requests, ws.BytesPerReq, ws.Non2xx
	if ws.Connect+ws.Read+ws.Write+ws.Timeout > 0 {
		w.socketErrors = fmt.Sprintf("connect %d, read %d, write %d, timeout %d", ws.Connect, ws.Read, ws.Write, ws.Timeout)
	}
	var wrkCPU time.Duration
	if ps := cmd.ProcessState; ps != nil {
		wrkCPU = ps.UserTime() + ps.SystemTime()
	}
	use := mt.between(c0, c1, w.end.Sub(w.start), wrkCPU)
	w.heraldCores, w.benchCores, w.pgCores, w.otherCores = use.herald, use.bench, use.pg, use.others
	w.wrkCores = wrkCPU.Seconds() / w.end.Sub(w.start).Seconds()
	w.delivered = d1 - d0
	logf("wrk: %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms; herald %.2f cores, receivers %.2f, postgres %.2f, wrk %.2f, rest %.2f; %d messages delivered",
		label, w.rps, w.p50, w.p99, w.heraldCores, w.benchCores, w.pgCores, w.wrkCores, w.otherCores, w.delivered)
	return w, nil
}

// --- Report ------------------------------------------------------------------------

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**FAIL**"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func (r *result) markdown() (string, bool) {
	o := r.o
	var b strings.Builder
	commit := "unknown"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(out) > 0 {
		commit += " (working tree has uncommitted changes)"
	}
	fmt.Fprintf(&b, "# Subscriber fan-out: %d emails + %d webhooks, %s, %s\n\n", o.emails, o.webhooks, r.dialect,
		r.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "commit %s; %s; %d CPUs; herald a separate process with HERALD_SUBSCRIBER_EMAIL_RATE=%g, "+
		"HERALD_SUBSCRIBER_WEBHOOK_RATE=%g, HERALD_SUBSCRIBER_WORKERS=%d%s; `wrk -t%d -c%d -d%s --latency` on GET /; "+
		"SMTP server and TLS webhook receiver in the benchmark's process; wrk, herald and the receivers share the machine. "+
		"Load average %s at the start, %s at the end.\n\n", commit, runtime.Version(), runtime.NumCPU(), o.emailRate, o.webhookRate,
		o.workers, envNote(o.env), o.wrkThreads, o.wrkConns, o.wrkDuration, r.load0, r.load1)

	var idle, idleAfter *wrkResult
	var during []wrkResult
	for i := range r.wrk {
		switch {
		case strings.HasPrefix(r.wrk[i].label, "idle (before)"):
			idle = &r.wrk[i]
		case strings.HasPrefix(r.wrk[i].label, "idle (after)"):
			idleAfter = &r.wrk[i]
		default:
			during = append(during, r.wrk[i])
		}
	}
	// The worst run during the fan-out judges it; runs that other
	// processes disturbed are left out when there is an undisturbed one.
	worst := -1
	undisturbed := false
	for _, w := range during {
		undisturbed = undisturbed || w.otherCores <= o.quietMax
	}
	for i, w := range during {
		if undisturbed && w.otherCores > o.quietMax {
			continue
		}
		if worst < 0 || w.rps < during[worst].rps {
			worst = i
		}
	}
	judged := "worst run"
	if undisturbed && len(during) > 1 {
		judged = "worst undisturbed run"
	} else if !undisturbed && len(during) > 0 {
		judged = "worst run, **every run disturbed**"
	}
	emailT, hookT := "not all", "not all"
	if !r.emailsDone.IsZero() {
		emailT = secs(r.emailsDone.Sub(r.t0))
	}
	if !r.hooksDone.IsZero() {
		hookT = secs(r.hooksDone.Sub(r.t0))
	}
	msgs := r.mail.done + r.hooks.incDone + r.hooks.compDone
	rate := float64(msgs) / r.fanoutWall.Seconds()
	maxKB := int64(0)
	for _, s := range r.samples {
		maxKB = max(maxKB, s.kb)
	}
	// The idle figure: the mean of the idle runs before and after the
	// fan-out. This machine's speed drifts by tens of percent between runs
	// with nothing else running (a virtual machine whose host is shared),
	// so one idle run alone may flatter or blame the fan-out.
	ratio, idleRPS := 0.0, 0.0
	idleCell := "n/a"
	if idle != nil {
		idleRPS = idle.rps
		idleCell = fmt.Sprintf("%.0f (p99 %.2f ms)", idle.rps, idle.p99)
		if idleAfter != nil {
			idleRPS = (idle.rps + idleAfter.rps) / 2
			idleCell = fmt.Sprintf("%.0f: before %.0f, after %.0f (p99 %.2f, %.2f ms)", idleRPS, idle.rps, idleAfter.rps, idle.p99, idleAfter.p99)
		}
	}
	duringCell, ratioCell := "n/a", "n/a"
	if idle != nil && worst >= 0 {
		ratio = during[worst].rps / idleRPS
		duringCell = fmt.Sprintf("%.0f (p99 %.2f ms)", during[worst].rps, during[worst].p99)
		ratioCell = fmt.Sprintf("%.3f", ratio)
	}

	memOK := r.hwmKB*1024 < maxRSSBytes
	pageOK := idle != nil && worst >= 0 && ratio >= minRatio
	deliveryOK := !r.timedOut && r.mail.done == o.emails && r.mail.repeats == 0 && r.hooks.incDone == o.webhooks &&
		r.hooks.compDone == o.webhooks && r.hooks.repeats == 0 && r.hooks.sigErrs == 0 && r.hooks.badPath == 0 &&
		r.hooks.unknownKind == 0 && r.hooks.repeatKeys == 0 && r.hooks.received == r.hooks.drained &&
		r.hooks.incidents[r.incidentID] == o.webhooks && len(r.hooks.incidents) <= 1 && r.mail.noUnsub == 0

	b.WriteString("| db | subscribers | rates (email/s, webhook/s, workers) | all emails | all webhooks | msgs/s | herald VmHWM | max RSS (0.5 s) | page idle req/s (mean of before, after) | page during req/s (" + judged + ") | ratio |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %s | %d + %d | %g, %g, %d | %s | %s | %.0f | %.1f MiB | %.1f MiB | %s | %s | %s |\n\n",
		r.dialect, o.emails, o.webhooks, o.emailRate, o.webhookRate, o.workers, emailT, hookT, rate, benchkit.MiB(r.hwmKB), benchkit.MiB(maxKB),
		idleCell, duringCell, ratioCell)

	b.WriteString("| target (issue 6) | measured | limit | result |\n|---|---:|---:|---|\n")
	fmt.Fprintf(&b, "| herald peak resident (VmHWM, whole life) | %.1f MB (%.1f MiB) | < 150 MB | %s |\n",
		float64(r.hwmKB)*1024/1e6, benchkit.MiB(r.hwmKB), pass(memOK))
	fmt.Fprintf(&b, "| page req/s during the fan-out ÷ idle (%s) | %s | ≥ %.2f | %s |\n", judged, ratioCell, minRatio, pass(pageOK))
	fmt.Fprintf(&b, "| every subscriber told once, signatures valid | %s | | %s |\n\n", deliveredSummary(r), pass(deliveryOK))

	// The runs.
	b.WriteString("CPU in cores over each run. Herald's CPU per request counts all its work in the run (the fan-out's too). " +
		"*Rest* is the machine's other processes (other builds and tests on a shared machine): a run with more than " +
		fmt.Sprintf("%.2f", o.quietMax) + " there (marked ⚠) was disturbed; *before* is that figure in the second before the run " +
		"(the idle runs and the runs after the first during the fan-out wait up to " + o.quietWait.String() + " for it to drop below " +
		fmt.Sprintf("%.2f", o.quietMax) + "; a disturbed idle run is repeated, up to " + strconv.Itoa(o.idleTries) + " runs, the least disturbed kept).\n\n")
	b.WriteString("| wrk run | starts at | req/s | p50 | p99 | bytes/response | herald | herald µs/request | receivers | postgres | wrk | rest (before) | msgs delivered during it |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	disturbed := false
	for _, w := range r.wrk {
		at := "—"
		if !w.start.Before(r.t0) && !r.t0.IsZero() {
			at = secs(w.start.Sub(r.t0))
		}
		errs := ""
		if w.non2xx > 0 {
			errs += fmt.Sprintf(" (%d non-2xx)", w.non2xx)
		}
		if w.socketErrors != "" {
			errs += " (socket errors: " + w.socketErrors + ")"
		}
		rest := fmt.Sprintf("%.2f", w.otherCores)
		if w.otherCores > o.quietMax {
			rest += " ⚠"
			disturbed = true
		}
		if w.quietBefore >= 0 {
			rest += fmt.Sprintf(" (%.2f)", w.quietBefore)
		}
		pg := "—"
		if r.dialect == store.Postgres {
			pg = fmt.Sprintf("%.2f", w.pgCores)
		}
		fmt.Fprintf(&b, "| %s%s | %s | %.0f | %.2f ms | %.2f ms | %.0f | %.2f | %.1f | %.2f | %s | %.2f | %s | %d (%.0f/s) |\n",
			w.label, errs, at, w.rps, w.p50, w.p99, w.bytesPerReq, w.heraldCores, 1e6*w.heraldCores/w.rps, w.benchCores, pg,
			w.wrkCores, rest, w.delivered, float64(w.delivered)/w.end.Sub(w.start).Seconds())
	}
	if disturbed {
		b.WriteString("\n**Warning:** other processes took more than " + fmt.Sprintf("%.2f", o.quietMax) +
			" of a core during a run marked ⚠: its req/s is disturbed; run again on a quiet machine before trusting the ratio.\n")
	}
	if r.wrk2Note != "" {
		fmt.Fprintf(&b, "\nFewer runs during the fan-out than asked (%d): %s.\n", o.duringRuns, r.wrk2Note)
	}
	if idle != nil && worst >= 0 {
		fmt.Fprintf(&b, "\nThe idle figure is the mean of the idle runs before and after the fan-out (the page shows the incident after, as during "+
			"it): this machine's speed drifts between runs with nothing else running. The judged run against each: before %.3f",
			during[worst].rps/idle.rps)
		if idleAfter != nil {
			fmt.Fprintf(&b, ", after %.3f", during[worst].rps/idleAfter.rps)
		}
		b.WriteString("; every run during the fan-out against the mean:")
		for _, w := range during {
			fmt.Fprintf(&b, " %s %.3f%s;", strings.TrimPrefix(w.label, "during fan-out "), w.rps/idleRPS, map[bool]string{true: " ⚠", false: ""}[w.otherCores > o.quietMax])
		}
		s := b.String()
		b.Reset()
		b.WriteString(strings.TrimSuffix(s, ";") + ".\n")
	}

	// Time and memory.
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Seeding: %d email subscribers imported in %s; %d webhook subscribers signed up and confirmed in %s. Herald ready in %s.\n",
		o.emails, secs(r.seedEmails), o.webhooks, secs(r.seedHooks), r.readyIn.Round(time.Millisecond))
	fmt.Fprintf(&b, "- Declaration answered in %s; first subscriber mail after %s, first webhook post after %s.\n",
		r.declareTook.Round(time.Millisecond), since(r.t0, r.mail.first), since(r.t0, r.hooks.first))
	fmt.Fprintf(&b, "- Fan-out: %d messages in %s (%.0f/s): emails %s (%.0f/s), webhook posts %s (%.0f/s). Herald used %.1f s of CPU "+
		"(%.2f cores on average, %.0f µs a message)%s; the receivers %.1f s; the rest of the machine, wrk included, %.2f cores on average "+
		"(%.2f in the second before the declaration).\n",
		msgs, secs(r.fanoutWall), rate, emailT, perSec(r.mail.done, r.emailsDone, r.t0), hookT,
		perSec(r.hooks.incDone+r.hooks.compDone, r.hooksDone, r.t0), r.heraldCPU.Seconds(),
		r.heraldCPU.Seconds()/r.fanoutWall.Seconds(), 1e6*r.heraldCPU.Seconds()/float64(max(msgs, 1)), pgNote(r, msgs),
		r.benchCPU.Seconds(), r.fanoutOthers, r.quietDeclare)
	fmt.Fprintf(&b, "- Herald memory: %.1f MiB resident idle before the declaration (VmHWM %.1f MiB by then: start and the idle wrk); "+
		"VmHWM %.1f MiB at the end; largest 0.5 s sample %.1f MiB; %.1f MiB resident at the end.\n",
		benchkit.MiB(r.idleRSSKB), benchkit.MiB(r.hwmBeforeKB), benchkit.MiB(r.hwmKB), benchkit.MiB(maxKB), benchkit.MiB(r.afterRSSKB))
	// The fan-out's own cost: herald's CPU outside the runs during the
	// fan-out (which also served the page), per message delivered then.
	var runCPU, runWall float64
	runMsgs := 0
	for _, w := range during {
		// The part of the run inside the fan-out.
		end := w.end
		if end.Sub(r.t0) > r.fanoutWall {
			end = r.t0.Add(r.fanoutWall)
		}
		if d := end.Sub(w.start).Seconds(); d > 0 {
			runCPU += w.heraldCores * d
			runWall += d
		}
		runMsgs += w.delivered
	}
	if outside, wall := msgs-runMsgs, r.fanoutWall.Seconds()-runWall; outside > 0 && wall > 1 && !r.timedOut {
		cpu := r.heraldCPU.Seconds() - runCPU
		fmt.Fprintf(&b, "- Outside the wrk runs (no page load: %.0f s of the fan-out, %d messages, %.0f/s), herald spent %.0f µs of CPU a message, "+
			"%.2f cores.\n", wall, outside, float64(outside)/wall, 1e6*cpu/float64(outside), cpu/wall)
	}
	if len(r.samples) > 0 {
		fmt.Fprintf(&b, "- RSS over the fan-out (MiB, the largest sample in each tenth of it): %s.\n", rssTimeline(r.samples, r.fanoutWall))
		fmt.Fprintf(&b, "- Herald's CPU over the fan-out (cores, each tenth of it; the wrk runs' page serving included): %s; in its first 30 s, by 5 s: %s.\n",
			cpuTimeline(r.samples, 0, r.fanoutWall/10, 10), cpuTimeline(r.samples, 0, 5*time.Second, 6))
	}

	// Checks.
	b.WriteString("\nChecks:\n\n")
	m, h := r.mail, r.hooks
	fmt.Fprintf(&b, "- Mail: %d messages received; %d of %d subscribers got one, %d got a repeat; %d subscriber messages lacked List-Unsubscribe; "+
		"%d headers did not parse. Subject: %q.\n", m.messages, m.done, o.emails, m.repeats, m.noUnsub, m.badHdr, m.subject)
	if len(m.others) > 0 {
		var parts []string
		for a, n := range m.others {
			parts = append(parts, fmt.Sprintf("%s ×%d", a, n))
		}
		slices.Sort(parts)
		if len(parts) > 10 {
			parts = append(parts[:10], "…")
		}
		fmt.Fprintf(&b, "- Mail to recipients who are not subscribers (the plan's own audiences): %s.\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "- Webhooks: %d posts received (%d read from the receiver's channel); incident notifications to %d of %d, "+
		"component notifications to %d of %d; %d repeats; %d bad signatures; %d repeated Idempotency-Keys, %d without one; "+
		"%d to unknown paths, %d of unknown kind; incidents named: %v; component statuses: %v.\n",
		h.received, h.drained, h.incDone, o.webhooks, h.compDone, o.webhooks, h.repeats, h.sigErrs, h.repeatKeys, h.noKey,
		h.badPath, h.unknownKind, h.incidents, h.statuses)
	if r.countsErr != nil {
		fmt.Fprintf(&b, "- Herald's deliveries: could not read them: %v.\n", r.countsErr)
	} else {
		fmt.Fprintf(&b, "- Herald's subscriber deliveries for the incident (from the database, after herald stopped): %s.\n", countsText(r.counts))
	}
	fmt.Fprintf(&b, "- Herald logged %d WARN/ERROR lines.\n", r.heraldErrN)
	for _, l := range r.heraldLogErr {
		fmt.Fprintf(&b, "  - `%s`\n", strings.ReplaceAll(l, "`", "'"))
	}
	if r.timedOut {
		fmt.Fprintf(&b, "\n**Timed out** after %s before every subscriber was told.\n", o.timeout)
	}
	ok := memOK && pageOK && deliveryOK
	fmt.Fprintf(&b, "\nOverall: **%s**\n", strings.Trim(pass(ok), "*"))
	return b.String(), ok
}

func pgNote(r *result, msgs int) string {
	if r.dialect != store.Postgres {
		return ""
	}
	return fmt.Sprintf(", its PostgreSQL backends %.1f s (%.0f µs a message)", r.pgCPU.Seconds(), 1e6*r.pgCPU.Seconds()/float64(max(msgs, 1)))
}

func envNote(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return ", " + strings.Join(env, ", ")
}

func since(t0, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%d ms", t.Sub(t0).Milliseconds())
}

func perSec(n int, done, t0 time.Time) float64 {
	if done.IsZero() {
		return 0
	}
	return float64(n) / done.Sub(t0).Seconds()
}

func deliveredSummary(r *result) string {
	return fmt.Sprintf("%d/%d mails, %d/%d + %d/%d posts, %d repeats, %d bad signatures",
		r.mail.done, r.o.emails, r.hooks.incDone, r.o.webhooks, r.hooks.compDone, r.o.webhooks,
		r.mail.repeats+r.hooks.repeats, r.hooks.sigErrs)
}

func countsText(c map[herald.Channel]map[herald.DeliveryState]int) string {
	var parts []string
	for ch, states := range c {
		var ss []string
		for st, n := range states {
			ss = append(ss, fmt.Sprintf("%s %d", st, n))
		}
		slices.Sort(ss)
		parts = append(parts, fmt.Sprintf("%s: %s", ch, strings.Join(ss, ", ")))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// cpuTimeline gives herald's CPU in cores over n windows of step from
// from, from the samples.
func cpuTimeline(samples []rssSample, from, step time.Duration, n int) string {
	// at returns the CPU time at t, from the last sample at or before it.
	at := func(t time.Duration) (time.Duration, time.Duration, bool) {
		var best rssSample
		ok := false
		for _, s := range samples {
			if s.at <= t {
				best, ok = s, true
			}
		}
		return best.cpu, best.at, ok
	}
	var out []string
	for i := range n {
		lo, hi := from+step*time.Duration(i), from+step*time.Duration(i+1)
		c0, t0, ok0 := at(lo)
		c1, t1, ok1 := at(hi)
		if !ok0 || !ok1 || t1 <= t0 || (len(samples) > 0 && samples[len(samples)-1].at < hi-time.Second) {
			out = append(out, "–")
			continue
		}
		out = append(out, fmt.Sprintf("%.2f", (c1-c0).Seconds()/(t1-t0).Seconds()))
	}
	return strings.Join(out, ", ")
}

// rssTimeline gives the largest sample in each tenth of the fan-out.
func rssTimeline(samples []rssSample, wall time.Duration) string {
	if wall <= 0 {
		return "n/a"
	}
	var out []string
	for i := range 10 {
		lo, hi := wall*time.Duration(i)/10, wall*time.Duration(i+1)/10
		var m int64
		for _, s := range samples {
			if s.at >= lo && s.at < hi {
				m = max(m, s.kb)
			}
		}
		if m == 0 {
			out = append(out, "–")
			continue
		}
		out = append(out, fmt.Sprintf("%.0f", benchkit.MiB(m)))
	}
	var after int64
	for _, s := range samples {
		if s.at >= wall {
			after = max(after, s.kb)
		}
	}
	out = append(out, fmt.Sprintf("after %.0f", benchkit.MiB(after)))
	return strings.Join(out, ", ")
}
