// Package components holds Herald's templ views. Each takes typed view data
// and renders HTML: no SQL, no HTTP calls, no business rules; the numbers
// they show (uptime, overall status) are computed by the domain before.
package components

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// Assets are the hashed URLs of the static files.
type Assets struct {
	CSS  string
	HTMX string
	SSE  string
}

// Site is what every public page shares.
type Site struct {
	Name     string
	URL      string
	Location *time.Location
	Assets   Assets
	// Static is set on the pages of a static copy (herald export): they
	// keep no connection to Herald, link in the form a static host serves
	// (/incidents/ID/), and say when they were generated. Nil: live pages.
	Static *StaticCopy
	// Outage is set while Herald cannot reach its database: every public
	// page says so (the status page in its refreshing part, StatusView's).
	Outage *Outage
}

// StaticCopy is what the pages of a static copy need to know.
type StaticCopy struct {
	// GeneratedAt is when the copy was made; zero renders no time (the
	// export compares pages without it to skip unchanged ones).
	GeneratedAt time.Time
	// LiveURL is Herald's own base URL (HERALD_PUBLIC_URL), where the
	// copy's "Subscribe to updates" link points; empty: the link is left
	// out and the page says subscribing is not available there.
	LiveURL string
}

// StatusView is the public status page.
type StatusView struct {
	Site        Site
	Status      herald.PageStatus
	Components  []ComponentView   // every component, in display order
	Items       []ItemView        // the rows: stand-alone components and groups
	Active      []herald.Incident // open incidents, newest first
	Maintenance []herald.Incident // in progress first, then upcoming soonest first
	Target      float64           // availability objective, e.g. 0.9999
	UpdatedAt   time.Time         // last change of the data
	Days        int
	Version     int64 // the snapshot's version: the event stream only announces newer ones
	// Outage is set while Herald cannot reach its database: the page's
	// refreshing part says so, with the data's age. (Site.Outage stays
	// nil here, so the layout does not say it twice.)
	Outage *Outage
}

// ComponentView is one component with its uptime.
type ComponentView struct {
	Component herald.Component
	Uptime    herald.Uptime
}

// ItemView is one row of the component list: a component on its own, or a
// group with its members.
type ItemView struct {
	Group   *herald.ComponentGroup // nil for a stand-alone component
	Status  herald.ComponentStatus // the group's: the worst of its members'
	Members []ComponentView        // the one component, or the group's members
}

// IncidentView is one incident's page.
type IncidentView struct {
	Site       Site
	Incident   herald.Incident
	Components map[string]herald.Component
}

// HistoryView is the incident history, by month.
type HistoryView struct {
	Site   Site
	Months []Month
	Page   int // 1 is the newest three months
	Older  bool
}

// Month is one month of the history.
type Month struct {
	Start     time.Time
	Incidents []herald.Incident
}

// NotFoundView is the 404 page.
type NotFoundView struct {
	Site    Site
	Message string
}

