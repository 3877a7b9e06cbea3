package benchkit

import (
	"os"
	"path/filepath"
	"testing"
)

// The outputs in testdata are wrk 4.1.0's own (Debian's package), from
// runs against a local server: one clean, one whose every answer was a
// 404, one whose every request outlived --timeout 1s.
func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file   string
		want   Wrk
		errors int
	}{
		{"wrk-ok.txt", Wrk{RPS: 15032.91, P50: 0.16, P75: 0.313, P90: 2.56, P99: 11.62, MaxMS: 21.96, Requests: 15093}, 0},
		{"wrk-non2xx.txt", Wrk{RPS: 17004.84, P50: 0.29, P75: 0.438, P90: 2.55, P99: 16.42, MaxMS: 26.9, Requests: 18704, Non2xx: 18704}, 18704},
		{"wrk-timeout.txt", Wrk{RPS: 13.2, Requests: 40, Timeout: 40}, 40},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseWrk(string(b))
			if err != nil {
				t.Fatal(err)
			}
			got.BytesPerReq = 0 // checked below
			if got != tc.want {
				t.Errorf("ParseWrk:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Errors() != tc.errors {
				t.Errorf("Errors() = %d, want %d", got.Errors(), tc.errors)
			}
		})
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "wrk-ok.txt"))
	w, _ := ParseWrk(string(b))
	if want := 1.76 * (1 << 20) / 15093; w.BytesPerReq < want*0.999 || w.BytesPerReq > want*1.001 {
		t.Errorf("BytesPerReq = %.1f, want %.1f", w.BytesPerReq, want)
	}
}

func TestParseWrkRefusesWhatItCannotRead(t *testing.T) {
	for name, out := range map[string]string{
		"wrk could not connect": "unable to connect to 127.0.0.1:1 Connection refused\n",
		"no request completed":  "  0 requests in 1.00s, 0.00B read\n  Socket errors: connect 4, read 0, write 0, timeout 0\nRequests/sec:      0.00\n",
		"socket errors garbled": "  10 requests in 1.00s, 1.00KB read\n  Socket errors: many\nRequests/sec:     10.00\n",
	} {
		if w, err := ParseWrk(out); err == nil {
			t.Errorf("%s: ParseWrk accepted it: %+v", name, w)
		}
	}
}
