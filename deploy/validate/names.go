package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// pendingNames are variables that deployment files may set before Herald's
// configuration knows them, because a change on its way adds them. Each
// is accepted with a note until config/config.go names it; then its entry
// here can go.
var pendingNames = map[string]string{}

// runtimeNames are Go runtime settings Herald documents (README "Speed").
var runtimeNames = map[string]bool{"GOGC": true, "GOMEMLIMIT": true}

// testOnlyNames must never be set in production manifests.
var testOnlyNames = map[string]string{
	"HERALD_WEBHOOK_ALLOW": "lets webhook subscriptions reach private networks: for tests and local receivers only",
}

// envNames is every environment variable Herald reads.
type envNames struct {
	config map[string]bool // the HERALD_ names in config/config.go
	files  map[string]bool // NAME_FILE variants the README documents
}

var heraldName = regexp.MustCompile(`^HERALD_[A-Z0-9_]+$`)

// loadEnvNames reads the names from config/config.go (every "HERALD_..."
// string literal) and the _FILE variants from the README's configuration
// table ("`HERALD_SMTP_URL` / `_FILE`", "`HERALD_ADMIN_TOKEN` /
// `HERALD_ADMIN_TOKEN_FILE`").
func loadEnvNames(root string) (envNames, error) {
	n := envNames{config: map[string]bool{}, files: map[string]bool{}}
	path := filepath.Join(root, "config", "config.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return n, fmt.Errorf("read Herald's variable names: %v", err)
	}
	ast.Inspect(f, func(node ast.Node) bool {
		if lit, ok := node.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && heraldName.MatchString(s) {
				n.config[s] = true
			}
		}
		return true
	})
	if len(n.config) == 0 {
		return n, fmt.Errorf("%s names no HERALD_ variable: has the configuration moved?", path)
	}
	readme, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		return n, fmt.Errorf("read the README's configuration table: %v", err)
	}
	defer readme.Close()
	sc := bufio.NewScanner(readme)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `HERALD_") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		prev := ""
		for i, part := range strings.Split(cell, "`") {
			if i%2 == 0 { // outside backticks
				continue
			}
			switch {
			case part == "_FILE" && prev != "":
				n.files[prev+"_FILE"] = true
			case strings.HasSuffix(part, "_FILE") && heraldName.MatchString(part):
				n.files[part] = true
			case heraldName.MatchString(part):
				prev = part
			}
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("read README.md: %v", err)
	}
	if len(n.files) == 0 {
		return n, fmt.Errorf("README.md's configuration table gives no _FILE variant: has the table moved?")
	}
	return n, nil
}

// check tells whether Herald reads name; note is set for a pending name.
func (n envNames) check(name string) (ok bool, note string) {
	switch {
	case n.config[name], n.files[name], runtimeNames[name]:
		return true, ""
	case pendingNames[name] != "":
		return true, fmt.Sprintf("%s (%s) is not in config/config.go yet; accepted as pending", name, pendingNames[name])
	}
	return false, ""
}

// checkName reports an unknown name, or a test-only one when prod is set,
// once per where.
func (n envNames) checkName(r *Report, where, name string, prod bool) {
	ok, note := n.check(name)
	switch {
	case !ok:
		r.fail("%s: %s is not a variable Herald reads (config/config.go, README \"Configuration\")", where, name)
	case note != "":
		r.noteOnce(note)
	}
	if why := testOnlyNames[name]; prod && why != "" {
		r.fail("%s: %s must not be set in production: it %s", where, name, why)
	}
}

func (r *Report) noteOnce(s string) {
	for _, n := range r.Notes {
		if n == s {
			return
		}
	}
	r.Notes = append(r.Notes, s)
}
