// Command enginebench measures Herald's cadence engine with many open
// incidents, as issue 4 asks: the engine's idle CPU and memory, what wakes
// the process while nothing is due, and how late reminders are when many
// fall due. Use scripts/engine-bench.sh, which runs it from the repository.
//
// For each database (-db sqlite,postgres) it builds the herald binary,
// starts the local vendor servers in-process (comms/slack/slacktest,
// comms/email/smtptest, comms/sms/twiliotest), seeds a fresh database
// through the store package (1,000 open major incidents flagged for
// regulators, each commanded by one user: four audiences' clocks each,
// engineering in real time, executives every N, the public page every N,
// regulators DORA), and runs `herald` against it with HERALD_DATABASE_URL,
// HERALD_CONFIG (a plan file written from plan.go), the HERALD_SLACK_*,
// HERALD_SMTP_URL and HERALD_TWILIO_* variables pointing at the fakes, and
// HERALD_LOG_FORMAT=json, HERALD_LOG_LEVEL=debug (the engine logs each wake
// at debug; River logs its leader's re-election at debug).
//
// Phase "idle" (the default plan; incidents declared within the last
// minute, so the first step is 9 minutes away): after -settle, for -idle it
// samples /proc/PID/stat (utime+stime), VmRSS and the threads' context
// switches every second, counts the engine's wakes and River's debug lines,
// and on PostgreSQL the database's committed transactions; then, if strace
// is installed, counts system calls for -strace with strace -c -f.
//
// Phase "lateness" (plan.go's shortened cadences; incidents declared evenly
// over -spread so that each one's steps fall due within minutes): every step
// due in the window of -window starting -lead after seeding is matched with
// its "reminder queued" / "holding update sent" log line, whose late_ms is
// the time from the step's due time to its deliveries' commit; the
// deliveries' sent_at (the vendor accepted it) gives the delivered lateness.
// Missing steps are counted.
//
// It prints a markdown table and writes it to bench-results/. Timings move
// with the load on the machine: the table gives the load average and the
// CPU the rest of the machine used during each window.
//
// Needs: go; PostgreSQL at HERALD_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) for
// -db postgres; strace (optional).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email/smtptest"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/comms/sms/twiliotest"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/scripts/internal/benchkit"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

const (
	accountSID     = "AC0123456789abcdef0123456789abcdef"
	authToken      = "t0kenForTheTwilioFake0123456789a"
	fromNumber     = "+15017122661"
	commanderEmail = "ada@kredete.example"
	commanderPhone = "+27820000099"
	commanderName  = "Ada Obi"
	readyTimeout   = 2 * time.Minute
	stopTimeout    = 20 * time.Second
	wokeMsg        = "cadence engine woke"
	reminderMsg    = "reminder queued"
	holdingMsg     = "holding update sent"
	lateDrainExtra = 90 * time.Second
	rssSampleEvery = time.Second
	defaultOutDir  = "bench-results"
)

type options struct {
	dbs       []string
	phases    []string
	incidents int
	idle      time.Duration
	settle    time.Duration
	strace    time.Duration
	spread    time.Duration
	window    time.Duration
	lead      time.Duration
	heraldBin string
	outDir    string
	keep      bool
	env       []string // extra environment for herald (GOGC=…, GODEBUG=gctrace=1)
	perf      time.Duration
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
	var dbs, phases string
	flag.StringVar(&dbs, "db", "sqlite", "databases to run on, comma-separated: sqlite, postgres")
	flag.StringVar(&phases, "phases", "idle,lateness", "phases to run, comma-separated: idle, lateness")
	flag.IntVar(&o.incidents, "incidents", 1000, "open incidents to seed")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "idle measuring window")
	flag.DurationVar(&o.settle, "settle", 15*time.Second, "wait after ready before measuring idle")
	flag.DurationVar(&o.strace, "strace", 30*time.Second, "idle: count system calls with strace -c -f for this long after the window (0: off)")
	flag.DurationVar(&o.spread, "spread", 4*time.Minute, "lateness: the declarations are spread evenly over this")
	flag.DurationVar(&o.window, "window", 5*time.Minute, "lateness: the steps due in this window are measured")
	flag.DurationVar(&o.lead, "lead", 60*time.Second, "lateness: the window starts this long after seeding begins")
	flag.StringVar(&o.heraldBin, "herald", "", "herald binary to run (default: build ./cmd/herald)")
	flag.StringVar(&o.outDir, "out", defaultOutDir, "directory for the report")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, plan, SQLite files)")
	flag.Var(envFlag{&o}, "env", "extra KEY=VALUE for herald's environment, e.g. GODEBUG=gctrace=1 (repeatable)")
	flag.DurationVar(&o.perf, "perf", 0, "idle: after the window, record a CPU profile of herald with perf for this long (perf.data kept with -keep)")
	flag.Parse()
	o.dbs = strings.Split(dbs, ",")
	o.phases = strings.Split(phases, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &fakeTB{name: "enginebench", keep: o.keep}
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				if f, ok := r.(fatal); ok {
					fmt.Fprintln(os.Stderr, "enginebench:", string(f))
					code = 1
					return
				}
				panic(r)
			}
		}()
		if err := run(ctx, o, root); err != nil {
			fmt.Fprintln(os.Stderr, "enginebench:", err)
			code = 1
		}
	}()
	root.finish()
	os.Exit(code)
}

