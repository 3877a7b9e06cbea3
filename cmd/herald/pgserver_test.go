package main

// A PostgreSQL server of the test's own, to restart and crash at will: the
// shared server on 127.0.0.1:5432 serves every other test at the same time
// and must never be touched. It is the machine's PostgreSQL server binaries
// (Debian's /usr/lib/postgresql/VERSION/bin, or HERALD_TEST_PG_BINDIR) run on
// a data directory in a temporary directory, on a free port with its socket
// in that directory, and stopped when the test ends. As root, the binaries
// run as the postgres user (PostgreSQL refuses root), which then owns the
// directory.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is a running private PostgreSQL server.
type pgServer struct {
	t      *testing.T
	bindir string
	dir    string // the temporary directory: data/, the log, the socket
	data   string
	log    string
	port   int
	runAs  []string // the command prefix that drops root, if root
	url    string   // the database Herald uses, in HERALD_DATABASE_URL's form
}

// postgresBindir finds initdb and pg_ctl: HERALD_TEST_PG_BINDIR, else the
// newest /usr/lib/postgresql/*/bin, else pg_config --bindir. Missing
// binaries fail the test, saying what to install.
func postgresBindir(t *testing.T) string {
	t.Helper()
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("HERALD_TEST_PG_BINDIR"); dir != "" {
		if !has(dir) {
			t.Fatalf("HERALD_TEST_PG_BINDIR=%s holds no initdb, pg_ctl and postgres", dir)
		}
		return dir
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if has(dir) {
			return dir
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir
		}
	}
	t.Fatal("the PostgreSQL fault test runs a PostgreSQL server of its own (it restarts and crashes it) and needs the server " +
		"binaries initdb, pg_ctl and postgres: none in /usr/lib/postgresql/*/bin or pg_config --bindir. Install the server " +
		"(apt-get install postgresql) or set HERALD_TEST_PG_BINDIR to the directory holding them")
	return ""
}

// startPostgres initialises and starts a private server with a database
// "herald", stopped and removed when the test ends.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	if os.Getenv("HERALD_TEST_SKIP_POSTGRES") == "1" {
		t.Skip("HERALD_TEST_SKIP_POSTGRES=1: PostgreSQL fault test skipped (never set this in CI)")
	}
	p := &pgServer{t: t, bindir: postgresBindir(t), port: freePort(t)}
	// Not t.TempDir: its parents are private to root, and the server runs
	// as postgres.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir, p.data, p.log = dir, filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the PostgreSQL fault test runs the server as the postgres user, which is missing: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Fatalf("running as root, the PostgreSQL fault test needs runuser (util-linux) to run the server as postgres: %v", err)
		}
		p.runAs = []string{runuser, "-u", "postgres", "--"}
	}
	start := time.Now()
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// fsync off: a crash of the server (immediate) leaves its writes in the
	// operating system's cache, which is what the test crashes.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, dir)
	if out, err := p.run("pg_ctl", "-D", p.data, "-l", p.log, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, p.logTail(30))
	}
	t.Cleanup(func() {
		if out, err := p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
			t.Errorf("stop the test's PostgreSQL: %v\n%s", err, out)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the test's PostgreSQL log (last 40 lines):\n%s", p.logTail(40))
		}
	})
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test's PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE herald"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/herald?sslmode=disable", p.port)
	t.Logf("PostgreSQL (%s) of the test's own on port %d, ready in %s", p.bindir, p.port, time.Since(start).Round(10*time.Millisecond))
	return p
}

// run runs one of the server's binaries, as postgres when root.
func (p *pgServer) run(name string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(p.runAs), filepath.Join(p.bindir, name))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

// restart restarts the server with pg_ctl's shutdown mode: "fast" (clients
// disconnected, a clean shutdown) or "immediate" (every server process
// killed at once, a crash: recovery on start). It returns when the server
// accepts connections again, and how long it was away.
func (p *pgServer) restart(mode string) time.Duration {
	p.t.Helper()
	start := time.Now()
	if out, err := p.run("pg_ctl", "-D", p.data, "-l", p.log, "-m", mode, "-w", "-t", "60", "restart"); err != nil {
		p.t.Fatalf("pg_ctl restart -m %s: %v\n%s\n%s", mode, err, out, p.logTail(30))
	}
	return time.Since(start)
}

// logTail is the end of the server's log (readable by root; as another
// user the directory is the test's own).
func (p *pgServer) logTail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
