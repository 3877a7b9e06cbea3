// Package benchkit holds what Herald's benchmark drivers (scripts/*bench)
// share: finding the repository, building and running herald as a
// separate process until /readyz answers, a fresh database, reading a
// process's CPU and memory from /proc, and reading wrk's output. It is for
// scripts run by hand, never for the server.
package benchkit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgres is the server the drivers use when
// HERALD_TEST_POSTGRES_URL is not set, as the tests do.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// clockTicks is USER_HZ on Linux: /proc's CPU times are in these.
const clockTicks = 100

// RepoRoot is the directory holding go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod found)")
		}
		dir = parent
	}
}

// Cleanups run last first, once.
type Cleanups struct {
	mu sync.Mutex
	fs []func()
}

// Add registers f.
func (c *Cleanups) Add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fs = append(c.fs, f)
}

// Run runs every registered function, the last added first.
func (c *Cleanups) Run() {
	c.mu.Lock()
	fs := c.fs
	c.fs = nil
	c.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// BuildHerald builds ./cmd/herald of the repository at repo into out.
func BuildHerald(ctx context.Context, repo, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/herald")
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/herald: %w", err)
	}
	return nil
}

// FreeAddr is a loopback address nothing listens on (a moment ago).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// BaseEnv is the environment every herald run starts from: PATH, HOME and
// TMPDIR only, so that the caller's HERALD_* variables never leak in.
func BaseEnv(tmp string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp}
}

// Herald is a running herald process.
type Herald struct {
	Cmd     *exec.Cmd
	PID     int
	Addr    string        // host:port it serves on
	LogFile string        // its stdout and stderr
	ReadyIn time.Duration // start → /readyz 200
	exited  chan struct{}
	err     error
	once    sync.Once
}

// StartHerald runs bin with args and env (which must set HERALD_ADDR=addr),
// its output to logFile, and waits until GET /readyz answers 200, at most
// for readyTimeout. On failure the error carries the log's tail.
func StartHerald(ctx context.Context, bin string, args, env []string, addr, logFile string, readyTimeout time.Duration) (*Herald, error) {
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	began := time.Now()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p := &Herald{Cmd: cmd, PID: cmd.Process.Pid, Addr: addr, LogFile: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := p.Alive(); err != nil {
			b, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("%w\n%s", err, Tail(string(b), 30))
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ReadyIn = time.Since(began)
				return p, nil
			}
		}
		if time.Since(began) > readyTimeout || ctx.Err() != nil {
			p.Stop(5 * time.Second)
			b, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("herald was not ready within %s\n%s", readyTimeout, Tail(string(b), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Alive is nil while the process runs.
func (p *Herald) Alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("herald exited: %v (log: %s)", p.err, p.LogFile)
	default:
		return nil
	}
}

// Stop sends SIGTERM, and SIGKILL after timeout; it waits for the exit.
func (p *Herald) Stop(timeout time.Duration) {
	p.once.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		p.Cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
		select {
		case <-p.exited:
		case <-time.After(timeout):
			p.Cmd.Process.Kill() //nolint:errcheck
			<-p.exited
		}
	})
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogProblems counts the WARN and ERROR lines of a herald log (text or
// JSON format) and returns the first few, shortened.
func LogProblems(name string) (int, []string) {
	f, err := os.Open(name)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	var first []string
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") ||
			strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			n++
			if len(first) < 8 {
				if len(l) > 400 {
					l = l[:400] + "…"
				}
				first = append(first, l)
			}
		}
	}
	return n, first
}

// FreshDatabase returns the HERALD_DATABASE_URL of a new, empty database:
// an SQLite file in tmp, or on PostgreSQL (HERALD_TEST_POSTGRES_URL or
// DefaultPostgres) a new database named prefix_RANDOM, dropped by c unless
// keep.
func FreshDatabase(ctx context.Context, c *Cleanups, postgres bool, tmp, prefix string, keep bool, logf func(string, ...any)) (string, error) {
	if !postgres {
		return "sqlite:" + filepath.Join(tmp, "herald.db"), nil
	}
	admin := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if admin == "" {
		admin = DefaultPostgres
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, admin)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at %s: %w", admin, err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck
	name := prefix + "_" + hex.EncodeToString(b)
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	logf("created PostgreSQL database %s", name)
	c.Add(func() {
		if keep {
			logf("kept PostgreSQL database %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			logf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// --- /proc -----------------------------------------------------------------------

// StatusKB reads a Vm* field (VmRSS, VmHWM...) of /proc/PID/status in kB;
// 0 if the process is gone.
func StatusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// ProcCPU is a process's user+system CPU time (its exited threads
// included).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / clockTicks, nil
}

// MachineBusy is the CPU time the whole machine spent busy since boot.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// LoadAvg is /proc/loadavg's three load averages.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// MiB converts kB to MiB.
func MiB(kb int64) float64 { return float64(kb) / 1024 }

// PostgresCPU sums the CPU time of the PostgreSQL backends connected to
// database db (their process title names it); a backend that exited
// meanwhile is lost. 0 for "".
func PostgresCPU(db string) time.Duration {
	if db == "" {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(title), " "+db+" ") {
			continue
		}
		d, _ := ProcCPU(pid)
		sum += d
	}
	return sum
}

// Percentile is the nearest-rank p-th percentile of v (p in 0..100; 100
// is the largest); 0 for none.
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