func run(ctx context.Context, o options, root *fakeTB) error {
	repo, err := benchkit.RepoRoot()
	if err != nil {
		return err
	}
	if o.heraldBin == "" {
		o.heraldBin = filepath.Join(root.TempDir(), "herald")
		logf("building %s", o.heraldBin)
		if err := benchkit.BuildHerald(ctx, repo, o.heraldBin); err != nil {
			return err
		}
	}
	var rep report
	rep.started = time.Now()
	rep.load0 = benchkit.LoadAvg()
	rep.incidents = o.incidents
	for _, db := range o.dbs {
		db = strings.TrimSpace(db)
		if db != store.SQLite && db != store.Postgres {
			return fmt.Errorf("-db: unknown database %q (sqlite, postgres)", db)
		}
		for _, ph := range o.phases {
			switch strings.TrimSpace(ph) {
			case "idle":
				r, err := runIdle(ctx, o, root, db)
				if err != nil {
					return fmt.Errorf("%s idle: %w", db, err)
				}
				rep.idle = append(rep.idle, r)
			case "lateness":
				r, err := runLateness(ctx, o, root, db)
				if err != nil {
					return fmt.Errorf("%s lateness: %w", db, err)
				}
				rep.late = append(rep.late, r)
			default:
				return fmt.Errorf("-phases: unknown phase %q (idle, lateness)", ph)
			}
		}
	}
	rep.load1 = benchkit.LoadAvg()
	text := rep.markdown(o)
	fmt.Print(text)
	dir := o.outDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repo, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, "engine-"+rep.started.Format("20060102-150405")+".md")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		return err
	}
	logf("wrote %s", name)
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "enginebench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// world is one run's database, plan and vendor fakes.
type world struct {
	tb       *fakeTB
	dialect  string
	dbURL    string // HERALD_DATABASE_URL
	dsn      string
	pp       planParams
	plan     herald.Plan
	planFile string
	slack    *slacktest.Server
	smtp     *smtptest.Server
	twilio   *twiliotest.Server
}

func newWorld(root *fakeTB, dialect string, pp planParams) (*world, error) {
	w := &world{tb: root.sub(dialect), dialect: dialect, pp: pp}
	w.slack = slacktest.New(w.tb)
	w.slack.AddChannel("incident-response")
	w.slack.AddUser(commanderEmail, commanderName)
	w.smtp = smtptest.Start(w.tb)
	w.twilio = twiliotest.New(w.tb, accountSID, authToken)
	w.dbURL = storetest.URL(w.tb, dialect)
	var err error
	if _, w.dsn, err = config.SplitDatabaseURL(w.dbURL); err != nil {
		return nil, err
	}
	b := pp.yaml()
	w.planFile = filepath.Join(w.tb.TempDir(), "plan.yaml")
	if err := os.WriteFile(w.planFile, b, 0o644); err != nil {
		return nil, err
	}
	if w.plan, err = config.ParsePlan(b, w.planFile); err != nil {
		return nil, err
	}
	return w, nil
}

