package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Where the manifests live, relative to the repository's root, and the
// example Secret that kustomization.yaml deliberately leaves out.
const (
	kubeDir       = "deploy/kubernetes"
	exampleSecret = "secret.example.yaml"
)

// objects holds the decoded manifests by kind.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	jobs        []*batchv1.Job
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	accounts    []*corev1.ServiceAccount
	count       int
}

// decode adds every object in data (one or more YAML documents), decoded
// strictly: the same decoding the API server applies with strict field
// validation (kubectl --validate=strict), case-sensitive, with unknown and
// duplicate fields as errors.
func (o *objects) decode(where string, data []byte) []error {
	var errs []error
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return append(errs, fmt.Errorf("%s: %v", where, err))
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %v", where, i, err))
			continue
		}
		if string(bytes.TrimSpace(j)) == "null" { // only comments
			continue
		}
		if err := o.add(j); err != nil {
			errs = append(errs, fmt.Errorf("%s: document %d: %v", where, i, err))
		}
	}
	return errs
}

func (o *objects) add(j []byte) error {
	var tm metav1.TypeMeta
	if err := json.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return err
	}
	var obj metav1.Object
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		o.deployments, obj = append(o.deployments, d), d
	case "v1 Service":
		s := &corev1.Service{}
		o.services, obj = append(o.services, s), s
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		o.pdbs, obj = append(o.pdbs, p), p
	case "batch/v1 Job":
		jb := &batchv1.Job{}
		o.jobs, obj = append(o.jobs, jb), jb
	case "v1 ConfigMap":
		c := &corev1.ConfigMap{}
		o.configMaps, obj = append(o.configMaps, c), c
	case "v1 Secret":
		s := &corev1.Secret{}
		o.secrets, obj = append(o.secrets, s), s
	case "v1 ServiceAccount":
		a := &corev1.ServiceAccount{}
		o.accounts, obj = append(o.accounts, a), a
	default:
		return fmt.Errorf("apiVersion %q, kind %q: not a kind this validator knows (add its type to objects.add)", tm.APIVersion, tm.Kind)
	}
	o.count++
	strict, err := json.UnmarshalStrict(j, obj)
	if err != nil {
		return fmt.Errorf("%s: %v", tm.Kind, err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s %s: %s", tm.Kind, obj.GetName(), strings.Join(msgs, "; "))
	}
	return nil
}

// checkKubernetes validates deploy/kubernetes and returns how many objects
// kustomize built.
func checkKubernetes(root string, names envNames, r *Report) int {
	dir := filepath.Join(root, kubeDir)
	kraw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		r.fail("%v", err)
		return 0
	}
	var k ktypes.Kustomization
	if err := yaml.UnmarshalStrict(kraw, &k); err != nil {
		r.fail("%s/kustomization.yaml: %v", kubeDir, err)
		return 0
	}

	// Every file decodes on its own, so an error names its file; and every
	// file is applied (listed) or is the example Secret.
	listed := map[string]bool{"kustomization.yaml": true, exampleSecret: true}
	var raw objects
	rawOK := true
	for _, res := range k.Resources {
		listed[res] = true
		data, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			r.fail("%s/kustomization.yaml lists %s: %v", kubeDir, res, err)
			rawOK = false
			continue
		}
		for _, e := range raw.decode(kubeDir+"/"+res, data) {
			r.fail("%v", e)
			rawOK = false
		}
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range append(slices.Clone(g.FileSources), g.EnvSources...) {
			if _, path, ok := strings.Cut(f, "="); ok {
				f = path
			}
			listed[f] = true
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.fail("%v", err)
		return 0
	}
	for _, e := range entries {
		if !e.IsDir() && !listed[e.Name()] {
			r.fail("%s/%s is not in kustomization.yaml: kubectl apply -k would leave it out", kubeDir, e.Name())
		}
	}

	var secrets objects
	data, err := os.ReadFile(filepath.Join(dir, exampleSecret))
	if err != nil {
		r.fail("%v", err)
	}
	for _, e := range secrets.decode(kubeDir+"/"+exampleSecret, data) {
		r.fail("%v", e)
	}

	// What kubectl apply -k applies.
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		r.fail("kustomize build %s: %v", kubeDir, err)
		return 0
	}
	built, err := m.AsYaml()
	if err != nil {
		r.fail("kustomize build %s: %v", kubeDir, err)
		return 0
	}
	var objs objects
	for _, e := range objs.decode("kustomize build "+kubeDir, built) {
		if rawOK { // else already reported by file
			r.fail("%v", e)
		}
	}
	if !rawOK {
		return objs.count
	}
	checkRules(root, &objs, secrets.secrets, names, r)
	return objs.count
}

// sortedKeys lists a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
