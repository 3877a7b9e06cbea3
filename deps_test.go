package herald_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/kredete/herald"

// allowed lists, for each of our packages, which of our packages its
// non-test code may import. Imports point one way: cmd → handlers →
// components → domain; comms → domain; store → domain. The domain (the root
// package) imports nothing of ours, and only the standard library.
var allowed = map[string][]string{
	".":         {},
	"config":    {"."},
	"statusapi": {"."},
	// A strict Statuspage client's types, for tests; nothing of ours.
	"statusapi/statusapitest":   {},
	"components":                {"."},
	"migrations":                {},
	"web":                       {},
	"store":                     {".", "migrations"},
	"store/storetest":           {"store"},
	"components/componentstest": {},
	"scripts/vulndb":            {},
	"handlers":                  {".", "components", "statusapi", "web"},
	"comms":                     {"."},
	"cmd/herald":                {"*"},
	"scripts/plainserver":       {},
	// Its own module (k8s.io/api, kustomize); it reads Herald's files, never its packages.
	"deploy/validate":     {},
	"scripts/enginebench": {"*"},
	"scripts/fanoutbench": {"*"},
	"scripts/loadbench":   {"*"},
	// What the benchmark drivers share; it knows nothing of Herald's packages.
	"scripts/internal/benchkit": {},
	"e2e":                       {},
	"auth":                      {},
	// The Prometheus side reads the store's queue depth and clock state.
	"metrics":             {".", "store"},
	"metrics/metricstest": {},
	// The webhook adapter writes Statuspage's objects as the API does.
	"comms/webhook": {".", "comms", "statusapi"},
}

// vendorSDKs may appear only in their adapter package under comms/.
var vendorSDKs = []string{"github.com/slack-go/", "github.com/twilio/", "github.com/PagerDuty/", "github.com/wneessen/go-mail"}

// monitoring is the Prometheus client: only metrics/ imports it. Handlers
// and the engine report through interfaces they declare.
const monitoring = "github.com/prometheus/"

func TestImportsPointOneWay(t *testing.T) {
	imports := map[string]map[string]bool{} // package dir -> imports
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(p))
		if imports[dir] == nil {
			imports[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			imports[dir][strings.Trim(imp.Path.Value, `"`)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 5 {
		t.Fatalf("found only %d packages; is the test running at the module root?", len(imports))
	}
	for dir, imps := range imports {
		rule, ok := allowed[dir]
		if !ok {
			// New packages under comms/ follow comms' rule; anything else
			// must be added to the table deliberately.
			if strings.HasPrefix(dir, "comms/") {
				// An adapter may use the domain and comms' shared types,
				// and its own test server package.
				rule = []string{".", "comms", path.Dir(dir)}
			} else {
				t.Errorf("package %s has no import rule in deps_test.go; add one", dir)
				continue
			}
		}
		for imp := range imps {
			if strings.HasPrefix(imp, monitoring) && dir != "metrics" && !strings.HasPrefix(dir, "metrics/") {
				t.Errorf("%s imports %s; only metrics/ may", dir, imp)
			}
			for _, sdk := range vendorSDKs {
				if strings.HasPrefix(imp, sdk) && !strings.HasPrefix(dir, "comms/") {
					t.Errorf("%s imports the vendor SDK %s; only its comms/ adapter may", dir, imp)
				}
			}
			if dir == "." && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
				t.Errorf("the domain imports %s; it may import only the standard library", imp)
			}
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			target := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if target == "" {
				target = "."
			}
			if !permitted(rule, target) {
				t.Errorf("%s imports %s; allowed: %v", dir, path.Clean(target), rule)
			}
		}
	}
}

func permitted(rule []string, target string) bool {
	for _, r := range rule {
		if r == "*" || r == target {
			return true
		}
	}
	return false
}

func TestDomainHasNoIO(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"os", "net", "net/http", "database/sql", "io/ioutil", "log/slog"}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			for _, bad := range forbidden {
				if p == bad {
					t.Errorf("%s imports %s: the domain performs no I/O", e.Name(), p)
				}
			}
		}
	}
}

// TestMetricsOwnTheirRegistry: the Prometheus client's global registry is
// package-level state; Herald's registry belongs to the server that makes
// it, so two servers in one process (tests) never share series.
func TestMetricsOwnTheirRegistry(t *testing.T) {
	global := []string{"prometheus.DefaultRegisterer", "prometheus.DefaultGatherer", "prometheus.MustRegister(",
		"prometheus.Register(", "promhttp.Handler()", "promauto."}
	files, err := filepath.Glob("metrics/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no metrics/*.go (%v); is the test running at the module root?", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range global {
			if strings.Contains(string(b), g) {
				t.Errorf("%s uses %s: the global registry; register with the server's own", f, g)
			}
		}
	}
}