// seed declares n open major incidents flagged for regulators, the i-th at
// created(i), commanded by the one user, telling the public page and
// engineering (what the console's declaration does). Nothing is queued:
// the deliveries are off while seeding.
func (w *world) seed(ctx context.Context, n int, created func(i int) time.Time) error {
	var mu sync.Mutex
	now := time.Now()
	st, err := store.Open(ctx, w.dialect, w.dsn, store.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := st.SyncComponents(ctx, w.plan.Groups, w.plan.Components); err != nil {
		return err
	}
	boss, err := st.CreateUser(ctx, herald.NewUser{Email: commanderEmail, Name: commanderName, Phone: commanderPhone,
		Role: herald.RoleCommander, Password: "correct horse battery staple"}, "not-a-real-hash", "enginebench")
	if err != nil {
		return err
	}
	comps, err := st.Components(ctx)
	if err != nil {
		return err
	}
	began := time.Now()
	for i := range n {
		mu.Lock()
		now = created(i)
		mu.Unlock()
		if _, err := st.DeclareIncident(ctx, herald.Declaration{Name: fmt.Sprintf("Incident %04d: card payments failing", i),
			Impact: herald.ImpactMajor, NotifyRegulators: true,
			Body:       "We are investigating failed card payments. Next update within 15 minutes.",
			Components: []herald.ComponentTarget{{ComponentID: comps[i%len(comps)].ID, Status: herald.PartialOutage}}},
			boss.ID, []string{"public", "engineering"}, commanderName); err != nil {
			return fmt.Errorf("declare %d: %w", i, err)
		}
	}
	logf("%s: seeded %d incidents in %s", w.dialect, n, time.Since(began).Round(time.Millisecond))
	return nil
}

// logLine is one JSON line of herald's log.
type logLine struct {
	at     time.Time
	msg    string
	fields map[string]any
}

// proc is a running herald.
type proc struct {
	cmd    *exec.Cmd
	pid    int
	mu     sync.Mutex
	lines  []logLine
	ready  chan struct{}
	exited chan struct{}
	err    error
}

func (w *world) start(ctx context.Context, bin, level string, extra []string) (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + w.tb.TempDir(),
		"HERALD_ADDR=" + addr,
		"HERALD_DATABASE_URL=" + w.dbURL,
		"HERALD_CONFIG=" + w.planFile,
		"HERALD_LOG_FORMAT=json",
		"HERALD_LOG_LEVEL=" + level,
		"HERALD_SLACK_TOKEN=" + w.slack.Token(),
		"HERALD_SLACK_API_URL=" + w.slack.URL(),
		"HERALD_SMTP_URL=" + w.smtp.URL(),
		"HERALD_TWILIO_ACCOUNT_SID=" + accountSID,
		"HERALD_TWILIO_AUTH_TOKEN=" + authToken,
		"HERALD_TWILIO_FROM=" + fromNumber,
		"HERALD_TWILIO_API_URL=" + w.twilio.URL,
	}
	env = append(env, extra...)
	cmd := exec.Command(bin)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errFile, err := os.Create(filepath.Join(w.tb.TempDir(), "herald.stderr"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errFile
	raw, err := os.Create(filepath.Join(w.tb.TempDir(), "herald.log"))
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, ready: make(chan struct{}), exited: make(chan struct{})}
	w.tb.Cleanup(func() { p.stop(); raw.Close(); errFile.Close() })
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		readyOnce := sync.Once{}
		for sc.Scan() {
			b := sc.Bytes()
			raw.Write(b)            //nolint:errcheck
			raw.Write([]byte{'\n'}) //nolint:errcheck
			if len(b) == 0 || b[0] != '{' {
				continue
			}
			var f map[string]any
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			l := logLine{fields: f}
			l.msg, _ = f["msg"].(string)
			if s, ok := f["time"].(string); ok {
				l.at, _ = time.Parse(time.RFC3339Nano, s)
			}
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.mu.Unlock()
			if l.msg == "herald ready" {
				readyOnce.Do(func() { close(p.ready) })
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-p.ready:
		return p, nil
	case <-p.exited:
		b, _ := os.ReadFile(errFile.Name())
		return nil, fmt.Errorf("herald exited before it was ready: %v\n%s", p.err, b)
	case <-time.After(readyTimeout):
		return nil, errors.New("herald was not ready in time")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill() //nolint:errcheck
		<-p.exited
	}
}

// linesBetween returns the log lines logged in [from, to).
func (p *proc) linesBetween(from, to time.Time) []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []logLine
	for _, l := range p.lines {
		if !l.at.Before(from) && l.at.Before(to) {
			out = append(out, l)
		}
	}
	return out
}

func (p *proc) allLines() []logLine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// usage is what a measuring window saw of the process and the machine.
type usage struct {
	wall        time.Duration
	cpu         time.Duration // the process's user+system time
	peakRSSKB   int64
	meanRSSKB   int64
	hwmKB       int64 // VmHWM at the end: the peak since start
	ctxSwitches int64 // the process's threads' voluntary + involuntary switches
	threads     int
	others      float64 // cores the rest of the machine used (not herald, not this program)
	loadBefore  string
	loadAfter   string
}

func (u usage) cpuPct() float64 { return 100 * u.cpu.Seconds() / u.wall.Seconds() }

// measure samples pid every second for d.
func measure(ctx context.Context, pid int, d time.Duration) (usage, error) {
	u := usage{loadBefore: benchkit.LoadAvg()}
	cpu0, err := benchkit.ProcCPU(pid)
	if err != nil {
		return u, err
	}
	self0, _ := benchkit.ProcCPU(os.Getpid())
	busy0 := benchkit.MachineBusy()
	sw0, _ := ctxSwitches(pid)
	start := time.Now()
	var sum, n int64
	t := time.NewTicker(rssSampleEvery)
	defer t.Stop()
	deadline := time.After(d)
loop:
	for {
		rss := benchkit.StatusKB(pid, "VmRSS")
		sum += rss
		n++
		u.peakRSSKB = max(u.peakRSSKB, rss)
		select {
		case <-ctx.Done():
			return u, ctx.Err()
		case <-deadline:
			break loop
		case <-t.C:
		}
	}
	u.wall = time.Since(start)
	cpu1, err := benchkit.ProcCPU(pid)
	if err != nil {
		return u, err
	}
	self1, _ := benchkit.ProcCPU(os.Getpid())
	busy1 := benchkit.MachineBusy()
	sw1, threads := ctxSwitches(pid)
	u.cpu = cpu1 - cpu0
	u.ctxSwitches, u.threads = sw1-sw0, threads
	u.meanRSSKB = sum / max(n, 1)
	u.hwmKB = benchkit.StatusKB(pid, "VmHWM")
	u.others = max(0, ((busy1-busy0).Seconds()-u.cpu.Seconds()-(self1-self0).Seconds())/u.wall.Seconds())
	u.loadAfter = benchkit.LoadAvg()
	return u, nil
}

// ctxSwitches sums the context switches of the process's threads: each is
// a thread going to sleep or being preempted, so their count bounds the
// wakes.
func ctxSwitches(pid int) (int64, int) {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, k := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(line, k); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					total += n
				}
			}
		}
	}
	return total, len(tasks)
}

