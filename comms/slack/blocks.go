package slack

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
const (
	maxBlocks     = 50
	maxHeader     = 150
	maxSection    = 3000
	maxField      = 2000
	maxFallback   = 4000 // Slack truncates text past 40,000; notifications show far less
	maxButtonText = 75
)

// OpenActionID is the action_id of the "Open in Herald" button. It is a link
// button, but Slack still sends the click to the app's interactivity URL,
// which should acknowledge it.
const OpenActionID = "herald_open_incident"

// Escape makes plain text safe in Slack mrkdwn: &, < and > become &amp;,
// &lt; and &gt;, so text such as "<!channel>" or "<https://evil|bank>"
// cannot ping everyone or disguise a link.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"|]+`)

// mrkdwn renders user text for a mrkdwn field: escaped, with its http(s)
// URLs made into links (the fields are sent verbatim, so Slack does not
// linkify or parse mentions on its own).
func mrkdwn(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range urlRE.FindAllStringIndex(s, -1) {
		u := strings.TrimRight(s[loc[0]:loc[1]], ".,;:!?)]}'")
		if len(u) <= len("https://") {
			continue
		}
		b.WriteString(Escape(s[last:loc[0]]))
		b.WriteString("<" + Escape(u) + ">")
		last = loc[0] + len(u)
	}
	b.WriteString(Escape(s[last:]))
	return b.String()
}

// fallback is the top-level text of a message: plain text, escaped, cut to
// a length a notification can show.
func fallback(s string) string {
	return Escape(truncate(strings.TrimSpace(s), maxFallback))
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:n-1]), unicode.IsSpace) + "…"
}

func md(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, true)
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

func section(s string) Block { return slackapi.NewSectionBlock(md(s), nil, nil) }

// sections renders user text as as many sections as it takes, each within
// Slack's 3,000 characters, breaking between words. heading (mrkdwn, already
// safe) starts the first one.
func sections(heading, text string) []Block {
	var out []Block
	for _, c := range pack(heading, tokens(text), maxSection) {
		out = append(out, section(c))
	}
	return out
}

// tokens splits text into rendered pieces that can be cut between: words
// and the whitespace around them. Escaping and linking work word by word, so
// the pieces joined are the whole text rendered.
func tokens(text string) []string {
	var out []string
	start, inSpace := 0, false
	emit := func(end int) {
		if end > start {
			out = append(out, splitLong(text[start:end])...)
		}
		start = end
	}
	for i, r := range text {
		if sp := unicode.IsSpace(r); sp != inSpace {
			emit(i)
			inSpace = sp
		}
	}
	emit(len(text))
	return out
}

// splitLong renders one word, cutting a word too long for a section.
func splitLong(word string) []string {
	const chunk = 500 // even fully escaped (&amp; is 5 characters), within 3,000
	if utf8.RuneCountInString(word) <= chunk {
		return []string{mrkdwn(word)}
	}
	var out []string
	r := []rune(word)
	for len(r) > 0 {
		n := min(chunk, len(r))
		out = append(out, mrkdwn(string(r[:n])))
		r = r[n:]
	}
	return out
}

// pack joins pieces into strings of at most limit characters, the first
// starting with heading (when not empty) on a line of its own. A string
// never starts with whitespace, so none is empty.
func pack(heading string, pieces []string, limit int) []string {
	var out []string
	var cur strings.Builder
	n := 0
	add := func(p string) {
		pn := utf8.RuneCountInString(p)
		if n > 0 && n+pn > limit {
			out = append(out, cur.String())
			cur.Reset()
			n = 0
		}
		if n == 0 {
			p = strings.TrimLeftFunc(p, unicode.IsSpace)
			pn = utf8.RuneCountInString(p)
		}
		cur.WriteString(p)
		n += pn
	}
	if heading != "" {
		add(heading)
		if len(pieces) > 0 {
			add("\n")
		}
	}
	for _, p := range pieces {
		add(p)
	}
	if n > 0 {
		out = append(out, cur.String())
	}
	return out
}

// lines renders mrkdwn lines (already safe) under a heading, split into
// sections within Slack's limit.
func lines(heading string, ls []string) []Block {
	pieces := make([]string, len(ls))
	for i, l := range ls {
		if i > 0 {
			l = "\n" + l
		}
		pieces[i] = l
	}
	var out []Block
	for _, c := range pack(heading, pieces, maxSection) {
		out = append(out, section(c))
	}
	return out
}

