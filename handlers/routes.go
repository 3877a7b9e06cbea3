// Package handlers is Herald's HTTP side (chi): the public status page and
// its API served from an in-memory snapshot, and the authenticated write
// path. routes.go lists every URL in one place.
package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// Deps is everything the handlers need, built by main.
type Deps struct {
	Log          *slog.Logger
	Plan         herald.Plan
	Templates    []herald.Template
	Location     *time.Location
	Site         components.Site
	ConsoleJS    string // hashed URL of console.js
	Public       *Public
	Admin        AdminStore
	Console      ConsoleStore // nil: no console (tests of the public side)
	Sessions     scs.Store
	SecureCookie bool
	Hasher       PasswordHasher
	AdminToken   string
	Static       http.Handler // hashed assets under /static/
	Ready        func() error // nil when ready to serve
	// Health tells whether the database answers; nil: taken to answer.
	// While it does not, the public side serves its snapshot, /readyz
	// stays ready and says so, and the console says it cannot save.
	Health DatabaseHealth
	Now    func() time.Time
	// TwilioCallback verifies Twilio's status callbacks; nil when SMS is off.
	TwilioCallback StatusCallback
	// DeliveryStatus records them.
	DeliveryStatus DeliveryStatusStore
	// PagerDutyWebhook verifies PagerDuty's webhooks; nil when off.
	PagerDutyWebhook PagerDutyWebhook
	PagerDutyEvents  PagerDutyEvents
	// AutomationSecrets sign automation calls and verify their callbacks
	// (several during a rotation); none: the callback API is off.
	AutomationSecrets []string
	Automation        AutomationStore
	// Subscriptions keeps the status page's subscribers; nil: no
	// subscription pages.
	Subscriptions SubscriptionStore
	// Mailer sends subscription mails; nil (no SMTP server): the subscribe
	// page says subscriptions by email are unavailable.
	Mailer Mailer
	// PublicURL is HERALD_PUBLIC_URL, the base of links in subscription
	// mails when the plan's page has no URL.
	PublicURL string
	// Texter texts SMS confirmation codes; nil (no Twilio): the subscribe
	// page says subscriptions by text message are unavailable.
	Texter Texter
	// URLChecker refuses webhook URLs Herald must not call (SSRF); nil:
	// subscriptions by webhook are unavailable.
	URLChecker URLChecker
	// TwilioInbound verifies texts sent to Herald's number (STOP, START);
	// nil when SMS is off.
	TwilioInbound InboundSMS
	// SMSSignupsPerHour (HERALD_SMS_SIGNUPS_PER_HOUR) caps the sign-ups by
	// text message per hour across every number, network and replica:
	// each sends a text that costs money. 0: no cap.
	SMSSignupsPerHour int
	// Slack is Herald's Slack app (/incident and its buttons); nil: off.
	Slack SlackApp
	// SlackStore links Slack members to users.
	SlackStore SlackStore
	// Metrics serves /metrics (the Prometheus exposition); nil: no route.
	Metrics http.Handler
	// MetricsToken (HERALD_METRICS_TOKEN), when set, is the bearer token
	// /metrics asks for; unset, /metrics answers loopback peers only.
	MetricsToken string
	// Requests counts every request by route, method and status class,
	// the hot path's included; nil: not counted.
	Requests RequestMetrics
	// TrustedProxies (HERALD_TRUSTED_PROXIES) are the proxies in front of
	// Herald whose X-Forwarded-For gives the client's address; empty: the
	// connection's peer is the client.
	TrustedProxies []netip.Prefix
}

// Server holds the handlers' dependencies.
type Server struct {
	twilioCallback    StatusCallback
	deliveryStatus    DeliveryStatusStore
	pdWebhook         PagerDutyWebhook
	pdEvents          PagerDutyEvents
	automationSecrets []string
	automation        AutomationStore
	subscriptions     SubscriptionStore
	mailer            Mailer
	publicURL         string
	texter            Texter
	urlChecker        URLChecker
	twilioInbound     InboundSMS
	smsSignupsPerHour int
	slack             SlackApp
	slackStore        SlackStore
	metricsHandler    http.Handler
	metricsToken      string
	log               *slog.Logger
	plan              herald.Plan
	templates         []herald.Template
	loc               *time.Location
	site              components.Site
	consoleJS         string
	public            *Public
	admin             AdminStore
	console           ConsoleStore
	sessions          *scs.SessionManager
	hasher            PasswordHasher
	adminToken        string
	ready             func() error
	health            DatabaseHealth
	signIns           signIns // sessions checked while the database answered (console_outage.go)
	now               func() time.Time
}