// idleResult is the idle phase's figures.
type idleResult struct {
	dialect     string
	use         usage
	wakes       map[string]int // the engine's wakes in the window, by reason
	tickMS      []float64      // how long each of those wakes' Tick took
	startTick   float64        // the first Tick's duration (at start)
	debugLines  map[string]int // every log line in the window, by message
	pgXacts     int64          // PostgreSQL: transactions committed in the window (-1: not measured)
	straceFor   time.Duration
	strace      []syscallCount
	straceError string
	readyIn     time.Duration
}

type syscallCount struct {
	name  string
	calls int64
}

func runIdle(ctx context.Context, o options, root *fakeTB, dialect string) (idleResult, error) {
	r := idleResult{dialect: dialect, pgXacts: -1}
	w, err := newWorld(root, dialect, defaultPlan)
	if err != nil {
		return r, err
	}
	defer w.tb.finish()
	// Declared within the last minute: the first step of any clock (the
	// public page's reminder, 10 minutes after the declaration) is at
	// least 9 minutes away, beyond the window.
	now := time.Now()
	if err := w.seed(ctx, o.incidents, func(i int) time.Time {
		return now.Add(-time.Minute + time.Duration(i)*50*time.Second/time.Duration(o.incidents))
	}); err != nil {
		return r, err
	}
	if until := now.Add(9 * time.Minute); time.Now().Add(o.settle + o.idle + o.strace + 30*time.Second).After(until) {
		return r, fmt.Errorf("the idle run (%s) would reach the first due step", o.settle+o.idle+o.strace)
	}
	began := time.Now()
	p, err := w.start(ctx, o.heraldBin, "debug", o.env)
	if err != nil {
		return r, err
	}
	r.readyIn = time.Since(began)
	logf("%s idle: herald ready (pid %d) in %s; settling %s", dialect, p.pid, r.readyIn.Round(time.Millisecond), o.settle)
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	var pg *pgx.Conn
	if dialect == store.Postgres {
		if pg, err = pgx.Connect(ctx, w.dbURL); err != nil {
			return r, err
		}
		defer pg.Close(context.Background())
	}
	x0 := pgCommits(ctx, pg)
	from := time.Now()
	logf("%s idle: measuring for %s", dialect, o.idle)
	if r.use, err = measure(ctx, p.pid, o.idle); err != nil {
		return r, err
	}
	to := time.Now()
	if pg != nil {
		r.pgXacts = pgCommits(ctx, pg) - x0 - 1 // less our own first query
	}
	r.wakes, r.debugLines = map[string]int{}, map[string]int{}
	for _, l := range p.linesBetween(from, to) {
		r.debugLines[l.msg]++
		if l.msg == wokeMsg {
			reason, _ := l.fields["reason"].(string)
			r.wakes[reason]++
			if ms, ok := l.fields["took_ms"].(float64); ok {
				r.tickMS = append(r.tickMS, ms)
			}
		}
	}
	for _, l := range p.allLines() {
		if l.msg == wokeMsg {
			if ms, ok := l.fields["took_ms"].(float64); ok && r.startTick == 0 {
				r.startTick = ms
			}
		}
	}
	if o.perf > 0 {
		data := filepath.Join(w.tb.TempDir(), "perf.data")
		logf("perf record -g -p %d for %s → %s", p.pid, o.perf, data)
		cmd := exec.CommandContext(ctx, "perf", "record", "-g", "-o", data, "-p", strconv.Itoa(p.pid), "--", "sleep", strconv.Itoa(int(o.perf.Seconds())))
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Run(); err != nil {
			logf("perf: %v", err)
		}
	}
	if o.strace > 0 {
		r.straceFor = o.strace
		r.strace, err = straceCount(ctx, p.pid, o.strace, w.tb.TempDir())
		if err != nil {
			r.straceError = err.Error()
		}
	}
	return r, nil
}

