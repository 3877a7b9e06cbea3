// Package metricstest reads a /metrics answer for tests: it parses
// Prometheus' text format and looks series up by name and labels.
package metricstest

import (
	"io"
	"maps"
	"net/http"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed /metrics answer.
type Scrape map[string]*dto.MetricFamily

// Parse reads an answer in the text format, failing the test when it is
// not one.
func Parse(t testing.TB, r io.Reader) Scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("metricstest: not Prometheus' text format: %v", err)
	}
	return fams
}

// Get scrapes url with an optional bearer token and parses the answer,
// failing the test unless it is 200.
func Get(t testing.TB, c *http.Client, url, token string) Scrape {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("metricstest: scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("metricstest: scrape %s: %d %s", url, resp.StatusCode, b)
	}
	return Parse(t, resp.Body)
}

// Has reports whether the family name is in the scrape with any series.
func (s Scrape) Has(name string) bool {
	f, ok := s[name]
	return ok && len(f.GetMetric()) > 0
}

// Value is the series' value with exactly these labels (name, value
// pairs): a counter's or a gauge's value, a histogram's count of
// observations. ok is false when there is no such series.
func (s Scrape) Value(name string, labels ...string) (v float64, ok bool) {
	m := s.series(name, labels)
	if m == nil {
		return 0, false
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// Sum is a histogram series' sum of observations.
func (s Scrape) Sum(name string, labels ...string) (float64, bool) {
	m := s.series(name, labels)
	if m == nil || m.Histogram == nil {
		return 0, false
	}
	return m.Histogram.GetSampleSum(), true
}

// Values maps each series of a family to its value (as Value reads it),
// keyed by the values of the labels named, joined with "/": Values(name,
// "channel", "result") gives {"slack/sent": 2, ...}.
func (s Scrape) Values(name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range s[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		key := make([]string, len(labels))
		for i, l := range labels {
			key[i] = got[l]
		}
		var pairs []string
		for _, l := range m.GetLabel() {
			pairs = append(pairs, l.GetName(), l.GetValue())
		}
		out[strings.Join(key, "/")], _ = s.Value(name, pairs...)
	}
	return out
}

// Labels lists, sorted, the label sets ("k=v,k=v") of a family's series,
// for messages when a lookup fails.
func (s Scrape) Labels(name string) []string {
	var out []string
	for _, m := range s[name].GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}

func (s Scrape) series(name string, labels []string) *dto.Metric {
	if len(labels)%2 != 0 {
		panic("metricstest: labels come in name, value pairs")
	}
	want := map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range s[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, want) {
			return m
		}
	}
	return nil
}
