package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepository: the repository's own deployment files pass.
func TestRepository(t *testing.T) {
	r := Check("../..")
	for _, p := range r.Problems {
		t.Error(p)
	}
	var out bytes.Buffer
	if code := run("../..", &out); code != 0 {
		t.Errorf("run exited %d:\n%s", code, out.String())
	}
}

// copyRepo copies what the validator reads into a temporary root.
func copyRepo(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	cp := func(rel string) {
		b, err := os.ReadFile(filepath.Join("../..", rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"README.md", "Dockerfile", "config/config.go", "config/default.yaml", "deploy/compose.yaml", "deploy/Caddyfile"} {
		cp(f)
	}
	err := filepath.WalkDir("../kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		cp(filepath.Join(kubeDir, d.Name()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces old with new in the file rel, failing when old is not
// there exactly n times (0: any number above zero), so that a test never
// passes because the file changed under it.
func edit(t *testing.T, root, rel, old, new string, n int) {
	t.Helper()
	p := filepath.Join(root, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.Count(string(b), old)
	if c == 0 || (n > 0 && c != n) {
		t.Fatalf("%s: %q occurs %d times, want %d", rel, old, c, n)
	}
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), old, new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	deployment = kubeDir + "/deployment.yaml"
	job        = kubeDir + "/migrate-job.yaml"
	pdb        = kubeDir + "/pdb.yaml"
	service    = kubeDir + "/service.yaml"
	secret     = kubeDir + "/" + exampleSecret
)

// TestBrokenFilesFail: each break of a deployment file is reported, with a
// message that says what is wrong, and the command exits 1.
func TestBrokenFilesFail(t *testing.T) {
	for _, tc := range []struct {
		name        string
		file        string
		old, new    string
		n           int
		wantProblem string
	}{
		{"misspelt field", deployment, "readinessProbe:", "readinesProbe:", 1,
			`unknown field "spec.template.spec.containers[0].readinesProbe"`},
		{"field in the wrong case", deployment, "containerPort: 8080", "containerport: 8080", 1,
			`unknown field "spec.template.spec.containers[0].ports[0].containerport"`},
		{"wrong type", deployment, "replicas: 3", `replicas: "3"`, 1,
			"cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"},
		{"bad quantity", deployment, "memory: 96Mi", "memory: 96MB of RAM", 1,
			"quantities must match the regular expression"},
		{"duplicate key", pdb, "  maxUnavailable: 1\n", "  maxUnavailable: 1\n  maxUnavailable: 2\n", 1,
			`key "maxUnavailable" already set in map`},
		{"PDB selector mismatch", pdb, "app.kubernetes.io/component: server\n  #", "app.kubernetes.io/component: web\n  #", 1,
			"PodDisruptionBudget herald: selector app.kubernetes.io/component=web,app.kubernetes.io/name=herald matches no pod of Deployment herald"},
		{"Service selector mismatch", service, "    app.kubernetes.io/name: herald\n    app.kubernetes.io/component: server\n  ports",
			"    app.kubernetes.io/name: heralds\n    app.kubernetes.io/component: server\n  ports", 1,
			"Service herald: selector map[app.kubernetes.io/component:server app.kubernetes.io/name:heralds] matches no pod"},
		{"Service selects the migration too", service, "    app.kubernetes.io/component: server\n  ports", "  ports", 1,
			"also matches the pods of Job herald-migrate"},
		{"Service port name", service, "targetPort: http", "targetPort: web", 1,
			"sends to targetPort web, which container herald does not declare"},
		{"secret key the example lacks", deployment, "key: HERALD_SMTP_URL,", "key: SMTP_URL,", 1,
			`secretKeyRef names the key "SMTP_URL" of Secret herald, which secret.example.yaml does not define`},
		{"secret the example lacks", job, "secretKeyRef: {name: herald,", "secretKeyRef: {name: herald-db,", 1,
			`secretKeyRef names the Secret "herald-db"`},
		{"unknown variable", deployment, "name: HERALD_ADDR", "name: HERALD_ADRR", 1,
			"HERALD_ADRR is not a variable Herald reads"},
		{"unknown variable in the settings", kubeDir + "/settings.env", "HERALD_LOG_FORMAT=json", "HERALD_LOGFORMAT=json", 1,
			"(envFrom ConfigMap herald-settings-"},
		{"test-only variable", kubeDir + "/settings.env", "HERALD_LOG_FORMAT=json", "HERALD_LOG_FORMAT=json\nHERALD_WEBHOOK_ALLOW=10.0.0.0/8", 1,
			"HERALD_WEBHOOK_ALLOW must not be set in production"},
		{"the Job serves", job, `args: ["migrate"]`, `args: ["serve"]`, 1,
			`Job herald-migrate, container migrate: runs ["/herald" "serve"], not ` + "`herald migrate`"},
		{"the Job's other image", job, "image: herald #", "image: herald-previous #", 1,
			`image "herald-previous" is not the Deployment's "registry.example.com/kredete/herald:1.0.0"`},
		{"replicas migrate", deployment, `value: "false"`, `value: "true"`, 1,
			"HERALD_AUTO_MIGRATE must be \"false\""},
		{"readiness on the wrong path", deployment, "path: /readyz", "path: /ready", 1,
			`the readiness probe asks "/ready"; Herald answers it at /readyz`},
		{"liveness on another port", deployment, "httpGet: {path: /healthz, port: http}\n            periodSeconds: 10",
			"httpGet: {path: /healthz, port: 9090}\n            periodSeconds: 10", 1,
			"the liveness probe asks port 9090, not the port Herald listens on (8080)"},
		{"no startup probe", deployment, "startupProbe:\n            httpGet: {path: /healthz, port: http}\n            periodSeconds: 2\n            timeoutSeconds: 2\n            failureThreshold: 30\n", "", 1,
			"no startup probe"},
		{"Herald on another port", deployment, `value: ":8080"`, `value: ":9090"`, 1,
			`HERALD_ADDR ":9090" listens on a port the container does not declare`},
		{"no memory limit", deployment, "              cpu: \"1\"\n              memory: 256Mi\n", "              cpu: \"1\"\n", 1,
			"container herald: no memory limit"},
		{"request above limit", job, "memory: 64Mi", "memory: 1Gi", 1, "memory request 1Gi is above its limit 128Mi"},
		{"writable root", deployment, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", 1,
			"readOnlyRootFilesystem must be true"},
		{"capabilities kept", job, `drop: ["ALL"]`, `drop: ["NET_RAW"]`, 1, "capabilities must drop ALL"},
		{"no seccomp", deployment, "type: RuntimeDefault", "type: Unconfined", 1, "seccompProfile must be RuntimeDefault"},
		{"short grace period", deployment, "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 20", 1,
			"terminationGracePeriodSeconds 20 is shorter than preStop plus Herald's shutdown (30 s)"},
		{"no zone spread", deployment, "topologyKey: topology.kubernetes.io/zone", "topologyKey: kubernetes.io/os", 1,
			"nothing spreads the replicas across zones"},
		{"PDB that blocks every drain", pdb, "maxUnavailable: 1", "maxUnavailable: 0", 1, "allows 0 of 3 replicas down at once"},
		{"one replica", deployment, "replicas: 3", "replicas: 1", 1, "want at least 2 replicas"},
		{"plan differs", kubeDir + "/plan.yaml", "name: Kredete\n", "name: Kredete Ltd\n", 1,
			"is not config/default.yaml"},
		{"plan not mounted", deployment, "value: /etc/herald/plan.yaml", "value: /etc/plan.yaml", 1,
			"HERALD_CONFIG /etc/plan.yaml is on no mounted volume"},
		{"real secret in the example", secret, "xoxb-CHANGE-ME", "xoxb-1234-5678-abcdef", 1,
			"HERALD_SLACK_TOKEN is not a placeholder"},
		{"Secret applied by kustomize", kubeDir + "/kustomization.yaml", "  - migrate-job.yaml\n", "  - migrate-job.yaml\n  - secret.example.yaml\n", 1,
			"kustomization.yaml applies a Secret"},
		{"file left out of kustomization", kubeDir + "/kustomization.yaml", "  - pdb.yaml\n", "", 1,
			"deploy/kubernetes/pdb.yaml is not in kustomization.yaml"},
		{"scrape annotations", deployment, `prometheus.io/port: "8080"`, `prometheus.io/port: "9100"`, 1,
			"want the pod annotations prometheus.io/scrape"},
		{"compose: misspelt key", composeFile, "    environment:\n      POSTGRES_USER", "    enviroment:\n      POSTGRES_USER", 1,
			"services.postgres.enviroment: not a key the Compose specification allows"},
		{"compose: wrong type", composeFile, "      retries: 30", "      retries: many", 1, "retries"},
		{"compose: unknown variable", composeFile, "HERALD_PUBLIC_URL:", "HERALD_PUBLIC_ADDR:", 1,
			"HERALD_PUBLIC_ADDR is not a variable Herald reads"},
		{"compose: mail not to Mailpit", composeFile, "smtp://mailpit:1025", "smtp://smtp.example.com:1025", 1,
			`HERALD_SMTP_URL sends to "smtp.example.com", not the Mailpit service`},
		{"compose: replicas migrate", composeFile, `HERALD_AUTO_MIGRATE: "false"`, `HERALD_AUTO_MIGRATE: "true"`, 1,
			"service herald-1: HERALD_AUTO_MIGRATE must be \"false\""},
		{"compose: no wait for the migration", composeFile, "condition: service_completed_successfully", "condition: service_started", 1,
			"must wait for migrate to complete"},
		{"compose: balancer misses a replica", "deploy/Caddyfile", "herald-1:8080 herald-2:8080", "herald-1:8080", 1,
			"reverse_proxy does not send to herald-2:8080"},
		{"compose: balancer health check", "deploy/Caddyfile", "health_uri /readyz", "health_uri /healthz", 1,
			`health_uri is "/healthz"; want /readyz`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := copyRepo(t)
			edit(t, root, tc.file, tc.old, tc.new, tc.n)
			r := Check(root)
			found := false
			for _, p := range r.Problems {
				found = found || strings.Contains(p, tc.wantProblem)
			}
			if !found {
				t.Errorf("no problem says %q; got %d:\n%s", tc.wantProblem, len(r.Problems), strings.Join(r.Problems, "\n"))
			}
			var out bytes.Buffer
			if code := run(root, &out); code != 1 || !strings.Contains(out.String(), "FAIL: ") {
				t.Errorf("run exited %d, want 1 with FAIL lines:\n%s", code, out.String())
			}
		})
	}
}

// TestNames: the variable names come from config/config.go and the
// README's _FILE variants; a pending name is accepted with a note.
func TestNames(t *testing.T) {
	n, err := loadEnvNames("../..")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"HERALD_ADDR": true, "HERALD_SMTP_URL": true, "HERALD_SMTP_URL_FILE": true, "HERALD_ADMIN_TOKEN_FILE": true,
		"HERALD_TWILIO_AUTH_TOKEN_FILE": true, "GOMEMLIMIT": true,
		"HERALD_ADDR_FILE": false, "HERALD_TWILIO_FROM_FILE": false, "HERALD_SMTP": false, "PATH": false,
	} {
		if ok, _ := n.check(name); ok != want {
			t.Errorf("check(%s) = %v, want %v", name, ok, want)
		}
	}
	for name := range pendingNames {
		ok, note := n.check(name)
		if !ok || (!n.config[name] && note == "") {
			t.Errorf("pending %s: ok %v, note %q", name, ok, note)
		}
	}
}
