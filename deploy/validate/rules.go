package main

import (
	"bytes"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// heraldShutdownSeconds is the longest Herald takes to stop after SIGTERM
// (cmd/herald/main.go): 15 s for requests in flight, then 10 s for the
// cadence engine's sends.
const heraldShutdownSeconds = 25

// placeholder marks every value of the example Secret.
const placeholder = "CHANGE-ME"

// checkRules checks what a Herald deployment needs beyond valid objects.
func checkRules(root string, o *objects, examples []*corev1.Secret, names envNames, r *Report) {
	pc := podContext{names: names, secretKeys: map[string]map[string]bool{}, configMaps: map[string]*corev1.ConfigMap{}}
	for _, s := range examples {
		keys := map[string]bool{}
		for k, v := range s.StringData {
			keys[k] = true
			if !strings.Contains(v, placeholder) {
				r.fail("%s: %s is not a placeholder (every value must contain %s): a real secret never goes in the repository", exampleSecret, k, placeholder)
			}
		}
		for k, v := range s.Data {
			keys[k] = true
			if !bytes.Contains(v, []byte(placeholder)) {
				r.fail("%s: %s is not a placeholder (every value must contain %s): a real secret never goes in the repository", exampleSecret, k, placeholder)
			}
		}
		pc.secretKeys[s.Name] = keys
	}
	if len(examples) == 0 {
		r.fail("%s defines no Secret", exampleSecret)
	}
	if len(o.secrets) > 0 {
		r.fail("kustomization.yaml applies a Secret (%s): an apply would overwrite the real one; keep secrets out of it", o.secrets[0].Name)
	}
	for _, cm := range o.configMaps {
		pc.configMaps[cm.Name] = cm
	}

	if len(o.deployments) != 1 {
		r.fail("%s: want one Deployment (Herald's), found %d", kubeDir, len(o.deployments))
		return
	}
	d := o.deployments[0]
	checkDeployment(root, d, pc, r)
	checkMigration(d, o.jobs, pc, r)
	podLabels := d.Spec.Template.Labels

	for _, s := range o.services {
		where := "Service " + s.Name
		if ok, _ := selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, podLabels); !ok {
			r.fail("%s: selector %v matches no pod of Deployment %s (labels %v)", where, s.Spec.Selector, d.Name, podLabels)
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPort(d.Spec.Template.Spec.Containers[0], p.TargetPort); !ok {
				r.fail("%s: port %s sends to targetPort %s, which container %s does not declare", where, p.Name, p.TargetPort.String(), d.Spec.Template.Spec.Containers[0].Name)
			}
		}
		for _, j := range o.jobs {
			if ok, _ := selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, j.Spec.Template.Labels); ok {
				r.fail("%s: selector %v also matches the pods of Job %s: requests would go to a pod that serves nothing", where, s.Spec.Selector, j.Name)
			}
		}
	}
	if len(o.services) == 0 {
		r.fail("%s: no Service in front of Deployment %s", kubeDir, d.Name)
	}

	replicas := int(*d.Spec.Replicas)
	for _, p := range o.pdbs {
		where := "PodDisruptionBudget " + p.Name
		ok, err := selects(p.Spec.Selector, podLabels)
		if err != nil {
			r.fail("%s: selector: %v", where, err)
		} else if !ok {
			r.fail("%s: selector %s matches no pod of Deployment %s (labels %v)", where, metav1.FormatLabelSelector(p.Spec.Selector), d.Name, podLabels)
		}
		for _, j := range o.jobs {
			if ok, _ := selects(p.Spec.Selector, j.Spec.Template.Labels); ok {
				r.fail("%s: selector also matches the pods of Job %s", where, j.Name)
			}
		}
		// How many may be down at once: at least one (or nothing can be
		// drained), fewer than all (or the budget protects nothing).
		down := -1
		switch {
		case p.Spec.MaxUnavailable != nil:
			down = scaled(*p.Spec.MaxUnavailable, replicas, true)
		case p.Spec.MinAvailable != nil:
			down = replicas - scaled(*p.Spec.MinAvailable, replicas, true)
		}
		if down < 1 || down >= replicas {
			r.fail("%s: allows %d of %d replicas down at once; want at least 1 and fewer than all", where, down, replicas)
		}
	}
	if len(o.pdbs) == 0 {
		r.fail("%s: no PodDisruptionBudget for Deployment %s", kubeDir, d.Name)
	}
}