// pgCommits is the database's committed transactions so far.
func pgCommits(ctx context.Context, c *pgx.Conn) int64 {
	if c == nil {
		return 0
	}
	var n int64
	if err := c.QueryRow(ctx, `SELECT pg_stat_get_db_xact_commit(oid) FROM pg_database WHERE datname = current_database()`).Scan(&n); err != nil {
		return 0
	}
	return n // backends report their counts within about a second (PostgreSQL 15)
}

// straceCount runs strace -c -f on pid for d and returns the calls by
// system call.
func straceCount(ctx context.Context, pid int, d time.Duration, dir string) ([]syscallCount, error) {
	path, err := exec.LookPath("strace")
	if err != nil {
		return nil, errors.New("strace is not installed (apt-get install -y strace)")
	}
	out := filepath.Join(dir, "strace.txt")
	cmd := exec.CommandContext(ctx, path, "-c", "-f", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	logf("strace -c -f -p %d for %s", pid, d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	cmd.Process.Signal(os.Interrupt) //nolint:errcheck
	cmd.Wait()                       //nolint:errcheck
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var counts []syscallCount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] == "%" || strings.HasPrefix(f[0], "-") || f[len(f)-1] == "total" {
			continue
		}
		// % time, seconds, usecs/call, calls, [errors,] syscall
		calls, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		counts = append(counts, syscallCount{name: f[len(f)-1], calls: calls})
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].calls > counts[j].calls })
	return counts, nil
}

// step is one expected step of a clock, due in the window.
type step struct {
	incident string
	audience string
	kind     herald.ReminderKind
	at       time.Time
}

