package components

import (
	"testing"
	"time"
)

func TestOutageTimes(t *testing.T) {
	sast, err := time.LoadLocation("Africa/Johannesburg")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 14, 30, 0, time.UTC) // 14:14 SAST
	for _, tc := range []struct {
		at         time.Time
		clock, ago string
	}{
		{now.Add(-20 * time.Second), "14:14 SAST", "less than a minute ago"},
		{now.Add(-12*time.Minute - 10*time.Second), "14:02 SAST", "12 minutes ago"},
		{now.Add(-61 * time.Second), "14:13 SAST", "1 minute ago"},
		{now.Add(-2 * time.Hour), "12:14 SAST", "2 hours ago"},
		{now.Add(-time.Hour - 5*time.Minute), "13:09 SAST", "1 hour 5 minutes ago"},
		{now.Add(-15 * time.Hour), "1 Dec 2026, 23:14 SAST", "15 hours ago"},
		{now.Add(-72 * time.Hour), "29 Nov 2026, 14:14 SAST", "3 days ago"},
	} {
		if got := clock(tc.at, now, sast); got != tc.clock {
			t.Errorf("clock(%s) = %q, want %q", tc.at, got, tc.clock)
		}
		if got := ago(tc.at, now); got != tc.ago {
			t.Errorf("ago(%s) = %q, want %q", tc.at, got, tc.ago)
		}
	}
}
