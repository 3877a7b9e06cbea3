// Command validate checks Herald's deployment files: the Kubernetes manifests
// in deploy/kubernetes and the development compose file deploy/compose.yaml.
//
//	cd deploy/validate && go run . -root ../..
//
// It builds deploy/kubernetes with kustomize (the library kubectl -k uses),
// decodes every object strictly into the official Kubernetes API types as the
// API server's strict field validation does (an unknown or misspelt field, a
// wrong type or a duplicate key is an error), loads compose.yaml with the
// Compose specification's loader and schema, and then checks the rules that
// keep Herald deployable (rules.go, compose.go). It prints every problem and
// exits 1 if there is one.
//
// It is its own module so that the Kubernetes and Compose libraries stay out
// of Herald's go.mod.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	root := flag.String("root", "../..", "the repository's root directory")
	flag.Parse()
	os.Exit(run(*root, os.Stdout))
}

func run(root string, w io.Writer) int {
	r := Check(root)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "FAIL:", p)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "deploy/validate: %d problem(s) in the deployment files\n", len(r.Problems))
		return 1
	}
	fmt.Fprintf(w, "deploy/validate: %s\n", r.Summary)
	return 0
}

// Report is what Check found.
type Report struct {
	Problems []string // each one fails the check
	Notes    []string // worth reading, not failures
	Summary  string   // what was checked, when nothing failed
}

func (r *Report) fail(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Check validates the deployment files of the repository at root.
func Check(root string) Report {
	var r Report
	names, err := loadEnvNames(root)
	if err != nil {
		r.fail("%v", err)
		return r
	}
	objs := checkKubernetes(root, names, &r)
	services := checkCompose(root, names, &r)
	r.Summary = fmt.Sprintf("%d Kubernetes objects and %d compose services valid", objs, services)
	return r
}
