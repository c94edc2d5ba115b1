package transport

import (
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// rateLog logs at most one line per interval for each reason: an error that
// repeats (accept failing for want of descriptors, a flood of bad
// handshakes) is seen once a second with how many times it happened since
// the last line, instead of drowning the log or, worse, costing a write per
// occurrence while the server is already short of something. The reasons
// seen are kept (a handful: each caller's reasons are a fixed set, or, for
// net/http's, cut to a short prefix and bounded by maxReasons).
type rateLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time // time.Now; a test's clock

	mu      sync.Mutex
	reasons map[string]*reasonState
}

type reasonState struct {
	last       time.Time // when the last line was written
	suppressed int       // occurrences since, not logged
}

// maxReasons bounds the map; past it, new reasons share one entry.
const maxReasons = 64

func newRateLog(l *slog.Logger, interval time.Duration) *rateLog {
	return &rateLog{log: l, interval: interval, now: time.Now, reasons: map[string]*reasonState{}}
}

// Log logs msg at level with attrs for reason, unless a line for reason was logged
// less than interval ago: then it only counts it, and the next line says
// how many were not logged ("suppressed"). It reports whether it logged.
func (r *rateLog) Log(level slog.Level, reason, msg string, attrs ...any) bool {
	now := r.now()
	r.mu.Lock()
	st, ok := r.reasons[reason]
	if !ok {
		if len(r.reasons) >= maxReasons {
			reason = "(other)"
			st, ok = r.reasons[reason]
		}
		if !ok {
			st = &reasonState{}
			r.reasons[reason] = st
		}
	}
	if !st.last.IsZero() && now.Sub(st.last) < r.interval {
		st.suppressed++
		r.mu.Unlock()
		return false
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	r.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	r.log.Log(context.Background(), level, msg, attrs...)
	return true
}

// httpErrorLog is net/http's ErrorLog for parley's listeners: its lines
// (a handshake cut short, a panic in a handler, a bad request's write) go
// to the server's log at WARN (a panic at ERROR), at most one a second per
// kind. Accept errors
// are the listener's to log (edge.go), so net/http's own line for them,
// which would come at every retry, is dropped.
func httpErrorLog(r *rateLog) *log.Logger {
	return log.New(httpLogWriter{r}, "", 0)
}

type httpLogWriter struct{ r *rateLog }

func (w httpLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if strings.HasPrefix(line, "http: Accept error") {
		return len(p), nil
	}
	level := slog.LevelWarn
	if strings.HasPrefix(line, "http: panic") {
		level = slog.LevelError
	}
	w.r.Log(level, httpReason(line), "http server", "err", line)
	return len(p), nil
}

// httpReason is a line's kind: its text up to the first detail (a colon,
// " from ", a digit), at most 48 bytes, so that one kind is one reason
// whatever address or value it names.
func httpReason(line string) string {
	line = strings.TrimPrefix(line, "http: ")
	end := len(line)
	if i := strings.IndexAny(line, ":0123456789"); i >= 0 {
		end = i
	}
	if i := strings.Index(line, " from "); i >= 0 && i < end {
		end = i
	}
	return strings.TrimSpace(line[:min(end, 48)])
}
