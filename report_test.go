package herald

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReportLapses: the report names each update given late, oldest first
// across audiences, to the second in the page's zone, with what Herald did
// about it; the Markdown lists them under the compliance table, escaped.
func TestReportLapses(t *testing.T) {
	m := time.Minute
	jhb, err := time.LoadLocation("Africa/Johannesburg")
	if err != nil {
		t.Fatal(err)
	}
	public := Audience{Key: "public", Name: "Partners | clients"}
	execs := Audience{Key: "executives", Name: "Executive Team"}
	r := Report{Location: jhb, GeneratedAt: obAt(5 * time.Hour), Incident: obIncident(),
		Compliance: []ComplianceRow{
			{Audience: public, Step: StepUpdate, Verdict: VerdictEscalated, Lapses: []Lapse{
				{Due: obAt(67*m + 30*time.Second), Told: obPtr(obAt(75 * m)), Late: 7*m + 30*time.Second, Reminders: 3, Escalated: true}}},
			{Audience: execs, Step: StepUpdate, Verdict: VerdictMissed, Lapses: []Lapse{
				{Due: obAt(30 * m), Told: obPtr(obAt(31 * m)), Late: m, Reminders: 1},
				{Due: obAt(100 * m), Late: 40 * m}}},
		}}
	want := []string{
		"Executive Team: the update due 14 Mar 11:30:00 SAST came 1 min late, at 11:31:00 SAST; 1 reminder.",
		"Partners | clients: the update due 14 Mar 12:07:30 SAST came 7 min late, at 12:15:00 SAST; 3 reminders, escalated.",
		"Executive Team: the update due 14 Mar 12:40:00 SAST had not come 40 min later, at 13:20:00 SAST; nobody was reminded.",
	}
	if diff := cmp.Diff(want, r.Lapses()); diff != "" {
		t.Errorf("lapses (-want +got):\n%s", diff)
	}
	md := r.Markdown()
	if !strings.Contains(md, "Updates not given on time:\n\n- Executive Team: the update due 14 Mar 11:30:00 SAST") ||
		!strings.Contains(md, "- Partners \\| clients: the update due 14 Mar 12:07:30 SAST") {
		t.Errorf("the Markdown does not list the lapses:\n%s", md)
	}
	r.Compliance = []ComplianceRow{{Audience: execs, Step: StepUpdate, Verdict: VerdictMet}}
	if md := r.Markdown(); strings.Contains(md, "not given on time") {
		t.Errorf("the Markdown lists lapses when every update was on time:\n%s", md)
	}
}
