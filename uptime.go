package herald

import (
	"sort"
	"time"
)

// UptimeDays is how many days the status page shows.
const UptimeDays = 90

// Day is one bar of a component's uptime history.
type Day struct {
	Date      time.Time // midnight in the page's time zone
	Known     bool      // false: no history yet that day (grey, never counted)
	Worst     ComponentStatus
	Uptime    float64       // share of the observed part of the day that was up
	Downtime  time.Duration // weighted (see ComponentStatus.DowntimeWeight)
	Observed  time.Duration
	Incidents []IncidentRef
}

// IncidentRef names an incident in a day's tooltip.
type IncidentRef struct {
	ID     string
	Name   string
	Impact Impact
}

// Uptime is a component's availability over the window.
type Uptime struct {
	Days         []Day // oldest first
	Observed     time.Duration
	Downtime     time.Duration
	Availability float64 // 1 - Downtime/Observed; 1 when nothing was observed
}

// MeetsTarget reports whether availability is at or above target (0.9999).
func (u Uptime) MeetsTarget(target float64) bool { return u.Availability >= target }

// ComputeUptime derives the last `days` days (the current day included, up
// to now) of one component's uptime from its status history.
//
// history is the component's status changes in any order; it must include the
// last change before the window, if any, so the window's first day starts in
// the right status. Time before the first change is unknown: such days are
// grey and count neither as up nor as down. Within known time, each status
// counts with its DowntimeWeight. incidents are the incidents affecting the
// component; they are listed on the days they overlap.
func ComputeUptime(history []StatusChange, incidents []Incident, days int, now time.Time, loc *time.Location) Uptime {
	hs := make([]StatusChange, len(history))
	copy(hs, history)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].At.Before(hs[j].At) })

	local := now.In(loc)
	first := time.Date(local.Year(), local.Month(), local.Day()-(days-1), 0, 0, 0, 0, loc)
	var u Uptime
	u.Days = make([]Day, days)
	seg := 0 // index of the first change that could still cover the day
	for d := range days {
		start := time.Date(first.Year(), first.Month(), first.Day()+d, 0, 0, 0, 0, loc)
		end := time.Date(first.Year(), first.Month(), first.Day()+d+1, 0, 0, 0, 0, loc)
		if end.After(now) {
			end = now
		}
		day := Day{Date: start, Worst: Operational}
		// Skip changes whose span ends before this day starts.
		for seg+1 < len(hs) && !hs[seg+1].At.After(start) {
			seg++
		}
		var down float64
		for i := seg; i < len(hs); i++ {
			from, to := hs[i].At, end
			if i+1 < len(hs) {
				to = hs[i+1].At
			}
			if !from.Before(end) {
				break
			}
			if from.Before(start) {
				from = start
			}
			if !to.After(from) {
				continue
			}
			if to.After(end) {
				to = end
			}
			span := to.Sub(from)
			day.Known = true
			day.Observed += span
			down += float64(span) * hs[i].Status.DowntimeWeight()
			if hs[i].Status.Severity() > day.Worst.Severity() {
				day.Worst = hs[i].Status
			}
		}
		day.Downtime = time.Duration(down)
		day.Uptime = 1
		if day.Observed > 0 {
			day.Uptime = 1 - down/float64(day.Observed)
		}
		for _, in := range incidents {
			if in.Kind != KindIncident {
				continue
			}
			stop := now
			if in.ResolvedAt != nil {
				stop = *in.ResolvedAt
			}
			if in.StartedAt.Before(end) && stop.After(start) || in.StartedAt.Equal(start) {
				day.Incidents = append(day.Incidents, IncidentRef{ID: in.ID, Name: in.Name, Impact: in.Impact})
			}
		}
		u.Observed += day.Observed
		u.Downtime += day.Downtime
		u.Days[d] = day
	}
	u.Availability = 1
	if u.Observed > 0 {
		u.Availability = 1 - float64(u.Downtime)/float64(u.Observed)
	}
	return u
}