// checkDeployment checks Herald's Deployment: replicas, probes, port,
// migrations off, the plan mounted, room to shut down, spread over zones,
// the scrape annotations.
func checkDeployment(root string, d *appsv1.Deployment, pc podContext, r *Report) {
	where := "Deployment " + d.Name
	pod := &d.Spec.Template
	pc.checkPod(where, &pod.Spec, r)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		r.fail("%s: want at least 2 replicas, so that one can be drained or replaced while another serves", where)
		one := int32(1)
		d.Spec.Replicas = &one
	}
	if ok, err := selects(d.Spec.Selector, pod.Labels); err != nil || !ok {
		r.fail("%s: selector %s does not match its own pod labels %v (the API server refuses this)", where, metav1.FormatLabelSelector(d.Spec.Selector), pod.Labels)
	}
	if len(pod.Spec.Containers) == 0 {
		return
	}
	c := pod.Spec.Containers[0]
	cw := where + ", container " + c.Name
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}

	// The port Herald listens on (HERALD_ADDR) is the declared port, and
	// the probes ask it.
	port := int32(0)
	if addr, ok := env["HERALD_ADDR"]; !ok {
		r.fail("%s: HERALD_ADDR is not set (the default, 127.0.0.1:8080, answers only inside the pod)", cw)
	} else if _, p, err := net.SplitHostPort(addr.Value); err != nil {
		r.fail("%s: HERALD_ADDR %q is not host:port", cw, addr.Value)
	} else if n, err := strconv.Atoi(p); err != nil || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == int32(n) }) {
		r.fail("%s: HERALD_ADDR %q listens on a port the container does not declare", cw, addr.Value)
	} else {
		port = int32(n)
	}
	probe := func(kind string, p *corev1.Probe, paths ...string) {
		switch {
		case p == nil:
			r.fail("%s: no %s probe", cw, kind)
		case p.HTTPGet == nil:
			r.fail("%s: the %s probe is not an HTTP GET of %s", cw, kind, strings.Join(paths, " or "))
		case !slices.Contains(paths, p.HTTPGet.Path):
			r.fail("%s: the %s probe asks %q; Herald answers it at %s", cw, kind, p.HTTPGet.Path, strings.Join(paths, " or "))
		default:
			if n, ok := containerPort(c, p.HTTPGet.Port); !ok || (port != 0 && n != port) {
				r.fail("%s: the %s probe asks port %s, not the port Herald listens on (%d)", cw, kind, p.HTTPGet.Port.String(), port)
			}
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("startup", c.StartupProbe, "/healthz", "/readyz")

	if v, ok := env["HERALD_AUTO_MIGRATE"]; !ok || v.Value != "false" {
		r.fail("%s: HERALD_AUTO_MIGRATE must be \"false\": the migration Job migrates, and replicas must not race it", cw)
	}
	checkPlan(root, cw, env["HERALD_CONFIG"], c, pod.Spec, pc, r)

	// Room to shut down: preStop, then Herald's own shutdown.
	need := int64(heraldShutdownSeconds)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		need += c.Lifecycle.PreStop.Sleep.Seconds
	}
	grace := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if grace < need {
		r.fail("%s: terminationGracePeriodSeconds %d is shorter than preStop plus Herald's shutdown (%d s)", where, grace, need)
	}

	spread := slices.ContainsFunc(pod.Spec.TopologySpreadConstraints, func(t corev1.TopologySpreadConstraint) bool {
		ok, _ := selects(t.LabelSelector, pod.Labels)
		return t.TopologyKey == "topology.kubernetes.io/zone" && ok
	})
	if a := pod.Spec.Affinity; !spread && a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			ok, _ := selects(t.PodAffinityTerm.LabelSelector, pod.Labels)
			spread = spread || (ok && t.PodAffinityTerm.TopologyKey == "topology.kubernetes.io/zone")
		}
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			ok, _ := selects(t.LabelSelector, pod.Labels)
			spread = spread || (ok && t.TopologyKey == "topology.kubernetes.io/zone")
		}
	}
	if !spread {
		r.fail("%s: nothing spreads the replicas across zones (a topologySpreadConstraint or pod anti-affinity on topology.kubernetes.io/zone selecting its pods)", where)
	}

	ann := pod.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) {
		r.fail("%s: want the pod annotations prometheus.io/scrape \"true\", prometheus.io/path /metrics, prometheus.io/port %q; have %q, %q, %q",
			where, strconv.Itoa(int(port)), ann["prometheus.io/scrape"], ann["prometheus.io/path"], ann["prometheus.io/port"])
	}
}

