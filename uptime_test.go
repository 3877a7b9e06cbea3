package herald

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var approx = cmpopts.EquateApprox(0, 1e-12)

func mar(day, hour, minute int) time.Time {
	return time.Date(2025, 3, day, hour, minute, 0, 0, time.UTC)
}

func change(s ComponentStatus, at time.Time) StatusChange {
	return StatusChange{ComponentID: "api", Status: s, At: at}
}

// known is a fully observed, fully operational day starting at date.
func known(date time.Time, observed time.Duration) Day {
	return Day{Date: date, Known: true, Worst: Operational, Uptime: 1, Observed: observed}
}

// down marks a day as having the given weighted downtime and worst status.
func down(d Day, worst ComponentStatus, downtime time.Duration) Day {
	d.Worst = worst
	d.Downtime = downtime
	d.Uptime = 1 - float64(downtime)/float64(d.Observed)
	return d
}

func grey(date time.Time) Day { return Day{Date: date, Worst: Operational, Uptime: 1} }

func TestComputeUptimeUTC(t *testing.T) {
	now := mar(10, 12, 0) // five days shown: 6, 7, 8, 9 and half of 10
	full := func(day int) Day { return known(mar(day, 0, 0), 24*time.Hour) }
	today := known(mar(10, 0, 0), 12*time.Hour)
	since := change(Operational, mar(1, 0, 0)) // before the window

	tests := []struct {
		name         string
		history      []StatusChange
		want         []Day
		availability float64
	}{
		{
			name:         "no history at all",
			history:      nil,
			want:         []Day{grey(mar(6, 0, 0)), grey(mar(7, 0, 0)), grey(mar(8, 0, 0)), grey(mar(9, 0, 0)), grey(mar(10, 0, 0))},
			availability: 1,
		},
		{
			name:         "grey days before the first change",
			history:      []StatusChange{change(Operational, mar(8, 0, 0))},
			want:         []Day{grey(mar(6, 0, 0)), grey(mar(7, 0, 0)), full(8), full(9), today},
			availability: 1,
		},
		{
			name:         "first change mid-day counts only the observed part",
			history:      []StatusChange{change(Operational, mar(8, 12, 0)), change(MajorOutage, mar(8, 18, 0)), change(Operational, mar(8, 19, 0))},
			want:         []Day{grey(mar(6, 0, 0)), grey(mar(7, 0, 0)), down(known(mar(8, 0, 0), 12*time.Hour), MajorOutage, time.Hour), full(9), today},
			availability: 1 - 1.0/48, // 1h down in 12h + 24h + 12h observed
		},
		{
			name:         "one hour major outage",
			history:      []StatusChange{since, change(MajorOutage, mar(8, 10, 0)), change(Operational, mar(8, 11, 0))},
			want:         []Day{full(6), full(7), down(full(8), MajorOutage, time.Hour), full(9), today},
			availability: 1 - 1.0/108,
		},
		{
			name:         "partial outage weighs 30%",
			history:      []StatusChange{since, change(PartialOutage, mar(8, 10, 0)), change(Operational, mar(8, 11, 0))},
			want:         []Day{full(6), full(7), down(full(8), PartialOutage, 18*time.Minute), full(9), today},
			availability: 1 - 0.3/108,
		},
		{
			name:         "degraded performance counts as up",
			history:      []StatusChange{since, change(DegradedPerformance, mar(8, 10, 0)), change(Operational, mar(8, 15, 0))},
			want:         []Day{full(6), full(7), down(full(8), DegradedPerformance, 0), full(9), today},
			availability: 1,
		},
		{
			name:         "maintenance counts as up",
			history:      []StatusChange{since, change(UnderMaintenance, mar(7, 2, 0)), change(Operational, mar(7, 4, 0))},
			want:         []Day{full(6), down(full(7), UnderMaintenance, 0), full(8), full(9), today},
			availability: 1,
		},
		{
			name:         "outage across midnight is split between the days",
			history:      []StatusChange{since, change(MajorOutage, mar(8, 23, 0)), change(Operational, mar(9, 2, 0))},
			want:         []Day{full(6), full(7), down(full(8), MajorOutage, time.Hour), down(full(9), MajorOutage, 2*time.Hour), today},
			availability: 1 - 3.0/108,
		},
		{
			name:         "outage covering whole days",
			history:      []StatusChange{since, change(MajorOutage, mar(7, 0, 0)), change(Operational, mar(9, 0, 0))},
			want:         []Day{full(6), down(full(7), MajorOutage, 24*time.Hour), down(full(8), MajorOutage, 24*time.Hour), full(9), today},
			availability: 1 - 48.0/108,
		},
		{
			name:         "outage still going on counts up to now",
			history:      []StatusChange{since, change(MajorOutage, mar(10, 11, 0))},
			want:         []Day{full(6), full(7), full(8), full(9), down(today, MajorOutage, time.Hour)},
			availability: 1 - 1.0/108,
		},
		{
			name: "several changes in one day, given out of order",
			history: []StatusChange{
				change(Operational, mar(8, 4, 0)),
				change(MajorOutage, mar(8, 3, 0)),
				since,
				change(PartialOutage, mar(8, 2, 0)),
				change(DegradedPerformance, mar(8, 1, 0)),
			},
			// 1h degraded (0) + 1h partial (0.3h) + 1h major (1h)
			want:         []Day{full(6), full(7), down(full(8), MajorOutage, 78*time.Minute), full(9), today},
			availability: 1 - 1.3/108,
		},
		{
			name:         "changes before the window only set the starting status",
			history:      []StatusChange{change(MajorOutage, mar(1, 0, 0)), change(PartialOutage, mar(3, 0, 0)), change(Operational, mar(6, 6, 0))},
			want:         []Day{down(full(6), PartialOutage, 108*time.Minute), full(7), full(8), full(9), today},
			availability: 1 - 1.8/108, // 6h at 30%
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ComputeUptime(tt.history, nil, 5, now, time.UTC)
			if diff := cmp.Diff(tt.want, u.Days, approx); diff != "" {
				t.Errorf("days (-want +got):\n%s", diff)
			}
			var observed, downtime time.Duration
			for _, d := range tt.want {
				observed += d.Observed
				downtime += d.Downtime
			}
			if u.Observed != observed || u.Downtime != downtime {
				t.Errorf("totals = %v observed, %v down; want %v, %v", u.Observed, u.Downtime, observed, downtime)
			}
			if !cmp.Equal(tt.availability, u.Availability, approx) {
				t.Errorf("Availability = %v; want %v", u.Availability, tt.availability)
			}
		})
	}
}