func (s step) id() string { return s.incident + "|" + s.audience + "|" + string(s.kind) }

// lateResult is the lateness phase's figures.
type lateResult struct {
	dialect      string
	plan         string
	windowFrom   time.Time
	windowTo     time.Time
	expected     int
	logged       int
	missing      int
	extra        int            // logged steps due in the window that were not expected
	queuedLateMS []float64      // per step: due → deliveries committed
	byKind       map[string]int // expected steps by audience/kind
	sentLateMS   []float64      // per delivery: due → the vendor accepted it
	deliveries   int
	notSent      int // deliveries of the window's steps not sent
	wakes        map[string]int
	tickMS       []float64
	use          usage
	seedTook     time.Duration
}

func runLateness(ctx context.Context, o options, root *fakeTB, dialect string) (lateResult, error) {
	r := lateResult{dialect: dialect, plan: shortPlan.Name, byKind: map[string]int{}}
	w, err := newWorld(root, dialect, shortPlan)
	if err != nil {
		return r, err
	}
	defer w.tb.finish()
	// The first step of every incident is the public page's reminder at
	// C+4m: incidents declared from T0 over the spread have their steps
	// from T0+4m; the window starts there, lead after now.
	first := shortPlan.Public - shortPlan.PublicBefore
	began := time.Now()
	t0 := began.Add(o.lead - first)
	n := o.incidents
	created := func(i int) time.Time { return t0.Add(time.Duration(i) * o.spread / time.Duration(n)) }
	ids, err := w.seedIDs(ctx, n, created)
	if err != nil {
		return r, err
	}
	r.seedTook = time.Since(began)
	r.windowFrom, r.windowTo = t0.Add(first), t0.Add(first+o.window)
	if time.Now().After(r.windowFrom.Add(-10 * time.Second)) {
		return r, fmt.Errorf("seeding took %s: raise -lead (now %s)", r.seedTook.Round(time.Second), o.lead)
	}
	// What the plan says is due in the window.
	var expected []step
	for i, id := range ids {
		c := created(i)
		for _, key := range []string{"public", "executives"} {
			a, _ := w.plan.AudienceByKey(key)
			cad, _ := a.Effective(herald.Incident{Impact: herald.ImpactMajor, NotifyRegulators: true})
			ob := herald.Obligation{IncidentID: id, Audience: key, Step: herald.StepUpdate, Since: c, Due: c.Add(cad.Interval)}
			if key == "public" {
				ob.Action = herald.DueEscalate
			} else {
				ob.Action = herald.DueHolding
			}
			for _, rm := range a.Reminders(ob, r.windowTo) {
				if !rm.At.Before(r.windowFrom) && rm.At.Before(r.windowTo) {
					expected = append(expected, step{incident: id, audience: key, kind: rm.Kind, at: rm.At})
					r.byKind[key+"/"+string(rm.Kind)]++
				}
			}
		}
	}
	r.expected = len(expected)
	want := map[string]step{}
	for _, s := range expected {
		want[s.id()] = s
	}

	p, err := w.start(ctx, o.heraldBin, "debug", o.env)
	if err != nil {
		return r, err
	}
	logf("%s lateness: herald ready (pid %d); %d steps due from %s to %s", dialect, p.pid, len(expected),
		r.windowFrom.Format("15:04:05"), r.windowTo.Format("15:04:05"))
	select {
	case <-time.After(time.Until(r.windowFrom)):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	if r.use, err = measure(ctx, p.pid, r.windowTo.Sub(r.windowFrom)); err != nil {
		return r, err
	}
	// Let the last steps and their deliveries finish.
	got := map[string]float64{}
	collect := func() {
		for _, l := range p.allLines() {
			if l.msg != reminderMsg && l.msg != holdingMsg {
				continue
			}
			inc, _ := l.fields["incident_id"].(string)
			aud, _ := l.fields["audience"].(string)
			kind, _ := l.fields["kind"].(string)
			if l.msg == holdingMsg {
				kind = string(herald.RemindHolding)
			}
			late, _ := l.fields["late_ms"].(float64)
			got[inc+"|"+aud+"|"+kind] = late
		}
	}
	deadline := time.Now().Add(lateDrainExtra)
	for {
		collect()
		missing := 0
		for id := range want {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
	for id, late := range got {
		if _, ok := want[id]; ok {
			r.logged++
			r.queuedLateMS = append(r.queuedLateMS, late)
		}
	}
	r.missing = r.expected - r.logged
	// Steps the plan did not predict, due in the window: none expected.
	for _, l := range p.linesBetween(r.windowFrom, r.windowTo.Add(lateDrainExtra)) {
		if l.msg != reminderMsg && l.msg != holdingMsg {
			continue
		}
		late, _ := l.fields["late_ms"].(float64)
		at := l.at.Add(-time.Duration(late) * time.Millisecond)
		inc, _ := l.fields["incident_id"].(string)
		aud, _ := l.fields["audience"].(string)
		kind, _ := l.fields["kind"].(string)
		if l.msg == holdingMsg {
			kind = string(herald.RemindHolding)
		}
		if _, ok := want[inc+"|"+aud+"|"+kind]; !ok && !at.Before(r.windowFrom) && at.Before(r.windowTo) {
			r.extra++
		}
	}
	r.wakes = map[string]int{}
	for _, l := range p.linesBetween(r.windowFrom, r.windowTo) {
		if l.msg == wokeMsg {
			reason, _ := l.fields["reason"].(string)
			r.wakes[reason]++
			if ms, ok := l.fields["took_ms"].(float64); ok {
				r.tickMS = append(r.tickMS, ms)
			}
		}
	}
	// Wait for the deliveries in flight, then stop herald and read them.
	drainDeliveries(ctx, w, ids, want, 60*time.Second)
	p.stop()
	r.deliveries, r.notSent, r.sentLateMS, err = w.deliveredLateness(ctx, ids, want)
	if err != nil {
		return r, err
	}
	return r, nil
}

// seedIDs seeds and returns the incidents' ids in declaration order.
func (w *world) seedIDs(ctx context.Context, n int, created func(int) time.Time) ([]string, error) {
	if err := w.seed(ctx, n, created); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, w.dialect, w.dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	open, err := st.OpenIncidents(ctx) // newest first
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(open))
	for i, in := range open {
		ids[len(open)-1-i] = in.ID
	}
	if len(ids) != n {
		return nil, fmt.Errorf("%d incidents open after seeding %d", len(ids), n)
	}
	return ids, nil
}

// deliveryStep names the step a reminder or holding delivery carries.
func deliveryStep(d herald.Delivery) (string, bool) {
	switch d.Kind {
	case herald.KindHolding:
		return d.IncidentID + "|" + d.Audience + "|" + string(herald.RemindHolding), true
	case herald.KindReminder:
		// incident / obligation key (incident/audience/step/due) / kind / n / channel / to
		parts := strings.Split(d.Key, "/")
		if len(parts) < 7 {
			return "", false
		}
		return d.IncidentID + "|" + parts[2] + "|" + parts[5], true
	}
	return "", false
}

// drainDeliveries waits (bounded) until every delivery of the window's
// steps is final.
func drainDeliveries(ctx context.Context, w *world, ids []string, want map[string]step, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		_, pending, _, err := w.deliveredLateness(ctx, ids, want)
		if err == nil && pending == 0 {
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// deliveredLateness reads the deliveries of the window's steps: how many,
// how many are not sent, and each sent one's lateness (sent_at − due).
func (w *world) deliveredLateness(ctx context.Context, ids []string, want map[string]step) (int, int, []float64, error) {
	st, err := store.Open(ctx, w.dialect, w.dsn, store.Options{})
	if err != nil {
		return 0, 0, nil, err
	}
	defer st.Close()
	var n, notSent int
	var lates []float64
	for _, id := range ids {
		ds, err := st.Deliveries(ctx, id, 10000)
		if err != nil {
			return 0, 0, nil, err
		}
		for _, d := range ds {
			key, ok := deliveryStep(d)
			if !ok {
				continue
			}
			s, ok := want[key]
			if !ok {
				continue
			}
			n++
			if d.State != herald.DeliverySent || d.SentAt == nil {
				notSent++
				continue
			}
			lates = append(lates, float64(d.SentAt.Sub(s.at).Microseconds())/1000)
		}
	}
	return n, notSent, lates, nil
}

// fatal is a fakeTB failure.
type fatal string
