package email

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	herald "github.com/kredete/herald"
)

// RenderOption adds something RenderUpdate cannot know from the incident.
type RenderOption func(*renderOptions)

type renderOptions struct {
	nextUpdate time.Time
}

// WithNextUpdate promises the next update by t.
func WithNextUpdate(t time.Time) RenderOption {
	return func(o *renderOptions) { o.nextUpdate = t }
}

// componentLine is one affected component as the email shows it.
type componentLine struct {
	Name   string
	Status string
	Was    string // the status before this update, when the update changed it
}

// updateView is everything the two bodies show, computed once so that text
// and HTML say the same thing.
type updateView struct {
	Subject    string
	Title      string
	Kind       herald.Kind
	Status     string
	Impact     string
	Started    string // "Tue 25 Nov 2026 14:02 CET"
	Elapsed    string // "45m" since the start at the time of the update, or the total when resolved
	Resolved   bool
	Window     string // maintenance: "Tue 25 Nov 2026 22:00 – 23:00 CET"
	Posted     string // when the update was posted
	Components []componentLine
	Body       string
	Paragraphs [][]string // Body split into paragraphs of lines, for HTML
	NextUpdate string
	ConsoleURL string
}

// RenderUpdate writes the email executives get for one update: the subject
// ("[SEV Major] Payments API errors — Identified"), a plain-text body and an
// HTML body with the status, impact, affected components and their status,
// how long it has lasted, the message, the next update time (WithNextUpdate)
// and a link to the incident in the console. consoleURL is that link, built
// by the caller, which knows the routes; empty leaves it out. Times are shown
// in loc (UTC when nil). User text is escaped in the HTML and kept literal
// in the text.
func RenderUpdate(in herald.Incident, up herald.Update, comps map[string]herald.Component, consoleURL string, loc *time.Location, opts ...RenderOption) (subject, text, html string) {
	var o renderOptions
	for _, opt := range opts {
		opt(&o)
	}
	v := newUpdateView(in, up, comps, consoleURL, loc, o)
	var b strings.Builder
	if err := htmlTemplate.Execute(&b, v); err != nil {
		// The template is fixed and the data typed: this is a bug, and the
		// text part still says everything.
		panic(fmt.Sprintf("email: render update: %v", err))
	}
	return v.Subject, renderText(v), b.String()
}

func newUpdateView(in herald.Incident, up herald.Update, comps map[string]herald.Component, consoleURL string, loc *time.Location, o renderOptions) updateView {
	if loc == nil {
		loc = time.UTC
	}
	const day = "Mon 2 Jan 2006 15:04 MST"
	status := up.Status
	if status == "" {
		status = in.Status
	}
	title := strings.Join(strings.Fields(in.Name), " ") // no line breaks in a subject
	v := updateView{
		Title:      title,
		Kind:       in.Kind,
		Status:     status.Label(),
		Impact:     impactLabel(in.Impact),
		Body:       strings.TrimSpace(up.Body),
		ConsoleURL: consoleURL,
	}
	if in.Kind == herald.KindMaintenance {
		v.Subject = fmt.Sprintf("[Maintenance] %s — %s", title, v.Status)
	} else {
		v.Subject = fmt.Sprintf("[SEV %s] %s — %s", v.Impact, title, v.Status)
	}

	at := up.DisplayAt
	if at.IsZero() {
		at = up.CreatedAt
	}
	if !at.IsZero() {
		v.Posted = at.In(loc).Format(day)
	}
	if in.Kind == herald.KindMaintenance && in.ScheduledFor != nil && in.ScheduledUntil != nil {
		from, until := in.ScheduledFor.In(loc), in.ScheduledUntil.In(loc)
		end := until.Format("15:04 MST")
		if from.YearDay() != until.YearDay() || from.Year() != until.Year() {
			end = until.Format(day)
		}
		v.Window = from.Format("Mon 2 Jan 2006 15:04") + " – " + end
	}
	if !in.StartedAt.IsZero() {
		v.Started = in.StartedAt.In(loc).Format(day)
		end := at
		if status.Closed() && in.ResolvedAt != nil {
			end, v.Resolved = *in.ResolvedAt, true
		}
		if !end.IsZero() && end.After(in.StartedAt) {
			v.Elapsed = humanDuration(end.Sub(in.StartedAt))
		}
	}
	if !o.nextUpdate.IsZero() {
		v.NextUpdate = o.nextUpdate.In(loc).Format(day)
	}

	changed := map[string]herald.ComponentChange{}
	for _, ch := range up.Changes {
		changed[ch.ComponentID] = ch
	}
	ids := append([]string(nil), in.ComponentIDs...)
	for _, ch := range up.Changes {
		if !in.Affects(ch.ComponentID) {
			ids = append(ids, ch.ComponentID)
		}
	}
	for _, id := range ids {
		c, known := comps[id]
		line := componentLine{Name: c.Name, Status: c.Status.Label()}
		if ch, ok := changed[id]; ok {
			line.Status = ch.New.Label()
			if ch.Old != "" && ch.Old != ch.New {
				line.Was = ch.Old.Label()
			}
			if line.Name == "" {
				line.Name = ch.Name
			}
		}
		if line.Name == "" {
			line.Name = id
		}
		if !known && line.Status == "" {
			line.Status = "Unknown"
		}
		v.Components = append(v.Components, line)
	}

	for _, p := range strings.Split(strings.ReplaceAll(v.Body, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			v.Paragraphs = append(v.Paragraphs, strings.Split(p, "\n"))
		}
	}
	return v
}

