package email_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/components/componentstest"
)

// renderUpdate is the executives' email for an update of an incident named
// name, saying text, with a component named component.
func renderUpdate(name, text, component string) (subject, plain, html string) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	in := herald.Incident{ID: "inc1", Kind: herald.KindIncident, Name: name, Status: herald.Identified, Impact: herald.ImpactMajor,
		StartedAt: at.Add(-time.Hour), ComponentIDs: []string{"cmp_api", "cmp_gone"}}
	up := herald.Update{Status: herald.Identified, Body: text, CreatedAt: at, DisplayAt: at,
		Changes: []herald.ComponentChange{{ComponentID: "cmp_api", Name: component, Old: herald.Operational, New: herald.MajorOutage}}}
	comps := map[string]herald.Component{"cmp_api": {ID: "cmp_api", Name: component, Status: herald.MajorOutage}}
	return email.RenderUpdate(in, up, comps, "https://herald.example/console/incidents/inc1", time.UTC, email.WithNextUpdate(at.Add(30*time.Minute)))
}

// FuzzRenderUpdate renders the executives' email with fuzzed user text.
// The subject is one line; the HTML part keeps the markup it has with
// plain text (no user text became a tag or attribute); the text part
// carries the update as written.
func FuzzRenderUpdate(f *testing.F) {
	f.Add("Card payments failing", "We are investigating.\n\nNext update at 10:00.\r\nThanks.", "API Platform")
	f.Add("<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "</li><a href=javascript:alert(1)>x</a>")
	f.Add("Outage\r\nBcc: all@example.com", "{{.Subject}} {{template \"x\"}}", "&lt;b&gt;")
	f.Add("\x00\u2028", "\n\n\n", " ")
	f.Fuzz(func(t *testing.T, name, text, component string) {
		subject, plain, html := renderUpdate(name, text, component)
		if strings.ContainsAny(subject, "\r\n") {
			t.Fatalf("subject %q is more than one line", subject)
		}
		p := componentstest.Plain(name, text, component)
		_, _, want := renderUpdate(p[0], p[1], p[2])
		componentstest.SameShape(t, "the HTML part", html, want)
		if utf8.ValidString(text) && !strings.Contains(plain, strings.TrimSpace(text)) {
			t.Fatalf("the text part lacks the update:\n%s", plain)
		}
	})
}