// newServer holds d's dependencies, with defaults filled in.
func newServer(d Deps) *Server {
	s := &Server{log: d.Log, plan: d.Plan, templates: d.Templates, loc: d.Location, site: d.Site, consoleJS: d.ConsoleJS,
		public: d.Public, admin: d.Admin, console: d.Console, hasher: d.Hasher, adminToken: d.AdminToken, ready: d.Ready, health: d.Health, now: d.Now,
		twilioCallback: d.TwilioCallback, deliveryStatus: d.DeliveryStatus, pdWebhook: d.PagerDutyWebhook, pdEvents: d.PagerDutyEvents,
		automationSecrets: d.AutomationSecrets, automation: d.Automation,
		subscriptions: d.Subscriptions, mailer: d.Mailer, publicURL: d.PublicURL,
		texter: d.Texter, urlChecker: d.URLChecker, twilioInbound: d.TwilioInbound, smsSignupsPerHour: d.SMSSignupsPerHour,
		slack: d.Slack, slackStore: d.SlackStore, metricsHandler: d.Metrics, metricsToken: d.MetricsToken}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.templates) == 0 {
		s.templates = herald.DefaultTemplates
	}
	return s
}

// ConsoleRouteTable is the console's route table as New mounts it for d.
// It exists for the role-matrix test, which walks it: a route added to
// ConsoleRoutes is checked for every role without a change to the test.
func ConsoleRouteTable(d Deps) []ConsoleRoute { return newServer(d).ConsoleRoutes() }

// New builds the router, behind the hot path that answers the status
// page's snapshot reads before any routing or middleware.
func New(d Deps) http.Handler {
	s := newServer(d)
	r := chi.NewRouter()
	r.Use(observe(d.Log, newRequestIDs(), d.Requests), securityHeaders, middleware.GetHead, clientAddresses(d.TrustedProxies))
	// Cross-site form posts are refused; same-origin and non-browser
	// clients (curl, Statuspage clients) pass.
	csrf := http.NewCrossOriginProtection()
	// RFC 8058's one-click unsubscribe is posted by mail clients, some of
	// them web pages on another site; the link's token is the credential,
	// so a cross-site POST cannot forge it.
	csrf.AddInsecureBypassPattern("POST /subscriptions/unsubscribe")
	r.Use(csrf.Handler)

	// Public: read only, from the snapshot.
	r.Get("/", s.public.Home)
	r.Get("/history", s.htmlErrors(s.public.History))
	r.Get("/incidents/{id}", s.htmlErrors(s.public.Incident))
	r.Get("/history.atom", s.public.Page("/history.atom"))
	r.Get("/history.rss", s.public.Page("/history.rss"))
	// The API's documents are top-level routes rather than a /api/v2
	// subrouter: through chi's Mount every poll paid for a path rewrite, a
	// wildcard path value and a joined pattern (four allocations). Its
	// JSON 404 and 405 are in NotFound and MethodNotAllowed below.
	for _, p := range []string{"/summary.json", "/status.json", "/components.json", "/incidents.json",
		"/incidents/unresolved.json", "/scheduled-maintenances.json", "/scheduled-maintenances/upcoming.json",
		"/scheduled-maintenances/active.json"} {
		r.Get("/api/v2"+p, s.public.Page("/api/v2"+p))
	}
	r.Handle("/static/*", d.Static)
	r.Get("/events", s.public.Broker().ServeEvents("changed"))
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }) //nolint:errcheck
	r.Get("/readyz", s.readyz)
	if d.Metrics != nil {
		r.Get("/metrics", s.metrics)
	}
	// Vendor webhooks: signed by the vendor, verified before anything is read.
	r.Post("/webhooks/twilio/status", s.jsonErrors(s.twilioStatus))
	r.Post("/webhooks/twilio/inbound", s.jsonErrors(s.twilioInboundText))
	r.Post("/webhooks/pagerduty", s.jsonErrors(s.pagerDutyWebhook))
	// Automation endpoints report their steps here, signed like Herald's
	// calls to them.
	r.Post("/api/automation/actions/{id}", s.jsonErrors(s.automationCallback))
	// Slack's slash command and interactivity: signed by Slack (401
	// otherwise), answered within its 3 seconds.
	csrf.AddInsecureBypassPattern("POST /slack/")
	r.Post("/slack/commands", s.withSlackDeadline(s.slackCommand))
	r.Post("/slack/interactions", s.withSlackDeadline(s.slackInteraction))

	// Subscriptions: the public side's only forms. Links carry the
	// subscriber's token, the only credential; the one-click unsubscribe
	// POST (RFC 8058) comes from mail clients without cookies or Origin,
	// which CrossOriginProtection lets through.
	if d.Subscriptions != nil {
		r.Get("/subscribe", s.htmlErrors(s.subscribePage))
		r.Post("/subscribe", s.htmlErrors(s.subscribe))
		r.Get("/subscriptions/confirm", s.htmlErrors(s.confirmPage))
		r.Post("/subscriptions/confirm", s.htmlErrors(s.confirmSubscription))
		r.Get("/subscriptions/manage", s.htmlErrors(s.manageSubscription))
		r.Post("/subscriptions/manage", s.htmlErrors(s.updateSubscription))
		r.Get("/subscriptions/unsubscribe", s.htmlErrors(s.unsubscribePage))
		r.Post("/subscriptions/unsubscribe", s.htmlErrors(s.unsubscribe))
		r.Get("/subscriptions/sms/confirm", s.htmlErrors(s.smsCodePage))
		r.Post("/subscriptions/sms/confirm", s.htmlErrors(s.confirmSMSCode))
	}

	// Admin JSON API: the write path until the console lands.
	r.Route("/admin/api", func(r chi.Router) {
		r.Use(s.adminAuth)
		r.Post("/incidents", s.jsonErrors(s.declare))
		r.Get("/incidents/{id}", s.jsonErrors(s.getIncident))
		r.Post("/incidents/{id}/updates", s.jsonErrors(s.postUpdate))
		r.Post("/incidents/{id}/reopen", s.jsonErrors(s.reopen))
		r.Patch("/components/{id}", s.jsonErrors(s.setComponent))
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			writeJSONError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, nil)
		})
	})

	if d.Console != nil {
		s.sessions = newSessions(d.Sessions, d.SecureCookie, s.sessionError)
		r.Route("/console", s.consoleRoutes)
	}

	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if inPublicAPI(r.URL.Path) {
			writeJSONError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, nil)
			return
		}
		s.public.NotFoundPage(w, r, "There is no page at "+r.URL.Path+".")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD") // RFC 9110: a 405 says what is allowed
		if inPublicAPI(r.URL.Path) {
			writeJSONError(w, http.StatusMethodNotAllowed, "the public API is read only", nil)
			return
		}
		http.Error(w, "the status page is read only", http.StatusMethodNotAllowed)
	})
	h := &hotPath{public: s.public, next: r}
	if d.Requests != nil {
		h.obs = &hotObservers{m: d.Requests}
	}
	return h
}