func impactLabel(i herald.Impact) string {
	if i == herald.ImpactNone || i == "" {
		return "None"
	}
	return i.Label()
}

// humanDuration is a duration as people say it: "45m", "1h 12m", "2d 3h".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return "under a minute"
}

func renderText(v updateView) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("%s", v.Subject)
	line("")
	line("Status: %s", v.Status)
	if v.Kind == herald.KindMaintenance {
		if v.Window != "" {
			line("Window: %s", v.Window)
		}
	} else {
		line("Impact: %s", v.Impact)
	}
	if v.Started != "" {
		switch {
		case v.Elapsed != "" && v.Resolved:
			line("Started: %s (lasted %s)", v.Started, v.Elapsed)
		case v.Elapsed != "":
			line("Started: %s (%s so far)", v.Started, v.Elapsed)
		default:
			line("Started: %s", v.Started)
		}
	}
	if len(v.Components) > 0 {
		line("")
		line("Affected components:")
		for _, c := range v.Components {
			if c.Was != "" {
				line("  - %s: %s (was %s)", c.Name, c.Status, c.Was)
			} else {
				line("  - %s: %s", c.Name, c.Status)
			}
		}
	}
	line("")
	if v.Posted != "" {
		line("Update, %s:", v.Posted)
	} else {
		line("Update:")
	}
	line("%s", v.Body)
	if v.NextUpdate != "" {
		line("")
		line("Next update by %s.", v.NextUpdate)
	}
	if v.ConsoleURL != "" {
		line("")
		line("Open in the Herald console: %s", v.ConsoleURL)
	}
	return b.String()
}

// htmlTemplate escapes every value: titles and bodies are user text.
// Styles are inline because mail clients drop style sheets.
var htmlTemplate = template.Must(template.New("update").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:16px;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#1a1a1a;background:#ffffff">
<h1 style="font-size:20px;margin:0 0 12px">{{.Title}}</h1>
<table role="presentation" style="border-collapse:collapse;margin:0 0 16px">
<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0">Status</th><td>{{.Status}}</td></tr>
{{- if eq .Kind "maintenance"}}{{if .Window}}
<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0">Window</th><td>{{.Window}}</td></tr>
{{- end}}{{else}}
<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0">Impact</th><td>{{.Impact}}</td></tr>
{{- end}}
{{- if .Started}}
<tr><th scope="row" style="text-align:left;padding:2px 12px 2px 0">Started</th><td>{{.Started}}{{if .Elapsed}} ({{if .Resolved}}lasted {{.Elapsed}}{{else}}{{.Elapsed}} so far{{end}}){{end}}</td></tr>
{{- end}}
</table>
{{- if .Components}}
<h2 style="font-size:16px;margin:0 0 4px">Affected components</h2>
<ul style="margin:0 0 16px;padding-left:20px">
{{- range .Components}}
<li>{{.Name}}: <strong>{{.Status}}</strong>{{if .Was}} (was {{.Was}}){{end}}</li>
{{- end}}
</ul>
{{- end}}
<h2 style="font-size:16px;margin:0 0 4px">Update{{if .Posted}}, {{.Posted}}{{end}}</h2>
{{- range .Paragraphs}}
<p style="margin:0 0 12px">{{range $i, $l := .}}{{if $i}}<br>{{end}}{{$l}}{{end}}</p>
{{- end}}
{{- if .NextUpdate}}
<p style="margin:0 0 12px"><strong>Next update by {{.NextUpdate}}.</strong></p>
{{- end}}
{{- if .ConsoleURL}}
<p style="margin:16px 0 0"><a href="{{.ConsoleURL}}" style="color:#0b57d0">Open in the Herald console</a></p>
{{- end}}
</body>
</html>
`))