func TestComputeUptimeTimeZones(t *testing.T) {
	lagos := mustLoad(t, "Africa/Lagos")
	london := mustLoad(t, "Europe/London")
	at := func(loc *time.Location, month time.Month, day, hour, minute int) time.Time {
		return time.Date(2025, month, day, hour, minute, 0, 0, loc)
	}
	since := change(Operational, mar(1, 0, 0))

	tests := []struct {
		name    string
		loc     *time.Location
		now     time.Time
		days    int
		history []StatusChange
		want    []Day
	}{
		{
			// 23:30–00:30 UTC is 00:30–01:30 in Lagos (UTC+1): all on the 9th there.
			name:    "Africa/Lagos",
			loc:     lagos,
			now:     mar(10, 12, 0),
			days:    3,
			history: []StatusChange{since, change(MajorOutage, mar(8, 23, 30)), change(Operational, mar(9, 0, 30))},
			want: []Day{
				known(at(lagos, 3, 8, 0, 0), 24*time.Hour),
				down(known(at(lagos, 3, 9, 0, 0), 24*time.Hour), MajorOutage, time.Hour),
				known(at(lagos, 3, 10, 0, 0), 13*time.Hour), // 00:00 to 13:00 local
			},
		},
		{
			// Clocks go forward at 01:00 UTC on 30 March: that day has 23 hours.
			name: "Europe/London spring forward",
			loc:  london,
			now:  at(time.UTC, 3, 31, 12, 0),
			days: 3,
			history: []StatusChange{since,
				change(MajorOutage, mar(30, 0, 30)), change(Operational, mar(30, 1, 30)), // 00:30 GMT – 02:30 BST
				change(PartialOutage, mar(30, 23, 30)), change(Operational, mar(31, 0, 30)), // 00:30 – 01:30 BST on the 31st
			},
			want: []Day{
				known(at(london, 3, 29, 0, 0), 24*time.Hour),
				down(known(at(london, 3, 30, 0, 0), 23*time.Hour), MajorOutage, time.Hour),
				down(known(at(london, 3, 31, 0, 0), 13*time.Hour), PartialOutage, 18*time.Minute),
			},
		},
		{
			// Clocks go back at 01:00 UTC on 26 October: that day has 25 hours.
			name: "Europe/London fall back",
			loc:  london,
			now:  at(time.UTC, 10, 27, 12, 0),
			days: 3,
			history: []StatusChange{since,
				change(MajorOutage, at(time.UTC, 10, 25, 23, 0)), change(Operational, at(time.UTC, 10, 26, 1, 0)), // 00:00–01:00 BST, then 01:00 GMT
			},
			want: []Day{
				known(at(london, 10, 25, 0, 0), 24*time.Hour),
				down(known(at(london, 10, 26, 0, 0), 25*time.Hour), MajorOutage, 2*time.Hour),
				known(at(london, 10, 27, 0, 0), 12*time.Hour),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ComputeUptime(tt.history, nil, tt.days, tt.now, tt.loc)
			if diff := cmp.Diff(tt.want, u.Days, approx); diff != "" {
				t.Errorf("days (-want +got):\n%s", diff)
			}
			for _, d := range u.Days {
				if d.Date.Location() != tt.loc {
					t.Errorf("day %v is in %v; want %v", d.Date, d.Date.Location(), tt.loc)
				}
				if h, m, s := d.Date.Clock(); h != 0 || m != 0 || s != 0 {
					t.Errorf("day %v does not start at local midnight", d.Date)
				}
			}
		})
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestComputeUptimeIncidents(t *testing.T) {
	now := mar(10, 12, 0)
	history := []StatusChange{change(Operational, mar(1, 0, 0))}
	resolvedAt := func(t time.Time) *time.Time { return &t }
	incidents := []Incident{
		{ID: "a", Kind: KindIncident, Name: "Across days", Impact: ImpactMajor, StartedAt: mar(7, 22, 0), ResolvedAt: resolvedAt(mar(9, 1, 0))},
		{ID: "b", Kind: KindIncident, Name: "Still open", Impact: ImpactMinor, StartedAt: mar(9, 10, 0)},
		{ID: "c", Kind: KindIncident, Name: "Ends at midnight", Impact: ImpactCritical, StartedAt: mar(9, 23, 0), ResolvedAt: resolvedAt(mar(10, 0, 0))},
		{ID: "d", Kind: KindMaintenance, Name: "Maintenance", Impact: ImpactNone, StartedAt: mar(6, 1, 0), ResolvedAt: resolvedAt(mar(6, 2, 0))},
		{ID: "e", Kind: KindIncident, Name: "From before the window", Impact: ImpactMinor, StartedAt: mar(1, 0, 0), ResolvedAt: resolvedAt(mar(6, 0, 30))},
		{ID: "f", Kind: KindIncident, Name: "Before the window", Impact: ImpactMinor, StartedAt: mar(4, 0, 0), ResolvedAt: resolvedAt(mar(5, 0, 0))},
	}
	ref := func(id string) IncidentRef {
		for _, in := range incidents {
			if in.ID == id {
				return IncidentRef{ID: in.ID, Name: in.Name, Impact: in.Impact}
			}
		}
		t.Fatalf("no incident %s", id)
		return IncidentRef{}
	}
	want := [][]IncidentRef{
		{ref("e")},                     // 6 March
		{ref("a")},                     // 7
		{ref("a")},                     // 8
		{ref("a"), ref("b"), ref("c")}, // 9
		{ref("b")},                     // 10
	}
	u := ComputeUptime(history, incidents, 5, now, time.UTC)
	var got [][]IncidentRef
	for _, d := range u.Days {
		got = append(got, d.Incidents)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("incidents per day (-want +got):\n%s", diff)
	}

	t.Run("in the page's time zone", func(t *testing.T) {
		lagos := mustLoad(t, "Africa/Lagos")
		late := []Incident{{ID: "l", Kind: KindIncident, Name: "Late", Impact: ImpactMinor,
			StartedAt: mar(8, 23, 15), ResolvedAt: resolvedAt(mar(8, 23, 45))}} // 00:15–00:45 on the 9th in Lagos
		u := ComputeUptime(history, late, 3, now, lagos)
		got := [][]IncidentRef{u.Days[0].Incidents, u.Days[1].Incidents, u.Days[2].Incidents}
		want := [][]IncidentRef{nil, {{ID: "l", Name: "Late", Impact: ImpactMinor}}, nil}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("incidents per Lagos day (-want +got):\n%s", diff)
		}
	})
}

func TestComputeUptimeWindow(t *testing.T) {
	now := mar(10, 12, 0)
	u := ComputeUptime([]StatusChange{change(Operational, mar(1, 0, 0))}, nil, UptimeDays, now, time.UTC)
	if len(u.Days) != UptimeDays {
		t.Fatalf("%d days; want %d", len(u.Days), UptimeDays)
	}
	first, last := u.Days[0].Date, u.Days[len(u.Days)-1].Date
	if want := time.Date(2024, 12, 11, 0, 0, 0, 0, time.UTC); !first.Equal(want) {
		t.Errorf("first day %v; want %v", first, want)
	}
	if want := mar(10, 0, 0); !last.Equal(want) {
		t.Errorf("last day %v; want %v (today)", last, want)
	}
	for i := 1; i < len(u.Days); i++ {
		if !u.Days[i].Date.After(u.Days[i-1].Date) {
			t.Fatalf("days not oldest first at %d", i)
		}
	}
}

func TestMeetsTarget(t *testing.T) {
	tests := []struct {
		availability float64
		want         bool
	}{
		{1, true},
		{0.9999, true},
		{0.99989, false},
		{0.5, false},
	}
	for _, tt := range tests {
		if got := (Uptime{Availability: tt.availability}).MeetsTarget(0.9999); got != tt.want {
			t.Errorf("MeetsTarget(%v) = %v; want %v", tt.availability, got, tt.want)
		}
	}
}

func TestDowntimeWeight(t *testing.T) {
	want := map[ComponentStatus]float64{Operational: 0, DegradedPerformance: 0, UnderMaintenance: 0, PartialOutage: 0.3, MajorOutage: 1}
	for _, s := range ComponentStatuses {
		if got := s.DowntimeWeight(); got != want[s] {
			t.Errorf("%s.DowntimeWeight() = %v; want %v", s, got, want[s])
		}
	}
}