// capBlocks keeps a message within Slack's 50 blocks.
func capBlocks(bs []Block, consoleLink string) []Block {
	if len(bs) <= maxBlocks {
		return bs
	}
	note := "_Cut short for Slack; the full text is in Herald._"
	if consoleLink != "" {
		note = "_Cut short for Slack; the full text is in <" + Escape(consoleLink) + "|Herald>._"
	}
	return append(bs[:maxBlocks-1:maxBlocks-1], slackapi.NewContextBlock("", md(note)))
}

// slackDate shows t in each reader's own time zone, with a UTC fallback.
func slackDate(t time.Time, format string) string {
	return fmt.Sprintf("<!date^%d^%s|%s>", t.Unix(), format, t.UTC().Format("2006-01-02 15:04 UTC"))
}

// since is a short human duration: "under a minute", "25m", "1h 5m", "2d 3h".
func since(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// icon is a glance at the state; the label always goes with it, never the
// colour alone.
func icon(in herald.Incident) string {
	switch {
	case in.Status.Closed():
		return ":white_check_mark:"
	case in.Kind == herald.KindMaintenance:
		return ":wrench:"
	case in.Impact == herald.ImpactCritical:
		return ":red_circle:"
	case in.Impact == herald.ImpactMajor:
		return ":large_orange_circle:"
	case in.Impact == herald.ImpactMinor:
		return ":large_yellow_circle:"
	}
	return ":white_circle:"
}

// IncidentURL is the console page of an incident, "" without a console URL.
func (c *Client) IncidentURL(id string) string {
	if c.consoleURL == "" || id == "" {
		return ""
	}
	return c.consoleURL + "/console/incidents/" + id
}

// parentBlocks renders the thread parent and its plain fallback text.
func (c *Client) parentBlocks(in herald.Incident, comps map[string]herald.Component, commander string) (string, []Block) {
	now := c.now()
	link := c.IncidentURL(in.ID)

	title := strings.TrimSpace(in.Name)
	if title == "" {
		title = "Untitled " + string(in.Kind)
	}
	if in.Drill { // the thread's parent says so, as every reply does
		title = herald.DrillMarker + " " + title
	}
	blocks := []Block{slackapi.NewHeaderBlock(plain(truncate(title, maxHeader)))}

	who := "_Unassigned_"
	if strings.TrimSpace(commander) != "" {
		who = mrkdwn(truncate(strings.TrimSpace(commander), 200))
	}
	fields := []*slackapi.TextBlockObject{
		md("*Status*\n" + icon(in) + " " + Escape(in.Status.Label())),
		md("*Impact*\n" + Escape(in.Impact.Label())),
		md("*Commander*\n" + who),
		md(timing(in, now)),
	}
	blocks = append(blocks, slackapi.NewSectionBlock(nil, fields, nil))

	var cl []string
	for _, id := range in.ComponentIDs {
		name, status := id, ""
		if comp, ok := comps[id]; ok {
			name, status = comp.Name, comp.Status.Label()
		}
		l := "• *" + Escape(truncate(name, 200)) + "*"
		if status != "" {
			l += ": " + Escape(status)
		}
		cl = append(cl, l)
	}
	if len(cl) == 0 {
		cl = []string{"_None named yet_"}
	}
	blocks = append(blocks, lines("*Affected components*", cl)...)

	if link != "" {
		btn := slackapi.NewButtonBlockElement(OpenActionID, in.ID, plain("Open in Herald")).WithURL(link)
		blocks = append(blocks, slackapi.NewActionBlock("herald_incident_actions", btn))
	}
	ctx := fmt.Sprintf("Herald %s", Escape(string(in.Kind)))
	if in.ID != "" {
		ctx += " `" + Escape(in.ID) + "`"
	}
	if !in.UpdatedAt.IsZero() {
		ctx += " · updated " + slackDate(in.UpdatedAt, "{date_short_pretty} {time}")
	}
	blocks = append(blocks, slackapi.NewContextBlock("", md(ctx)))

	text := fmt.Sprintf("%s: %s, %s impact", title, in.Status.Label(), strings.ToLower(in.Impact.Label()))
	if in.Impact == herald.ImpactNone {
		text = fmt.Sprintf("%s: %s", title, in.Status.Label())
	}
	return text, capBlocks(blocks, link)
}

// timing is the parent's time field: how long an incident has been open
// (as of this post; Slack does not tick), or its duration once closed, or a
// maintenance's window.
func timing(in herald.Incident, now time.Time) string {
	const format = "{date_short_pretty} {time}"
	switch {
	case in.Kind == herald.KindMaintenance && in.ScheduledFor != nil && in.ScheduledUntil != nil && !in.Status.Closed():
		return "*Window*\n" + slackDate(*in.ScheduledFor, format) + " to " + slackDate(*in.ScheduledUntil, format)
	case in.StartedAt.IsZero():
		return "*Started*\n_Not yet_"
	case in.ResolvedAt != nil:
		return "*Duration*\n" + since(in.ResolvedAt.Sub(in.StartedAt)) + ", from " +
			slackDate(in.StartedAt, format) + " to " + slackDate(*in.ResolvedAt, format)
	case now.Before(in.StartedAt):
		return "*Starts*\n" + slackDate(in.StartedAt, format)
	}
	return "*Started*\n" + slackDate(in.StartedAt, format) + "\nOpen for " + since(now.Sub(in.StartedAt))
}

// UpdateBlocks renders a public update as a thread reply: its status, its
// text and the component changes it made. It returns the plain fallback
// text and the blocks, for Reply.
func UpdateBlocks(u herald.Update) (string, []Block) {
	at := u.DisplayAt
	if at.IsZero() {
		at = u.CreatedAt
	}
	head := "*" + Escape(u.Status.Label()) + "*"
	if u.Status == "" {
		head = "*Update*"
	}
	if !at.IsZero() {
		head += " · " + slackDate(at, "{time}")
	}
	blocks := sections(head, strings.TrimSpace(u.Body))
	if len(u.Changes) > 0 {
		blocks = append(blocks, lines("*Components*", changeLines(u.Changes))...)
	}
	text := strings.TrimSpace(u.Status.Label() + ": " + truncate(strings.TrimSpace(u.Body), 300))
	return text, capBlocks(blocks, "")
}

// ChangeBlocks renders component status changes made outside an update.
func ChangeBlocks(changes []herald.ComponentChange) (string, []Block) {
	if len(changes) == 0 {
		return "", nil
	}
	var parts []string
	for _, ch := range changes {
		parts = append(parts, fmt.Sprintf("%s: %s", changeName(ch), ch.New.Label()))
	}
	return "Component status: " + strings.Join(parts, ", "), capBlocks(lines("*Component status*", changeLines(changes)), "")
}

func changeName(ch herald.ComponentChange) string {
	if ch.Name != "" {
		return ch.Name
	}
	return ch.ComponentID
}

func changeLines(changes []herald.ComponentChange) []string {
	out := make([]string, len(changes))
	for i, ch := range changes {
		l := "• *" + Escape(truncate(changeName(ch), 200)) + "*: "
		if ch.Old != "" {
			l += Escape(ch.Old.Label()) + " → "
		}
		out[i] = l + Escape(ch.New.Label())
	}
	return out
}

// RoleBlocks renders a role change: who now sits in a seat (or that it is
// empty when UserName is "").
func RoleBlocks(a herald.Assignment) (string, []Block) {
	seat := a.Role.Label()
	var text, line string
	switch {
	case strings.TrimSpace(a.UserName) == "":
		text = seat + " is now unassigned"
		line = ":bust_in_silhouette: *" + Escape(seat) + "* is now unassigned"
	default:
		name := truncate(strings.TrimSpace(a.UserName), 200)
		text = name + " is now " + seat
		line = ":bust_in_silhouette: *" + mrkdwn(name) + "* is now " + Escape(seat)
	}
	if by := strings.TrimSpace(a.AssignedBy); by != "" {
		text += " (assigned by " + by + ")"
		line += " (assigned by " + mrkdwn(truncate(by, 200)) + ")"
	}
	return text, []Block{section(line)}
}

// EventBlocks renders one plain line of news in the thread, such as a
// failover step or a reminder; the line is plain text, escaped here.
func EventBlocks(line string) (string, []Block) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", nil
	}
	return line, capBlocks(sections("", line), "")
}
