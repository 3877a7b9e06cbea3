package benchkit

import "testing"

func TestPercentile(t *testing.T) {
	v := []float64{9, 1, 8, 2, 7, 3, 6, 4, 5, 10} // 1..10, unsorted
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}, {10, 1}, {11, 1}, {15, 2}} {
		if got := Percentile(v, tc.p); got != tc.want {
			t.Errorf("Percentile(1..10, %g) = %g, want %g", tc.p, got, tc.want)
		}
	}
	if v[0] != 9 {
		t.Error("Percentile sorted its argument in place")
	}
	if got := Percentile(nil, 99); got != 0 {
		t.Errorf("Percentile(none) = %g, want 0", got)
	}
}
