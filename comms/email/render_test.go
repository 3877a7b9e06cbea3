package email_test

import (
	"strings"
	"testing"
	"time"

	herald "github.com/kredete/herald"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/email/smtptest"
)

var cet = time.FixedZone("CET", 3600)

func hostileIncident() (herald.Incident, herald.Update, map[string]herald.Component) {
	start := time.Date(2026, 11, 25, 14, 2, 0, 0, time.UTC)
	in := herald.Incident{
		ID:           "inc_1",
		Kind:         herald.KindIncident,
		Name:         "<script>alert(1)</script> Payments & cards",
		Status:       herald.Identified,
		Impact:       herald.ImpactMajor,
		ComponentIDs: []string{"api", "pay"},
		StartedAt:    start,
	}
	comps := map[string]herald.Component{
		"api": {ID: "api", Name: "API Platform", Status: herald.MajorOutage},
		"pay": {ID: "pay", Name: `Payments <img src=x onerror="x()">`, Status: herald.DegradedPerformance},
	}
	up := herald.Update{
		IncidentID: "inc_1",
		Status:     herald.Identified,
		Body:       "Cause: <script>steal()</script> in the card gateway.\nRolling back now.\n\nCustomers see \"503\" & retries.",
		DisplayAt:  start.Add(45 * time.Minute),
		Changes: []herald.ComponentChange{
			{ComponentID: "api", Name: "API Platform", Old: herald.Operational, New: herald.MajorOutage},
		},
	}
	return in, up, comps
}

func TestRenderUpdate(t *testing.T) {
	in, up, comps := hostileIncident()
	next := time.Date(2026, 11, 25, 15, 15, 0, 0, time.UTC)
	subject, text, html := email.RenderUpdate(in, up, comps, "https://herald.kredete.com/console/incidents/inc_1", cet, email.WithNextUpdate(next))

	if want := "[SEV Major] <script>alert(1)</script> Payments & cards — Identified"; subject != want {
		t.Errorf("subject = %q; want %q", subject, want)
	}

	// The text part keeps user text literal.
	for _, want := range []string{
		"Status: Identified",
		"Impact: Major",
		"Started: Wed 25 Nov 2026 15:02 CET (45m so far)",
		"  - API Platform: Major outage (was Operational)",
		`  - Payments <img src=x onerror="x()">: Degraded performance`,
		"Update, Wed 25 Nov 2026 15:47 CET:",
		"Cause: <script>steal()</script> in the card gateway.\nRolling back now.\n\nCustomers see \"503\" & retries.",
		"Next update by Wed 25 Nov 2026 16:15 CET.",
		"https://herald.kredete.com/console/incidents/inc_1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}

	// The HTML part escapes it.
	for _, bad := range []string{"<script", "<img", "onerror=\"", "& cards", "& retries"} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML contains %q unescaped:\n%s", bad, html)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt; Payments &amp; cards",
		"Cause: &lt;script&gt;steal()&lt;/script&gt; in the card gateway.<br>Rolling back now.</p>",
		"Customers see &#34;503&#34; &amp; retries.",
		"Payments &lt;img src=x onerror=&#34;x()&#34;&gt;: <strong>Degraded performance</strong>",
		"API Platform: <strong>Major outage</strong> (was Operational)",
		"45m so far",
		"Next update by Wed 25 Nov 2026 16:15 CET.",
		`<a href="https://herald.kredete.com/console/incidents/inc_1"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, html)
		}
	}
}

func TestRenderUpdateRefusesScriptLinks(t *testing.T) {
	in, up, comps := hostileIncident()
	_, _, html := email.RenderUpdate(in, up, comps, "javascript:alert(1)", nil)
	if strings.Contains(html, "javascript:") {
		t.Errorf("HTML links to javascript:\n%s", html)
	}
}

func TestRenderUpdateWithoutOptionalParts(t *testing.T) {
	in, up, comps := hostileIncident()
	in.ComponentIDs, up.Changes = nil, nil
	_, text, html := email.RenderUpdate(in, up, comps, "", nil)
	for _, absent := range []string{"Affected components", "Next update", "console"} {
		if strings.Contains(text, absent) || strings.Contains(html, absent) {
			t.Errorf("%q appears without data", absent)
		}
	}
	if !strings.Contains(text, "Wed 25 Nov 2026 14:02 UTC") {
		t.Errorf("a nil location does not show UTC:\n%s", text)
	}
}

func TestRenderResolvedAndMaintenance(t *testing.T) {
	in, up, comps := hostileIncident()
	resolved := in.StartedAt.Add(72 * time.Minute)
	in.Status, in.ResolvedAt = herald.Resolved, &resolved
	up.Status, up.DisplayAt = herald.Resolved, resolved
	subject, text, _ := email.RenderUpdate(in, up, comps, "", time.UTC)
	if !strings.HasSuffix(subject, "— Resolved") {
		t.Errorf("subject = %q", subject)
	}
	if !strings.Contains(text, "(lasted 1h 12m)") {
		t.Errorf("text lacks the duration:\n%s", text)
	}

	from := time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)
	until := from.Add(2 * time.Hour)
	m := herald.Incident{
		Kind: herald.KindMaintenance, Name: "Database upgrade", Status: herald.InProgress, Impact: herald.ImpactNone,
		StartedAt: from, ScheduledFor: &from, ScheduledUntil: &until,
	}
	mu := herald.Update{Status: herald.InProgress, Body: "Started.", DisplayAt: from.Add(10 * time.Minute)}
	subject, text, html := email.RenderUpdate(m, mu, nil, "", time.UTC)
	if subject != "[Maintenance] Database upgrade — In progress" {
		t.Errorf("subject = %q", subject)
	}
	if !strings.Contains(text, "Window: Sat 28 Nov 2026 22:00 – Sun 29 Nov 2026 00:00 UTC") {
		t.Errorf("text lacks the window:\n%s", text)
	}
	if strings.Contains(text, "Impact:") || strings.Contains(html, "Impact") {
		t.Errorf("a maintenance shows an impact")
	}
}

// The rendered update travels intact: escaped in the HTML part, literal in
// the text part, the subject decoded as written.
func TestRenderedUpdateRoundTrip(t *testing.T) {
	srv := smtptest.Start(t)
	c := newClient(t, srv.URL())
	in, up, comps := hostileIncident()
	subject, text, html := email.RenderUpdate(in, up, comps, "https://herald.kredete.com/console/incidents/inc_1", cet)
	if _, err := c.Send(t.Context(), email.Message{To: []string{"cfo@example.com"}, Subject: subject, Text: text, HTML: html}); err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, srv, 1)[0]
	if got.Subject != subject {
		t.Errorf("Subject = %q; want %q", got.Subject, subject)
	}
	gotText, err := got.Part("text/plain")
	if err != nil {
		t.Fatal(err)
	}
	gotHTML, err := got.Part("text/html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gotText, "Cause: <script>steal()</script>") {
		t.Errorf("text part lost the literal text:\n%s", gotText)
	}
	if strings.Contains(gotHTML, "<script") || !strings.Contains(gotHTML, "&lt;script&gt;steal()&lt;/script&gt;") {
		t.Errorf("HTML part is not escaped:\n%s", gotHTML)
	}
}
