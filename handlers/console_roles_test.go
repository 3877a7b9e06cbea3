package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/handlers"
)

// matrixRequest is a request that exercises one console route: for a
// write, a valid one, so that refusing it is what keeps the store as it was.
type matrixRequest struct {
	path   string
	form   url.Values // nil for a GET
	writes bool       // the first allowed request changes the store
	stream bool       // an event stream: only the status is read
	file   []byte     // sent as the multipart field "file" (with form's fields)
}

// matrixCases builds, for each console route ("METHOD pattern"), a fresh
// request with its fixtures. The role matrix fails for a route of the
// table that has no case here: a new route must say how it is exercised.
func matrixCases(c *console) map[string]func() matrixRequest {
	ctx := context.Background()
	seq := 0
	openIncident := func() string {
		c.t.Helper()
		seq++
		in, err := c.store.DeclareIncident(ctx, herald.Declaration{Name: "Matrix incident " + strconv.Itoa(seq),
			Impact: herald.ImpactMajor, Body: "Investigating.", Components: []herald.ComponentTarget{
				{ComponentID: c.ids["api-platform"], Status: herald.PartialOutage}}},
			c.users[herald.RoleCommander].ID, []string{"engineering", "public"}, "test")
		if err != nil {
			c.t.Fatal(err)
		}
		return in.ID
	}
	resolvedIncident := func() string {
		c.t.Helper()
		id := openIncident()
		if _, err := c.store.PostUpdate(ctx, id, herald.UpdateInput{Status: herald.Resolved, Body: "Fixed."}, "test"); err != nil {
			c.t.Fatal(err)
		}
		return id
	}
	action := func(kind herald.ProcedureKind, key string, approved bool) herald.Action {
		c.t.Helper()
		p, ok := c.plan.Procedure(kind, key)
		if !ok {
			c.t.Fatalf("no procedure %s:%s", kind, key)
		}
		a, err := c.store.RequestAction(ctx, openIncident(), p, herald.ActionRequest{Kind: kind, Key: key, Reason: "Matrix"},
			c.users[herald.RoleCommander])
		if err != nil {
			c.t.Fatal(err)
		}
		if approved {
			if a, err = c.store.DecideAction(ctx, a.ID, 0, p, true, c.users[herald.RoleApprover], ""); err != nil {
				c.t.Fatal(err)
			}
		}
		return a
	}
	get := func(path string) func() matrixRequest {
		return func() matrixRequest { return matrixRequest{path: path} }
	}
	return map[string]func() matrixRequest{
		"GET /":                get("/console"),
		"GET /events":          func() matrixRequest { return matrixRequest{path: "/console/events", stream: true} },
		"GET /incidents/new":   get("/console/incidents/new"),
		"GET /components":      get("/console/components"),
		"GET /maintenance/new": get("/console/maintenance/new"),
		"GET /users":           get("/console/users"),
		"GET /audit":           get("/console/audit"),
		"GET /exercises":       get("/console/exercises"),
		"POST /exercises": func() matrixRequest {
			return matrixRequest{path: "/console/exercises", writes: true, form: url.Values{"kind": {"failover-test"},
				"date": {"2026-11-24"}, "rto": {"12m"}, "rpo": {"0s"}, "passed": {"yes"}}}
		},
		"POST /exercises/{key}/drill": func() matrixRequest {
			return matrixRequest{path: "/console/exercises/failover-test/drill", writes: true,
				form: url.Values{"impact": {"major"}, "component_" + c.ids["customer-portal"]: {"yes"}}}
		},
		"GET /incidents/{id}": func() matrixRequest { return matrixRequest{path: "/console/incidents/" + openIncident()} },
		"POST /incidents": func() matrixRequest {
			return matrixRequest{path: "/console/incidents", writes: true, form: url.Values{"name": {"Declared in the matrix"},
				"impact": {"minor"}, "body": {"Looking into it."}, "commander": {c.users[herald.RoleCommander].ID},
				"component_" + c.ids["customer-portal"]: {"degraded_performance"}}}
		},
		"POST /incidents/{id}/updates": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/updates", writes: true,
				form: url.Values{"main": {"Still looking."}, "audience": {"engineering"}, "action": {"post"}}}
		},
		"POST /incidents/{id}/preview": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/preview",
				form: url.Values{"main": {"A draft."}, "audience": {"engineering"}}}
		},
		"POST /incidents/{id}/roles": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/roles", writes: true,
				form: url.Values{"seat": {"scribe"}, "user": {c.users[herald.RoleResponder].ID}}}
		},
		"POST /incidents/{id}/components": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/components", writes: true,
				form: url.Values{"component": {c.ids["customer-portal"]}, "status": {"degraded_performance"}}}
		},
		"POST /incidents/{id}/data-loss": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/data-loss", writes: true,
				form: url.Values{"minutes": {"30"}}}
		},
		"POST /incidents/{id}/reopen": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + resolvedIncident() + "/reopen", writes: true,
				form: url.Values{"body": {"It is back."}}}
		},
		"POST /incidents/{id}/notes": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/notes", writes: true,
				form: url.Values{"note": {"Seen in the logs."}}}
		},
		"POST /incidents/{id}/regulator": func() matrixRequest {
			c.t.Helper()
			seq++
			in, err := c.store.DeclareIncident(ctx, herald.Declaration{Name: "Matrix regulator incident " + strconv.Itoa(seq),
				Impact: herald.ImpactCritical, Body: "Investigating.", NotifyRegulators: true},
				c.users[herald.RoleCommander].ID, []string{"engineering", "public"}, "test")
			if err != nil {
				c.t.Fatal(err)
			}
			return matrixRequest{path: "/console/incidents/" + in.ID + "/regulator", writes: true,
				form: url.Values{"step": {"initial"}, "called_by": {"Ada"}, "whom": {"Central Bank, duty officer"},
					"at": {c.clock.Now().In(c.deps.Location).Format("2006-01-02T15:04")}, "reference": {"CB-1"}}}
		},
		"GET /obligations": get("/console/obligations"),
		"POST /incidents/{id}/restored": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/restored", writes: true,
				form: url.Values{"restored_at": {c.clock.Now().In(c.deps.Location).Format("2006-01-02T15:04")}}}
		},
		"POST /incidents/{id}/actions": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/actions", writes: true,
				form: url.Values{"procedure": {"region:primary-region"}, "reason": {"Route 53 health checks failing"}}}
		},
		"POST /actions/{id}/decide": func() matrixRequest {
			a := action(herald.ProcedureRunbook, "database-failover", false)
			return matrixRequest{path: "/console/actions/" + a.ID + "/decide", writes: true,
				form: url.Values{"decision": {"approve"}, "note": {"Go ahead"}}}
		},
		"POST /actions/{id}/execute": func() matrixRequest {
			a := action(herald.ProcedureRunbook, "database-failover", true)
			return matrixRequest{path: "/console/actions/" + a.ID + "/execute", writes: true,
				form: url.Values{"replication_lag_ms": {"20"}}}
		},
		"POST /actions/{id}/steps/{pos}": func() matrixRequest {
			a := action(herald.ProcedureRegion, "primary-region", false)
			return matrixRequest{path: "/console/actions/" + a.ID + "/steps/1", writes: true, form: url.Values{"state": {"done"}}}
		},
		"POST /actions/{id}/fail": func() matrixRequest {
			a := action(herald.ProcedureRegion, "primary-region", false)
			return matrixRequest{path: "/console/actions/" + a.ID + "/fail", writes: true, form: url.Values{"failure": {"DNS did not move"}}}
		},
		"POST /actions/{id}/cancel": func() matrixRequest {
			a := action(herald.ProcedureRegion, "primary-region", false)
			return matrixRequest{path: "/console/actions/" + a.ID + "/cancel", writes: true, form: url.Values{"reason": {"False alarm"}}}
		},
		"GET /runbooks": get("/console/runbooks"),
		"GET /incidents/{id}/report": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/report"}
		},
		"GET /incidents/{id}/report.md": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/report.md"}
		},
		"GET /runbooks/{kind}/{key}": get("/console/runbooks/runbook/database-failover"),
		"POST /incidents/{id}/regulator-flag": func() matrixRequest {
			return matrixRequest{path: "/console/incidents/" + openIncident() + "/regulator-flag", writes: true, form: url.Values{}}
		},
		"POST /components/{id}": func() matrixRequest {
			return matrixRequest{path: "/console/components/" + c.ids["admin-dashboard"], writes: true,
				form: url.Values{"status": {"major_outage"}}}
		},
		"POST /components/{id}/edit": func() matrixRequest {
			seq++
			return matrixRequest{path: "/console/components/" + c.ids["customer-portal"] + "/edit", writes: true,
				form: url.Values{"name": {fmt.Sprintf("Customer Portal %d", seq)}, "description": {"Web and mobile."}, "position": {"4"}}}
		},
		"POST /groups": func() matrixRequest {
			seq++
			return matrixRequest{path: "/console/groups", writes: true,
				form: url.Values{"name": {fmt.Sprintf("Matrix group %d", seq)}, "description": {"Made in the matrix."}, "position": {"6"}}}
		},
		"POST /groups/{id}/edit": func() matrixRequest {
			c.t.Helper()
			seq++
			g, err := c.store.CreateGroup(ctx, fmt.Sprintf("Matrix group %d", seq), "", 7, "test")
			if err != nil {
				c.t.Fatal(err)
			}
			return matrixRequest{path: "/console/groups/" + g.ID + "/edit", writes: true,
				form: url.Values{"name": {g.Name + " renamed"}, "description": {"Edited in the matrix."}, "position": {"8"}}}
		},
		"POST /maintenance": func() matrixRequest {
			return matrixRequest{path: "/console/maintenance", writes: true, form: url.Values{"name": {"Database upgrade"},
				"body": {"Upgrading the database."}, "from": {"2026-12-01T22:00"}, "until": {"2026-12-02T00:00"},
				"component_" + c.ids["credit-origination"]: {"yes"}}}
		},
		"POST /users": func() matrixRequest {
			seq++
			return matrixRequest{path: "/console/users", writes: true, form: url.Values{
				"email": {"new" + strconv.Itoa(seq) + "@kredete.test"}, "name": {"New Person"}, "role": {"viewer"},
				"password": {"a long enough password"}}}
		},
		"GET /subscribers":            get("/console/subscribers"),
		"GET /subscribers/export.csv": get("/console/subscribers/export.csv"),
		"POST /subscribers/import": func() matrixRequest {
			seq++
			return matrixRequest{path: "/console/subscribers/import", writes: true, form: url.Values{},
				file: fmt.Appendf(nil, "channel,address\nemail,matrix%d@example.com\n", seq)}
		},
		"POST /subscribers/{id}/remove": func() matrixRequest {
			c.t.Helper()
			seq++
			addr := fmt.Sprintf("remove%d@example.com", seq)
			if _, err := c.store.ImportSubscribers(ctx, []herald.CSVSubscriber{{Channel: "email", Address: addr}}, "test"); err != nil {
				c.t.Fatal(err)
			}
			list, err := c.store.ListSubscribers(ctx, herald.SubscriberFilter{Query: addr}, "", 1)
			if err != nil || len(list) != 1 {
				c.t.Fatalf("ListSubscribers: %v %v", list, err)
			}
			return matrixRequest{path: "/console/subscribers/" + list[0].ID + "/remove", writes: true,
				form: url.Values{"confirm": {"yes"}}}
		},
		"POST /users/{id}/role": func() matrixRequest {
			seq++
			u := c.addUser("victim"+strconv.Itoa(seq)+"@kredete.test", "Victim", herald.RoleViewer)
			return matrixRequest{path: "/console/users/" + u.ID + "/role", writes: true, form: url.Values{"role": {"responder"}}}
		},
		"POST /users/{id}/slack": func() matrixRequest {
			seq++
			u := c.addUser("linked"+strconv.Itoa(seq)+"@kredete.test", "Linked", herald.RoleViewer)
			return matrixRequest{path: "/console/users/" + u.ID + "/slack", writes: true,
				form: url.Values{"slack_user_id": {"U0LINK" + strconv.Itoa(seq)}}}
		},
	}
}

