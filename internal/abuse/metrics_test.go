package abuse

import (
	"bufio"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/server"
	"parley/internal/testkit"
)

// metric is the value of the sample of s's /metrics named name (with its
// labels as written: `parley_refused_total{reason="host"}`), 0 if absent.
func metric(t *testing.T, s *server.Server, sample string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q: %v", sample, line, err)
			}
			return f
		}
	}
	return 0
}

// waitMetric waits, within WaitLimit, until the sample satisfies ok, and
// returns its value; past the limit it fails the test.
func waitMetric(t *testing.T, s *server.Server, sample string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(testkit.WaitLimit)
	for {
		v := metric(t, s, sample)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s: got %v after %v", sample, v, testkit.WaitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
