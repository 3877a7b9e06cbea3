package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// server is the Herald process every test in this package talks to.
type server struct {
	URL   string // http://127.0.0.1:PORT, no trailing slash
	Token string // the admin API's bearer token
	Dir   string // scratch directory: binary, database, config, browser profiles
	Log   *syncBuffer
}

// herald is set by TestMain before any test runs and never changed after.
var herald *server

// newComponent is added to the configuration after the demo data was
// written, as an operator adds a component to a running page: it has no
// history, so its uptime bars are grey (no data) except for today.
var newComponent = struct{ Key, Name, Description string }{
	Key: "card-issuing", Name: "Card Issuing",
	Description: "Added to the plan after launch, so it has no status history yet.",
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "herald-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, stop, err := startHerald(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start Herald:", err)
		return 1
	}
	herald = srv
	code := m.Run()
	stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- Herald's output ---\n%s--- end of Herald's output ---\n", srv.Log.String())
	}
	return code
}

// startHerald builds cmd/herald, writes the demo data into a fresh SQLite
// database and serves it on a free port. stop ends the process.
func startHerald(dir string) (_ *server, stop func(), _ error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, nil, fmt.Errorf("module root not found next to the e2e directory: %w", err)
	}
	bin := filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", bin, "./cmd/herald")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("go build ./cmd/herald: %w\n%s", err, out)
	}

	tok := make([]byte, 16)
	rand.Read(tok) //nolint:errcheck // never fails
	srv := &server{Token: hex.EncodeToString(tok), Dir: dir, Log: &syncBuffer{}}
	db := "HERALD_DATABASE_URL=sqlite:" + filepath.Join(dir, "herald.db")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, bin, "demo-data")
	demo.Env = append(cleanEnv(), db)
	if out, err := demo.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("herald demo-data: %w\n%s", err, out)
	}

	cfg, err := configWithNewComponent(filepath.Join(root, "config", "default.yaml"))
	if err != nil {
		return nil, nil, err
	}
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, nil, err
	}

	url, stop, err := serveHerald(bin, append(cleanEnv(), db, "HERALD_ADMIN_TOKEN="+srv.Token,
		"HERALD_CONFIG="+cfgPath, "HERALD_LOG_LEVEL=info", "HERALD_EXPORT_DIR="+filepath.Join(dir, staticCopy)), srv.Log)
	if err != nil {
		return nil, nil, err
	}
	srv.URL = url
	return srv, stop, nil
}

// serveHerald runs `bin serve` with env on a free loopback port, its output
// into log, and returns its URL once it says it is ready. stop ends it
// (SIGINT, then SIGKILL after 15 s).
func serveHerald(bin string, env []string, log *syncBuffer) (url string, stop func(), _ error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(env, "HERALD_ADDR=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		// Read every line, so the server never blocks on a full pipe, and
		// hand over the address from the line main prints when it is ready.
		const marker = " status page on http://"
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if _, a, ok := strings.Cut(line, marker); ok && strings.HasPrefix(line, "Herald is serving the ") {
				select {
				case addr <- "http://" + strings.TrimSpace(a):
				default:
				}
			}
		}
		cmd.Wait() //nolint:errcheck // the exit is reported by the closed channel
		close(exited)
	}()
	stop = func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited already
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-exited
		}
	}
	select {
	case url = <-addr:
	case <-exited:
		return "", nil, fmt.Errorf("herald serve exited before it was ready:\n%s", log.String())
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, fmt.Errorf("herald serve did not print its address within 30s:\n%s", log.String())
	}
	return url, stop, nil
}

// cleanEnv is the test's environment without any HERALD_ variable, so a
// developer's own settings cannot leak into the server under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

// configWithNewComponent returns the default configuration with
// newComponent appended to its components.
func configWithNewComponent(path string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a YAML mapping", path)
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "components" || top.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
		top.Content[i+1].Content = append(top.Content[i+1].Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			str("key"), str(newComponent.Key), str("name"), str(newComponent.Name),
			str("description"), str(newComponent.Description)}})
		return yaml.Marshal(&doc)
	}
	return nil, fmt.Errorf("%s: no components list", path)
}

// syncBuffer collects the server's output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// adminPost sends a JSON body to the admin API and decodes the answer.
func adminPost(t *testing.T, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, herald.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+herald.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read the answer: %v", path, err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %s\n%s", path, resp.Status, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("POST %s: decode %s: %v", path, raw, err)
	}
}
