package main

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// podContext is what a pod template is checked against: the example
// Secret's keys by Secret name, and the built ConfigMaps by name.
type podContext struct {
	names      envNames
	secretKeys map[string]map[string]bool
	configMaps map[string]*corev1.ConfigMap
}

// checkPod applies the rules every Herald pod follows, Deployment and Job
// alike: resources, a locked-down security context, references that
// resolve, variable names Herald reads.
func (pc podContext) checkPod(where string, spec *corev1.PodSpec, r *Report) {
	if len(spec.Containers) == 0 {
		r.fail("%s: no containers", where)
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		cw := fmt.Sprintf("%s, container %s", where, c.Name)
		checkResources(cw, c.Resources, r)
		checkSecurity(cw, psc, c.SecurityContext, r)
		seen := map[string]bool{}
		for _, e := range c.Env {
			if seen[e.Name] {
				r.fail("%s: %s is set twice (the last one wins, silently)", cw, e.Name)
			}
			seen[e.Name] = true
			pc.names.checkName(r, cw, e.Name, true)
			if e.ValueFrom != nil {
				pc.checkSecretRef(cw, e.ValueFrom.SecretKeyRef, r)
				pc.checkConfigMapKeyRef(cw, e.ValueFrom.ConfigMapKeyRef, r)
			}
		}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.SecretRef != nil:
				keys, ok := pc.secretKeys[ef.SecretRef.Name]
				if !ok {
					r.fail("%s: envFrom names the Secret %q, which %s does not define", cw, ef.SecretRef.Name, exampleSecret)
				}
				for _, k := range sortedKeys(keys) {
					pc.names.checkName(r, cw+" (envFrom Secret "+ef.SecretRef.Name+")", ef.Prefix+k, true)
				}
			case ef.ConfigMapRef != nil:
				cm, ok := pc.configMaps[ef.ConfigMapRef.Name]
				if !ok {
					r.fail("%s: envFrom names the ConfigMap %q, which is not in the manifests", cw, ef.ConfigMapRef.Name)
					continue
				}
				for _, k := range sortedKeys(cm.Data) {
					pc.names.checkName(r, cw+" (envFrom ConfigMap "+cm.Name+")", ef.Prefix+k, true)
				}
			}
		}
		for _, m := range c.VolumeMounts {
			if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) {
				r.fail("%s: mounts the volume %q, which the pod does not define", cw, m.Name)
			}
		}
	}
	for _, v := range spec.Volumes {
		switch {
		case v.Secret != nil:
			if _, ok := pc.secretKeys[v.Secret.SecretName]; !ok {
				r.fail("%s: volume %s names the Secret %q, which %s does not define", where, v.Name, v.Secret.SecretName, exampleSecret)
			}
		case v.ConfigMap != nil:
			cm, ok := pc.configMaps[v.ConfigMap.Name]
			if !ok {
				r.fail("%s: volume %s names the ConfigMap %q, which is not in the manifests", where, v.Name, v.ConfigMap.Name)
				continue
			}
			for _, it := range v.ConfigMap.Items {
				if _, ok := cm.Data[it.Key]; !ok {
					r.fail("%s: volume %s takes the key %q from ConfigMap %s, which has no such key", where, v.Name, it.Key, cm.Name)
				}
			}
		}
	}
}

func (pc podContext) checkSecretRef(where string, ref *corev1.SecretKeySelector, r *Report) {
	if ref == nil {
		return
	}
	keys, ok := pc.secretKeys[ref.Name]
	switch {
	case !ok:
		r.fail("%s: secretKeyRef names the Secret %q; %s defines %s", where, ref.Name, exampleSecret, strings.Join(sortedKeys(pc.secretKeys), ", "))
	case !keys[ref.Key]:
		r.fail("%s: secretKeyRef names the key %q of Secret %s, which %s does not define", where, ref.Key, ref.Name, exampleSecret)
	}
}

func (pc podContext) checkConfigMapKeyRef(where string, ref *corev1.ConfigMapKeySelector, r *Report) {
	if ref == nil {
		return
	}
	cm, ok := pc.configMaps[ref.Name]
	switch {
	case !ok:
		r.fail("%s: configMapKeyRef names the ConfigMap %q, which is not in the manifests", where, ref.Name)
	case !mapHas(cm.Data, ref.Key):
		r.fail("%s: configMapKeyRef names the key %q of ConfigMap %s, which has no such key", where, ref.Key, ref.Name)
	}
}

func mapHas[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// checkResources: CPU and memory, requested and limited, requests within
// limits (the scheduler places pods by requests; limits bound a runaway).
func checkResources(where string, res corev1.ResourceRequirements, r *Report) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := res.Requests[name]
		lim, hasLim := res.Limits[name]
		if !hasReq {
			r.fail("%s: no %s request", where, name)
		}
		if !hasLim {
			r.fail("%s: no %s limit", where, name)
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			r.fail("%s: %s request %s is above its limit %s", where, name, req.String(), lim.String())
		}
		if hasReq && req.Cmp(resource.Quantity{}) <= 0 {
			r.fail("%s: %s request must be above zero", where, name)
		}
	}
}

// checkSecurity: non-root, read-only root filesystem, no privilege
// escalation, no capabilities, the runtime's default seccomp profile.
func checkSecurity(where string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext, r *Report) {
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	nonRoot := pod.RunAsNonRoot
	if c.RunAsNonRoot != nil {
		nonRoot = c.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		r.fail("%s: runAsNonRoot must be true", where)
	}
	if uid := firstNonNil(c.RunAsUser, pod.RunAsUser); uid != nil && *uid == 0 {
		r.fail("%s: runs as uid 0", where)
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		r.fail("%s: readOnlyRootFilesystem must be true", where)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		r.fail("%s: allowPrivilegeEscalation must be false", where)
	}
	if c.Privileged != nil && *c.Privileged {
		r.fail("%s: privileged", where)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") {
		r.fail("%s: capabilities must drop ALL", where)
	} else if len(c.Capabilities.Add) > 0 {
		r.fail("%s: adds capabilities %v; Herald needs none", where, c.Capabilities.Add)
	}
	sp := c.SeccompProfile
	if sp == nil {
		sp = pod.SeccompProfile
	}
	if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		r.fail("%s: seccompProfile must be RuntimeDefault (pod or container)", where)
	}
}

func firstNonNil[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// selects tells whether sel selects a pod with these labels. A nil
// selector selects nothing, as the API treats it.
func selects(sel *metav1.LabelSelector, lbls map[string]string) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return !s.Empty() && s.Matches(labels.Set(lbls)), nil
}
