package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every embedded asset has a type of its own, not the host's mime.types.
func TestAssetsContentTypes(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
	if len(a.byURL) == 0 {
		t.Fatal("no assets embedded")
	}
	for url := range a.byURL {
		ext := url[strings.LastIndex(url, "."):]
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", url, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != want[ext] {
			t.Errorf("%s: Content-Type %q, want %q", url, got, want[ext])
		}
	}
}