// patternMatches reports whether a concrete path is an instance of a chi
// pattern under /console.
func patternMatches(pattern, path string) bool {
	if pattern == "/" && path == "/console" {
		return true
	}
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			parts[i] = `[^/]+`
		} else {
			parts[i] = regexp.QuoteMeta(p)
		}
	}
	return regexp.MustCompile("^/console" + strings.Join(parts, "/") + "$").MatchString(path)
}

func (b *browser) on(t testing.TB) *browser {
	c := *b
	c.t = t
	return &c
}

func (c *console) on(t *testing.T) *console {
	cc := *c
	cc.env = c.env.on(t)
	return &cc
}

// send makes the matrix request; a stream's body is not read.
func (b *browser) send(m matrixRequest) response {
	b.t.Helper()
	method, body := http.MethodGet, io.Reader(nil)
	headers := []string{}
	if m.form != nil {
		method, body = http.MethodPost, strings.NewReader(m.form.Encode())
		headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
	}
	if m.file != nil {
		ct, data := multipartFile(b.t, m.form, "file", "subscribers.csv", m.file)
		body, headers = bytes.NewReader(data), []string{"Content-Type", ct}
	}
	if !m.stream {
		return b.do(method, m.path, body, headers...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := b.request(ctx, method, m.path, body, headers...)
	defer res.Body.Close()
	var data []byte
	if res.StatusCode != http.StatusOK {
		data, _ = io.ReadAll(res.Body)
	}
	return response{Code: res.StatusCode, Header: res.Header, Body: data}
}

// TestConsoleRoleMatrix walks every console route for every role and for
// a signed-out browser: signed out is sent to sign in (GET) or refused
// 401; a role without the route's permission is refused 403 and nothing is
// stored; a role with it gets through.
func TestConsoleRoleMatrix(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		table := handlers.ConsoleRouteTable(c.deps)
		cases := matrixCases(c)
		if len(table) == 0 {
			t.Fatal("the console route table is empty")
		}
		browsers := map[herald.Role]*browser{}
		for _, r := range herald.Roles {
			browsers[r] = c.as(t, r)
		}
		seen := map[string]bool{}
		for _, rt := range table {
			key := rt.Method + " " + rt.Pattern
			seen[key] = true
			t.Run(key, func(t *testing.T) {
				c := c.on(t)
				build, ok := cases[key]
				if !ok {
					t.Fatalf("route %s (%s) has no case in matrixCases: add a request that exercises it", key, rt.Perm)
				}
				m := build()
				if !patternMatches(rt.Pattern, m.path) {
					t.Fatalf("the case for %s requests %s, which is another route", key, m.path)
				}
				if (m.form != nil) != (rt.Method == http.MethodPost) {
					t.Fatalf("the case for %s sends the wrong method", key)
				}

				before := c.stored()
				r := c.browser(t).send(m)
				if rt.Method == http.MethodGet {
					wantSignInRedirect(t, r, "signed out")
					if loc := r.Header.Get("Location"); !strings.Contains(loc, "next="+url.QueryEscape(m.path)) {
						t.Errorf("signed out: sign-in link %q does not come back to %s", loc, m.path)
					}
				} else if r.Code != http.StatusUnauthorized {
					t.Errorf("signed out: %d, want 401", r.Code)
				}
				c.wantNothingStored(before, "signed out")

				// Refused roles first, while the request would still
				// change something.
				roles := slices.Clone(herald.Roles)
				slices.SortStableFunc(roles, func(a, b herald.Role) int {
					return cmpBool(a.Can(rt.Perm), b.Can(rt.Perm))
				})
				allowedOnce := false
				for _, role := range roles {
					r := browsers[role].on(t).send(m)
					if !role.Can(rt.Perm) {
						if r.Code != http.StatusForbidden {
							t.Errorf("%s: %d, want 403 (%s lacks %s)", role, r.Code, role, rt.Perm)
						} else if !strings.Contains(text(parseHTML(t, r.Body)), "does not allow") {
							t.Errorf("%s: the 403 page does not say why: %.300s", role, r.Body)
						}
						c.wantNothingStored(before, string(role)+" without "+string(rt.Perm))
						continue
					}
					switch {
					case r.Code == http.StatusUnauthorized || r.Code == http.StatusForbidden:
						t.Errorf("%s: %d, want through (%s has %s): %.300s", role, r.Code, role, rt.Perm, r.Body)
					case r.Code >= 500:
						t.Errorf("%s: %d: %.300s", role, r.Code, r.Body)
					case rt.Method == http.MethodGet && r.Code != http.StatusOK:
						t.Errorf("%s: GET %d, want 200: %.300s", role, r.Code, r.Body)
					}
					if m.writes && !allowedOnce {
						// The refusals above kept a real write out.
						if cmp.Equal(before, c.stored()) {
							t.Errorf("%s: the request (%d) stored nothing: the case does not exercise a write", role, r.Code)
						}
					}
					allowedOnce = true
				}
				if !allowedOnce {
					t.Errorf("no role has %s", rt.Perm)
				}
			})
		}
		for key := range cases {
			if !seen[key] {
				t.Errorf("matrixCases has %s, which is not a console route", key)
			}
		}
	})
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
