package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRun: two OSV entries, one affecting two modules, become the index
// govulncheck reads and the entries as they were.
func TestRun(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	entries := map[string]string{
		"GO-2026-0001": `{"id":"GO-2026-0001","modified":"2026-01-02T00:00:00Z","affected":[
			{"package":{"name":"stdlib","ecosystem":"Go"}},{"package":{"name":"example.com/a","ecosystem":"Go"}},
			{"package":{"name":"example.com/a","ecosystem":"Go"}}]}`,
		"GO-2026-0002": `{"id":"GO-2026-0002","modified":"2026-03-04T00:00:00Z","affected":[{"package":{"name":"example.com/a","ecosystem":"Go"}}]}`,
	}
	for id, body := range entries {
		if err := os.WriteFile(filepath.Join(src, id+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(src, out); err != nil {
		t.Fatal(err)
	}
	var mods []module
	read(t, filepath.Join(out, "index", "modules.json"), &mods)
	if len(mods) != 2 || mods[0].Path != "example.com/a" || len(mods[0].Vulns) != 2 || mods[0].Vulns[0].ID != "GO-2026-0001" ||
		mods[1].Path != "stdlib" || len(mods[1].Vulns) != 1 {
		t.Errorf("modules.json = %+v", mods)
	}
	var db map[string]string
	read(t, filepath.Join(out, "index", "db.json"), &db)
	if db["modified"] != "2026-03-04T00:00:00Z" {
		t.Errorf("db.json = %v; want the latest modification", db)
	}
	for id, body := range entries {
		if b, err := os.ReadFile(filepath.Join(out, "ID", id+".json")); err != nil || string(b) != body {
			t.Errorf("ID/%s.json = %q, %v; want the entry as it was", id, b, err)
		}
	}
	if err := run(t.TempDir(), out); err == nil {
		t.Error("an empty directory gave a database")
	}
}

func read(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
