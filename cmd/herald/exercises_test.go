package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald/store"
)

// TestServeSeedsExercises: serve puts the plan's exercise results in the
// log at start, once: a second start adds nothing.
func TestServeSeedsExercises(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	for range 2 {
		serveOnce(t, path)
	}
	st, err := store.Open(t.Context(), store.SQLite, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Exercises(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if strings.Join(names, ", ") != "AZ Evacuation, Database Failover, Full DR Exercise" {
		t.Errorf("after two starts the log holds %v; want the seed's three results once", names)
	}
}

func TestCheckConfigListsExercises(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"check-config"}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DR exercises (4, 3 results to seed)", "Backup Verification: Weekly (Restore and validate checksums)",
		"Full DR Exercise: Annually (Complete region failover)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out.String())
		}
	}
}

// serveOnce starts serve on the SQLite file, waits until it listens, and
// stops it.
func serveOnce(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{"HERALD_ADDR": "127.0.0.1:0", "HERALD_DATABASE_URL": "sqlite:" + path,
			"HERALD_LOG_LEVEL": "error", "HERALD_ENGINE": "false"}), pw)
		pw.Close()
	}()
	listening := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " on http://") {
				listening <- struct{}{}
			}
		}
	}()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20 s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s")
	}
}
