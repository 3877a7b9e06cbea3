package herald

import (
	"time"
)

// Communication is what one audience was told about an incident, once.
type Communication struct {
	ID         string
	IncidentID string
	UpdateID   string
	Audience   string // Audience.Key
	Body       string
	State      string // "recorded" until the cadence engine sends it
	Author     string
	CreatedAt  time.Time
}

// Clock is one audience's line on the cadence board.
type Clock struct {
	Audience    Audience
	Applies     bool       // false: a conditional audience the incident does not need
	LastTold    *time.Time // nil: never told
	NextDue     *time.Time // nil: nothing due (real time, or a deadline already met, or closed)
	Overdue     bool
	DeadlineMet bool // a deadline audience that was told in time
}

// Board computes each audience's clock for an incident from the plan and
// what has been told so far. The cadence engine keeps these promises; the
// board shows them.
//
//   - Real time: due with every update; never overdue by the clock.
//   - Every N: due N after the last message to that audience, or N after the
//     declaration if none yet, while the incident is open.
//   - Within N (deadline): due N after the declaration until told once.
//
// Conditional audiences (regulators "if required") apply only when the
// incident says so.
func Board(plan Plan, in Incident, told []Communication, now time.Time) []Clock {
	last := map[string]time.Time{}
	for _, c := range told {
		if c.IncidentID != in.ID {
			continue
		}
		if t, ok := last[c.Audience]; !ok || c.CreatedAt.After(t) {
			last[c.Audience] = c.CreatedAt
		}
	}
	clocks := make([]Clock, 0, len(plan.Audiences))
	for _, a := range plan.Audiences {
		c := Clock{Audience: a, Applies: !a.Conditional || in.NotifyRegulators}
		if t, ok := last[a.Key]; ok {
			t := t
			c.LastTold = &t
		}
		if c.Applies && in.Open() {
			switch a.Cadence.Kind {
			case Every:
				from := in.CreatedAt
				if c.LastTold != nil {
					from = *c.LastTold
				}
				due := from.Add(a.Cadence.Interval)
				c.NextDue = &due
			case Deadline:
				due := in.CreatedAt.Add(a.Cadence.Interval)
				if c.LastTold == nil {
					c.NextDue = &due
				}
			}
		}
		if a.Cadence.Kind == Deadline && c.LastTold != nil {
			c.DeadlineMet = !c.LastTold.After(in.CreatedAt.Add(a.Cadence.Interval))
		}
		c.Overdue = c.NextDue != nil && now.After(*c.NextDue)
		clocks = append(clocks, c)
	}
	return clocks
}

// SMSSegments counts the segments an SMS body needs: GSM-7 text fits 160
// characters in one segment and 153 per segment when split; anything outside
// GSM-7 is sent as UCS-2, 70 and 67. Extension characters (€ [ ] { } etc.)
// take two GSM-7 positions.
func SMSSegments(body string) (chars, segments int, unicode bool) {
	septets := 0
	for _, r := range body {
		switch {
		case gsmBasic(r):
			septets++
		case gsmExtension(r):
			septets += 2
		default:
			unicode = true
		}
	}
	if unicode {
		units := 0
		for _, r := range body {
			units++
			if r > 0xFFFF {
				units++ // a surrogate pair
			}
		}
		switch {
		case units == 0:
			return 0, 0, true
		case units <= 70:
			return units, 1, true
		}
		return units, (units + 66) / 67, true
	}
	switch {
	case septets == 0:
		return 0, 0, false
	case septets <= 160:
		return septets, 1, false
	}
	return septets, (septets + 152) / 153, false
}

const gsmBasicChars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

func gsmBasic(r rune) bool {
	for _, c := range gsmBasicChars {
		if c == r {
			return true
		}
	}
	return false
}

func gsmExtension(r rune) bool {
	switch r {
	case '^', '{', '}', '\\', '[', '~', ']', '|', '€', '\f':
		return true
	}
	return false
}