// checkPlan: HERALD_CONFIG names a file that a ConfigMap volume provides,
// and the file is config/default.yaml, Kredete's plan.
func checkPlan(root, where string, cfg corev1.EnvVar, c corev1.Container, spec corev1.PodSpec, pc podContext, r *Report) {
	if cfg.Value == "" {
		r.fail("%s: HERALD_CONFIG is not set: the plan would be the one built into the binary, not the ConfigMap's", where)
		return
	}
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(cfg.Value, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 || spec.Volumes[i].ConfigMap == nil {
			r.fail("%s: HERALD_CONFIG %s is on volume %s, which is not a ConfigMap", where, cfg.Value, m.Name)
			return
		}
		v := spec.Volumes[i].ConfigMap
		key := rel
		if len(v.Items) > 0 {
			key = ""
			for _, it := range v.Items {
				if path.Clean(it.Path) == rel {
					key = it.Key
				}
			}
		}
		cm := pc.configMaps[v.Name]
		plan, ok := "", false
		if cm != nil {
			plan, ok = cm.Data[key]
		}
		if !ok {
			r.fail("%s: HERALD_CONFIG %s: ConfigMap %s (volume %s) has no key for %s", where, cfg.Value, v.Name, m.Name, rel)
			return
		}
		want, err := os.ReadFile(filepath.Join(root, "config", "default.yaml"))
		if err != nil {
			r.fail("%v", err)
		} else if plan != string(want) {
			r.fail("%s: the plan in ConfigMap %s is not config/default.yaml: copy it (cp config/default.yaml %s/plan.yaml), or give another plan in an overlay", where, v.Name, kubeDir)
		}
		return
	}
	r.fail("%s: HERALD_CONFIG %s is on no mounted volume", where, cfg.Value)
}

// checkMigration: one Job runs `herald migrate` with the Deployment's image
// and database.
func checkMigration(d *appsv1.Deployment, jobs []*batchv1.Job, pc podContext, r *Report) {
	var server corev1.Container
	if len(d.Spec.Template.Spec.Containers) > 0 {
		server = d.Spec.Template.Spec.Containers[0]
	}
	migrates := 0
	for _, j := range jobs {
		where := "Job " + j.Name
		pc.checkPod(where, &j.Spec.Template.Spec, r)
		for _, c := range j.Spec.Template.Spec.Containers {
			cmd := c.Command
			if len(cmd) == 0 {
				cmd = []string{"/herald"} // the Dockerfile's ENTRYPOINT
				cmd = append(cmd, c.Args...)
			} else if len(c.Args) > 0 {
				cmd = append(slices.Clone(cmd), c.Args...)
			}
			if !slices.Equal(cmd, []string{"/herald", "migrate"}) {
				r.fail("%s, container %s: runs %q, not `herald migrate`", where, c.Name, cmd)
				continue
			}
			migrates++
			if c.Image != server.Image {
				r.fail("%s, container %s: image %q is not the Deployment's %q: it would migrate for another version", where, c.Name, c.Image, server.Image)
			}
			if !sameEnv(c.Env, server.Env, "HERALD_DATABASE_URL") {
				r.fail("%s, container %s: HERALD_DATABASE_URL does not come from where the Deployment's does", where, c.Name)
			}
		}
	}
	if migrates != 1 {
		r.fail("%s: want one Job that runs `herald migrate`, found %d", kubeDir, migrates)
	}
}

func sameEnv(a, b []corev1.EnvVar, name string) bool {
	find := func(env []corev1.EnvVar) *corev1.EnvVar {
		i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
		if i < 0 {
			return nil
		}
		return &env[i]
	}
	x, y := find(a), find(b)
	return x != nil && y != nil && reflect.DeepEqual(*x, *y)
}

// containerPort resolves a probe's or Service's port (a number or a name)
// to one the container declares.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && p.StrVal == cp.Name && cp.Name != "") || (p.Type == intstr.Int && p.IntVal == cp.ContainerPort) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// scaled resolves a PDB's number or percentage against the replicas.
func scaled(v intstr.IntOrString, total int, roundUp bool) int {
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, total, roundUp)
	if err != nil {
		return -1
	}
	return n
}
