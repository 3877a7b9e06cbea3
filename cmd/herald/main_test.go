package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestCheckConfig(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"check-config"}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"API Platform", "Credit Origination", "Partner Integrations", "Customer Portal",
		"Admin Dashboard", "RTO 4h", "availability 99.99%", "Every 30 min", "Within 4 hours, if required"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadConfigStopsTheStartNamingTheField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.yaml")
	os.WriteFile(path, []byte("page:\n  name: Kredete\n  time_zone: UTC\nobjectives:\n  rto: four hours\n"), 0o600)
	err := run(t.Context(), nil, env(map[string]string{"HERALD_CONFIG": path,
		"HERALD_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "h.db")}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "objectives.rto") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("a bad duration gave %v; want an error naming objectives.rto and its line", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(t.Context(), []string{"serv"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("an unknown command gave %v; want the usage", err)
	}
}

// TestServeAndShutDown starts the server on a fresh SQLite file with nothing
// else set, reads the address it prints, fetches the status page, and stops
// it cleanly by cancelling the context (SIGTERM does that in main).
func TestServeAndShutDown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{"HERALD_ADDR": "127.0.0.1:0",
			"HERALD_DATABASE_URL": "sqlite:" + filepath.Join(dir, "herald.db"), "HERALD_LOG_LEVEL": "error"}), pw)
		pw.Close()
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
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
		t.Fatalf("serve returned before printing its address: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve printed no address within 20 s")
	}
	resp, err := http.Get(base + "/api/v2/components.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Credit Origination") {
		t.Fatalf("components.json: %d %s", resp.StatusCode, body)
	}
	// An open page holds an event stream: the shutdown must end it rather
	// than wait out its timeout and fail (every rolling update has some).
	stream, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	first, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "retry:") {
		t.Fatalf("event stream began with %q, %v", first, err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		ended <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve ended with %v after the context was cancelled (an open event stream held the shutdown?)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s of the context ending")
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("the event stream ended with %v, not a clean end", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream was still open after serve returned")
	}
}
