package components

import (
	"strconv"
	"time"
)

// Outage is what a page says while Herald cannot reach its database: since
// when, and how old the public page's data is.
type Outage struct {
	Since time.Time // the database stopped answering
	AsOf  time.Time // the public page's data was read from it then
	Now   time.Time // the page was rendered then: the ages are counted to it
}

// NotSavedView is the page a console form's post gets when the database
// cannot take it: the form again, as typed, to send once it is back.
type NotSavedView struct {
	Console Console
	Action  string // where the form was posted (a console path)
	Back    string // the page the form was on, when known
	Fields  []FormField
	Files   []string // names of files chosen: a file cannot be kept
}

// FormField is one field of a form posted while the database was away.
type FormField struct {
	Name, Label, Value string
	Hidden             bool // a value the form carried, not one the user typed
	Long               bool // shown as a text area
}

// clock writes t as "14:02 SAST", with the date ("1 Dec 2026, 14:02 SAST")
// when it is not the day of now.
func clock(t, now time.Time, loc *time.Location) string {
	lt, ln := t.In(loc), now.In(loc)
	if lt.YearDay() == ln.YearDay() && lt.Year() == ln.Year() {
		return lt.Format("15:04 MST")
	}
	return lt.Format("2 Jan 2006, 15:04 MST")
}

// ago writes how long before now t was, in words: "12 minutes ago".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "less than a minute ago"
	case d < time.Hour:
		return count(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return count(h, "hour") + " ago"
		}
		return count(h, "hour") + " " + count(m, "minute") + " ago"
	}
	return count(int(d/(24*time.Hour)), "day") + " ago"
}

func count(n int, unit string) string { return strconv.Itoa(n) + " " + unit + plural(n) }

// fieldID is a form field's element id on the not-saved page.
func fieldID(i int) string { return "field-" + strconv.Itoa(i) }