// formatTime writes a time in the page's zone with the zone's name, e.g.
// "25 Nov 2026, 14:05 UTC".
func formatTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2 Jan 2006, 15:04 MST")
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func percent(f float64) string {
	if f >= 1 {
		return "100%"
	}
	// Three decimals near the target (99.995%), two below; no trailing zeros.
	prec := 2
	if f >= 0.999 {
		prec = 3
	}
	s := strconv.FormatFloat(f*100, 'f', prec, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

func dayClass(d herald.Day) string {
	if !d.Known {
		return "day day-nodata"
	}
	return "day day-" + string(d.Worst)
}

// dayLabel is the tooltip of one uptime bar: date, status, uptime and the
// incidents of that day, in words.
func dayLabel(d herald.Day) string {
	date := d.Date.Format("2 Jan 2006")
	if !d.Known {
		return date + ": no data"
	}
	s := fmt.Sprintf("%s: %s, %s uptime", date, d.Worst.Label(), percent(d.Uptime))
	if d.Downtime > 0 {
		s += fmt.Sprintf(" (%s down)", shortDuration(d.Downtime))
	}
	if len(d.Incidents) == 0 {
		return s + ", no incidents"
	}
	for i, in := range d.Incidents {
		sep := "; "
		if i == 0 {
			sep = ". Incidents: "
		}
		s += sep + in.Name
	}
	return s
}

func shortDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

func daysWithIncidents(u herald.Uptime) []herald.Day {
	var out []herald.Day
	for i := len(u.Days) - 1; i >= 0; i-- {
		if len(u.Days[i].Incidents) > 0 {
			out = append(out, u.Days[i])
		}
	}
	return out
}

func statusIcon(s herald.ComponentStatus) string {
	switch s {
	case herald.Operational:
		return "✓"
	case herald.DegradedPerformance:
		return "!"
	case herald.PartialOutage:
		return "▲"
	case herald.MajorOutage:
		return "✕"
	case herald.UnderMaintenance:
		return "🛠"
	}
	return "?"
}

func bannerIcon(indicator string) string {
	switch indicator {
	case "none":
		return "✓"
	case "minor":
		return "!"
	case "major":
		return "▲"
	case "critical":
		return "✕"
	}
	return "🛠"
}

func componentNames(in herald.Incident, comps map[string]herald.Component) string {
	var names []string
	for _, id := range in.ComponentIDs {
		if c, ok := comps[id]; ok {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}

func incidentClass(in herald.Incident) string {
	if in.Kind == herald.KindMaintenance {
		return "panel incident kind-maintenance"
	}
	return "panel incident impact-" + string(in.Impact)
}

func maintenanceWindow(in herald.Incident, loc *time.Location) string {
	if in.ScheduledFor == nil || in.ScheduledUntil == nil {
		return ""
	}
	return "Scheduled " + formatTime(*in.ScheduledFor, loc) + " – " + formatTime(*in.ScheduledUntil, loc)
}

func changeLine(ch herald.ComponentChange) string {
	return ch.Name + ": " + ch.Old.Label() + " → " + ch.New.Label()
}

func incidentURL(id string) string { return "/incidents/" + id }

func historyPageURL(page int) string { return fmt.Sprintf("/history?page=%d", page) }

// incidentLink is an incident's page as this site links it: a static copy
// links the directory a static host serves (/incidents/ID/ for
// incidents/ID/index.html) rather than rely on its redirect from
// /incidents/ID.
func incidentLink(site Site, id string) string {
	if site.Static != nil {
		return "/incidents/" + id + "/"
	}
	return incidentURL(id)
}

// historyLink is a page of the history; 0 is the navigation's link to it.
// A static copy has no query strings (a static host ignores them), so its
// pages are directories: /history/, /history/2/.
func historyLink(site Site, page int) string {
	switch {
	case site.Static == nil && page == 0:
		return "/history"
	case site.Static == nil:
		return historyPageURL(page)
	case page <= 1:
		return "/history/"
	}
	return fmt.Sprintf("/history/%d/", page)
}

// subscribeLink is where "Subscribe to updates" points: Herald's own page,
// or for a static copy the live Herald's; "" when a copy has none.
func subscribeLink(site Site) string {
	if site.Static == nil {
		return "/subscribe"
	}
	if site.Static.LiveURL == "" {
		return ""
	}
	return site.Static.LiveURL + "/subscribe"
}

func monthLabel(m Month) string { return m.Start.Format("January 2006") }

func durationText(in herald.Incident) string {
	if in.ResolvedAt == nil {
		return ""
	}
	return "lasted " + shortDuration(in.ResolvedAt.Sub(in.StartedAt))
}

func itoa(n int) string { return fmt.Sprint(n) }

// eventsURL is an event stream's URL with the version the page shows, so the
// server announces only what is newer.
func eventsURL(path string, version int64) string {
	return path + "?v=" + strconv.FormatInt(version, 10)
}