// inPublicAPI tells whether path is under /api/v2, whose errors are JSON.
func inPublicAPI(path string) bool {
	return path == "/api/v2" || strings.HasPrefix(path, "/api/v2/")
}

// readyz stays ready while the database is unreachable, saying so: a
// replica holding a snapshot serves the status page, and failing readiness
// then would take every replica out of the load balancer exactly when the
// page is needed most.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if s.health != nil {
		if since, down := s.health.Down(); down {
			asOf := ""
			if p := s.public.Snapshot(); p != nil {
				asOf = "; serving the status as of " + p.BuiltAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "ready (degraded: database unreachable since %s%s)\n", since.UTC().Format(time.RFC3339), asOf)
			return
		}
	}
	w.Write([]byte("ready\n")) //nolint:errcheck
}

// consoleRoutes lists every console URL with the permission it needs. The
// role matrix test walks this table.
func (s *Server) consoleRoutes(r chi.Router) {
	// The database banner's own refresh, outside the session.
	r.Get("/database", s.databaseBanner)
	r.Group(func(r chi.Router) {
		r.Use(s.consoleSessions)
		r.Get("/sign-in", s.signInPage)
		r.Post("/sign-in", s.consoleErrors(s.signIn))
		r.Group(func(r chi.Router) {
			r.Use(s.requireUser)
			r.Post("/sign-out", s.consoleErrors(s.signOut))
			for _, rt := range s.ConsoleRoutes() {
				mw := []func(http.Handler) http.Handler{s.requirePerm(rt.Perm)}
				if !offlineRoutes[rt.Method+" "+rt.Pattern] {
					mw = append(mw, s.needsDatabase)
				}
				r.With(mw...).Method(rt.Method, rt.Pattern, rt.Handler)
			}
		})
	})
}

// ConsoleRoute is one console URL and the permission it requires.
type ConsoleRoute struct {
	Method, Pattern string
	Perm            herald.Permission
	Handler         http.Handler
}

