package main

import (
	"bufio"
	"context"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/slack/slacktest"
	"github.com/kredete/herald/metrics/metricstest"
	"github.com/kredete/herald/store"
)

// serveInProcess runs `herald serve` with vars until the test ends and
// returns its base URL.
func serveInProcess(t *testing.T, vars map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(vars), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve ended with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20 s of the context ending")
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if _, a, ok := strings.Cut(sc.Text(), " on http://"); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("serve returned before printing its address: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve printed no address within 20 s")
	}
	return ""
}

// TestMetricsEndToEnd runs the server as deployed, with a metrics token,
// sends it real traffic (status page reads on the hot path, a console page
// through the router, a live-update client, an incident whose messages
// the engine delivers to Slack) and checks that /metrics tells of each.
func TestMetricsEndToEnd(t *testing.T) {
	const metricsToken = "e2e-metrics-token-0123456789"
	const admin = "e2e-admin-token-0123456789"
	slack := slacktest.New(t)
	slack.AddChannel("incident-response") // the default plan's engineering channel
	db := filepath.Join(t.TempDir(), "herald.db")
	base := serveInProcess(t, map[string]string{"HERALD_ADDR": "127.0.0.1:0", "HERALD_LOG_LEVEL": "error",
		"HERALD_DATABASE_URL": "sqlite:" + db, "HERALD_METRICS_TOKEN": metricsToken, "HERALD_ADMIN_TOKEN": admin,
		"HERALD_SLACK_TOKEN": slack.Token(), "HERALD_SLACK_API_URL": slack.URL()})
	client := &http.Client{Timeout: 20 * time.Second}
	scrape := func() metricstest.Scrape {
		t.Helper()
		return metricstest.Get(t, client, base+"/metrics", metricsToken)
	}
	get := func(path string) int {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return resp.StatusCode
	}
	// The token is asked even of this machine.
	if code := get("/metrics"); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d, want 401", code)
	}
	before := scrape()
	count := func(s metricstest.Scrape, route, method, status string) float64 {
		v, _ := s.Value("herald_http_request_duration_seconds", "route", route, "method", method, "status", status)
		return v
	}

	for range 3 {
		if code := get("/api/v2/summary.json"); code != http.StatusOK {
			t.Fatalf("summary.json: %d", code)
		}
	}
	if code := get("/"); code != http.StatusOK {
		t.Fatalf("/: %d", code)
	}
	if code := get("/console/sign-in"); code != http.StatusOK {
		t.Fatalf("/console/sign-in: %d", code)
	}
	stream, err := client.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	req, _ := http.NewRequest(http.MethodPost, base+"/admin/api/incidents", strings.NewReader(
		`{"name":"Card payments failing","impact":"major","body":"We are investigating.","components":[{"id":"api-platform","status":"partial_outage"}]}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id, ok := strings.CutPrefix(resp.Header.Get("Location"), "/incidents/")
	if resp.StatusCode != http.StatusCreated || !ok {
		t.Fatalf("declare: %d", resp.StatusCode)
	}

	s := scrape()
	for _, w := range []struct {
		route, method string
		n             float64
	}{{"/api/v2/summary.json", "GET", 3}, {"/", "GET", 1}, {"/console/sign-in", "GET", 1}} {
		if got := count(s, w.route, w.method, "2xx") - count(before, w.route, w.method, "2xx"); got != w.n {
			t.Errorf("%s %s: %v requests counted, want %v", w.method, w.route, got, w.n)
		}
	}
	if got := count(s, "/admin/api/incidents", "POST", "2xx"); got != 1 {
		t.Errorf("the declaration: %v requests counted, want 1", got)
	}
	if !s.Has("herald_queue_jobs") || !s.Has("herald_obligations_overdue") || !s.Has("process_cpu_seconds_total") {
		t.Errorf("the store's or the process's series are missing")
	}

	// Every delivery of the incident is counted once by channel and
	// result, once the engine has settled it (none is retried here: Slack
	// answers, and the executives' email and SMS are not configured, so
	// given up at once).
	st, err := store.Open(context.Background(), store.SQLite, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := st.Deliveries(context.Background(), id, 1000)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{}
		final := len(ds) > 0
		for _, d := range ds {
			final = final && d.State.Final()
			want[string(d.Channel)+"/"+string(d.State)]++
		}
		s = scrape()
		got := s.Values("herald_deliveries_total", "channel", "result")
		if final && maps.Equal(got, want) && want["slack/"+string(herald.DeliverySent)] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the declaration: deliveries counted %v; the store has %v (all final: %v)", got, want, final)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, _ := s.Value("herald_sse_clients"); v != 1 {
		t.Errorf("herald_sse_clients %v with one stream open", v)
	}
}
