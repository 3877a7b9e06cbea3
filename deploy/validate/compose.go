package main

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "deploy/compose.yaml"

// checkCompose loads deploy/compose.yaml with compose-go, the loader Docker
// Compose itself uses (the Compose specification's JSON schema: unknown
// keys and wrong types are errors), and checks that it runs Herald as the
// README says: PostgreSQL, Mailpit, a migration, two or more replicas built
// from the Dockerfile, and a load balancer in front of all of them. It
// returns how many services it found.
func checkCompose(root string, names envNames, r *Report) int {
	file, err := filepath.Abs(filepath.Join(root, composeFile))
	if err != nil {
		r.fail("%v", err)
		return 0
	}
	details := types.ConfigDetails{WorkingDir: filepath.Dir(file), ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.Mapping{}}
	p, err := loader.LoadWithContext(context.Background(), details)
	if err != nil {
		// The schema's "additionalProperties: false" reads "false schema".
		msg := strings.ReplaceAll(err.Error(), " false schema", ": not a key the Compose specification allows")
		r.fail("%s: %s", composeFile, msg)
		return 0
	}
	rootAbs, _ := filepath.Abs(root)
	image := func(name, prefix string) bool {
		s, ok := p.Services[name]
		return ok && strings.HasPrefix(s.Image, prefix)
	}

	var migrate string
	var replicas []string
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		where := composeFile + ": service " + name
		ctxDir, _ := filepath.Abs(s.Build.Context)
		if ctxDir != rootAbs || s.Build.Dockerfile != "Dockerfile" {
			r.fail("%s: builds %s from %s; Herald's image is the repository's Dockerfile", where, s.Build.Dockerfile, s.Build.Context)
			continue
		}
		if _, err := os.Stat(filepath.Join(ctxDir, s.Build.Dockerfile)); err != nil {
			r.fail("%s: %v", where, err)
		}
		env := map[string]string{}
		for _, k := range sortedKeys(s.Environment) {
			names.checkName(r, where, k, false)
			if v := s.Environment[k]; v != nil {
				env[k] = *v
			}
		}
		if host := urlHost(env["HERALD_DATABASE_URL"]); !image(host, "postgres:") {
			r.fail("%s: HERALD_DATABASE_URL reaches %q, not the PostgreSQL service", where, host)
		}
		switch cmd := []string(s.Command); {
		case slices.Equal(cmd, []string{"migrate"}):
			if migrate != "" {
				r.fail("%s: a second migration (%s is one)", where, migrate)
			}
			migrate = name
			if dep, ok := s.DependsOn[dbService(env)]; !ok || dep.Condition != types.ServiceConditionHealthy {
				r.fail("%s: must wait for PostgreSQL to be healthy (depends_on: condition: service_healthy)", where)
			}
		case len(cmd) == 0, slices.Equal(cmd, []string{"serve"}):
			replicas = append(replicas, name)
			if env["HERALD_AUTO_MIGRATE"] != "false" {
				r.fail("%s: HERALD_AUTO_MIGRATE must be \"false\": the migration service migrates, and replicas must not race it", where)
			}
			if host := urlHost(env["HERALD_SMTP_URL"]); !image(host, "axllent/mailpit") {
				r.fail("%s: HERALD_SMTP_URL sends to %q, not the Mailpit service", where, host)
			}
		default:
			r.fail("%s: runs %q; want serve or migrate", where, cmd)
		}
	}
	if migrate == "" {
		r.fail("%s: no service runs `herald migrate`", composeFile)
	}
	if len(replicas) < 2 {
		r.fail("%s: want two Herald replicas or more, found %d", composeFile, len(replicas))
	}
	for _, name := range replicas {
		s := p.Services[name]
		if dep, ok := s.DependsOn[migrate]; migrate != "" && (!ok || dep.Condition != types.ServiceConditionCompletedSuccessfully) {
			r.fail("%s: service %s must wait for %s to complete (depends_on: condition: service_completed_successfully)", composeFile, name, migrate)
		}
	}
	checkBalancer(p, replicas, r)
	return len(p.Services)
}

// checkBalancer: a service mounts a Caddyfile whose reverse_proxy sends to
// every replica, on the port it listens on, and asks /readyz.
func checkBalancer(p *types.Project, replicas []string, r *Report) {
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		for _, v := range s.Volumes {
			if filepath.Base(v.Source) != "Caddyfile" {
				continue
			}
			where := composeFile + ": service " + name + ", " + filepath.Base(v.Source)
			if len(s.Ports) == 0 {
				r.fail("%s: the load balancer publishes no port", where)
			}
			upstreams, health, err := readCaddyfile(v.Source)
			if err != nil {
				r.fail("%s: %v", where, err)
				return
			}
			for _, rep := range replicas {
				addr := ""
				if v := p.Services[rep].Environment["HERALD_ADDR"]; v != nil {
					addr = *v
				}
				_, port, _ := net.SplitHostPort(addr)
				if !slices.Contains(upstreams, rep+":"+port) {
					r.fail("%s: reverse_proxy does not send to %s:%s (HERALD_ADDR %q); it sends to %v", where, rep, port, addr, upstreams)
				}
			}
			for _, u := range upstreams {
				host, _, _ := net.SplitHostPort(u)
				if !slices.Contains(replicas, host) {
					r.fail("%s: reverse_proxy sends to %s, which is not a Herald replica", where, u)
				}
			}
			if health != "/readyz" {
				r.fail("%s: health_uri is %q; want /readyz, so only a ready replica gets requests", where, health)
			}
			return
		}
	}
	r.fail("%s: no load balancer (a service mounting a Caddyfile)", composeFile)
}

// readCaddyfile reads the upstreams of the first reverse_proxy and its
// health_uri: enough to check the wiring (Caddy itself checks the syntax).
func readCaddyfile(path string) (upstreams []string, health string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch {
		case fields[0] == "reverse_proxy" && upstreams == nil:
			for _, u := range fields[1:] {
				if u == "{" || strings.HasPrefix(u, "#") {
					break
				}
				upstreams = append(upstreams, u)
			}
		case fields[0] == "health_uri" && len(fields) > 1:
			health = fields[1]
		}
	}
	return upstreams, health, sc.Err()
}

func urlHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func dbService(env map[string]string) string { return urlHost(env["HERALD_DATABASE_URL"]) }