// ConsoleRoutes is the console's route table (patterns under /console).
func (s *Server) ConsoleRoutes() []ConsoleRoute {
	h := func(f handlerFunc) http.Handler { return s.consoleErrors(f) }
	return []ConsoleRoute{
		{"GET", "/", herald.PermReadConsole, h(s.incidentList)},
		{"GET", "/events", herald.PermReadConsole, s.public.Broker().ServeEvents("changed")},
		{"GET", "/incidents/new", herald.PermManageIncidents, h(s.declareForm)},
		{"POST", "/incidents", herald.PermManageIncidents, h(s.consoleDeclare)},
		{"GET", "/incidents/{id}", herald.PermReadConsole, h(s.incidentPage)},
		{"POST", "/incidents/{id}/updates", herald.PermManageIncidents, h(s.composeUpdate)},
		{"POST", "/incidents/{id}/preview", herald.PermManageIncidents, h(s.preview)},
		{"POST", "/incidents/{id}/roles", herald.PermManageIncidents, h(s.assignRole)},
		{"POST", "/incidents/{id}/components", herald.PermManageIncidents, h(s.setIncidentComponent)},
		{"POST", "/incidents/{id}/data-loss", herald.PermManageIncidents, h(s.setDataLoss)},
		{"POST", "/incidents/{id}/reopen", herald.PermManageIncidents, h(s.reopenIncident)},
		{"POST", "/incidents/{id}/notes", herald.PermAddNote, h(s.addNote)},
		{"POST", "/incidents/{id}/regulator", herald.PermManageIncidents, h(s.recordRegulatorCall)},
		{"POST", "/incidents/{id}/regulator-flag", herald.PermManageIncidents, h(s.flagRegulators)},
		{"GET", "/obligations", herald.PermReadConsole, h(s.obligationsStrip)},
		{"POST", "/incidents/{id}/restored", herald.PermManageIncidents, h(s.setRestored)},
		{"POST", "/incidents/{id}/actions", herald.PermManageIncidents, h(s.requestAction)},
		{"POST", "/actions/{id}/decide", herald.PermApprove, h(s.decideAction)},
		{"POST", "/actions/{id}/execute", herald.PermExecuteDBRunbook, h(s.executeAction)},
		{"POST", "/actions/{id}/steps/{pos}", herald.PermRunActions, h(s.actionStep)},
		{"POST", "/actions/{id}/fail", herald.PermRunActions, h(s.failAction)},
		{"POST", "/actions/{id}/cancel", herald.PermManageIncidents, h(s.cancelAction)},
		{"GET", "/incidents/{id}/report", herald.PermReadConsole, h(s.reportPage)},
		{"GET", "/incidents/{id}/report.md", herald.PermReadConsole, h(s.reportMarkdown)},
		{"GET", "/runbooks", herald.PermReadConsole, h(s.runbookIndex)},
		{"GET", "/runbooks/{kind}/{key}", herald.PermReadConsole, h(s.runbookPage)},
		{"GET", "/components", herald.PermManageComponents, h(s.componentsPage)},
		{"POST", "/components/{id}", herald.PermManageComponents, h(s.setComponentStatus)},
		{"POST", "/components/{id}/edit", herald.PermManageComponents, h(s.editComponent)},
		{"POST", "/groups", herald.PermManageComponents, h(s.createGroup)},
		{"POST", "/groups/{id}/edit", herald.PermManageComponents, h(s.editGroup)},
		{"GET", "/maintenance/new", herald.PermScheduleMaint, h(s.maintenanceForm)},
		{"POST", "/maintenance", herald.PermScheduleMaint, h(s.scheduleMaintenance)},
		{"GET", "/users", herald.PermManageUsers, h(s.usersPage)},
		{"POST", "/users", herald.PermManageUsers, h(s.addUser)},
		{"POST", "/users/{id}/role", herald.PermManageUsers, h(s.setUserRole)},
		{"POST", "/users/{id}/slack", herald.PermManageUsers, h(s.setUserSlack)},
		{"GET", "/audit", herald.PermReadAudit, h(s.auditPage)},
		{"GET", "/exercises", herald.PermReadConsole, h(s.exercisesPage)},
		{"POST", "/exercises", herald.PermManageIncidents, h(s.recordExercise)},
		{"POST", "/exercises/{key}/drill", herald.PermManageIncidents, h(s.runDrill)},
		{"GET", "/subscribers", herald.PermManageSubscribers, h(s.subscribersPage)},
		{"GET", "/subscribers/export.csv", herald.PermManageSubscribers, h(s.exportSubscribers)},
		{"POST", "/subscribers/import", herald.PermManageSubscribers, h(s.importSubscribers)},
		{"POST", "/subscribers/{id}/remove", herald.PermManageSubscribers, h(s.removeSubscriber)},
	}
}
