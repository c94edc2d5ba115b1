package transport

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves the operator's endpoints: Prometheus /metrics,
// /healthz, /debug/pprof, and DELETE /rooms/{name} (adminrooms.go). Mount it on a listener of its own (main's
// -admin-addr, loopback by default): it is not for the public. extra adds
// collectors of other packages (the store's).
func (s *Server) AdminHandler(extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(s.collectors()...)
	reg.MustRegister(s.uploadCollectors()...)
	reg.MustRegister(extra...)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.closing.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("DELETE /rooms/{name}", s.deleteRoom)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// collectors read the hub's and the transport's counters at scrape time:
// nothing is added to the message path for metrics.
func (s *Server) collectors() []prometheus.Collector {
	m := s.hub.Metrics
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Name: name, Help: help}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "parley", Name: name, Help: help}, f)
	}
	return []prometheus.Collector{
		gauge("connections", "Open WebSocket connections.", func() float64 { return float64(s.total.Load()) }),
		gauge("connection_readers", "Connections with a reader goroutine (the others are parked in the poller).", func() float64 { return float64(s.readers.Load()) }),
		counter("connections_refused_total", "Upgrades refused by the connection caps.", func() float64 { return float64(s.refused.Load()) }),
		gauge("sessions", "Registered sessions.", func() float64 { return float64(m().Sessions) }),
		gauge("rooms_running", "Room actors running.", func() float64 { return float64(m().Rooms) }),
		gauge("budgets", "Budgets kept for clients and accounts (connected, or not yet refilled).", func() float64 { return float64(m().Budgets) }),
		counter("messages_in_total", "Room messages accepted.", func() float64 { return float64(m().MessagesIn) }),
		counter("private_messages_in_total", "Private messages accepted.", func() float64 { return float64(m().PrivateIn) }),
		counter("deliveries_total", "Frames fanned out to room members.", func() float64 { return float64(m().Deliveries) }),
		counter("server_busy_total", "Sends refused with server_busy.", func() float64 { return float64(m().Busy) }),
		counter("slow_consumer_disconnects_total", "Sessions cut off with 1008 because their queue was full.", func() float64 { return float64(m().Slow) }),
		counter("streams_refused_total", "Connections closed for a frame the scanner refused: not masked, a bad length (1002), over the read limit (1009), a close reason not UTF-8 (1007), a message not completed in time or too many control frames and fragments (1008).", func() float64 { return float64(s.streamRefused.Load()) }),
		counter("rate_limited_total", "Requests refused with rate_limited.", func() float64 { return float64(m().RateLimited) }),
		counter("rooms_refused_total", "New rooms refused: a creation budget spent, or the cap of running rooms.", func() float64 { return float64(m().RoomsRefused) }),
		counter("typing_dropped_total", "Typing notices dropped: over a connection's rate, a room's inbox half full, or a recipient's queue half full.", func() float64 { return float64(m().TypingDropped) }),
		newQueueCollector(s),
		newEdgeCollector(s), // refusals.go
	}
}

// queueCollector reports the queue depths, walking the hub's maps once per
// scrape for all three.
type queueCollector struct {
	s                              *Server
	outFrames, outBytes, roomInbox *prometheus.Desc
}

func newQueueCollector(s *Server) *queueCollector {
	return &queueCollector{
		s:         s,
		outFrames: prometheus.NewDesc("parley_outbox_frames", "Frames waiting in all connections' outboxes.", nil, nil),
		outBytes:  prometheus.NewDesc("parley_outbox_bytes", "Bytes waiting in all connections' outboxes.", nil, nil),
		roomInbox: prometheus.NewDesc("parley_room_inbox_messages", "Messages waiting in all room inboxes.", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.outFrames
	ch <- c.outBytes
	ch <- c.roomInbox
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	f, b := c.s.queueDepths()
	r := c.s.hub.RoomInboxDepth()
	ch <- prometheus.MustNewConstMetric(c.outFrames, prometheus.GaugeValue, float64(f))
	ch <- prometheus.MustNewConstMetric(c.outBytes, prometheus.GaugeValue, float64(b))
	ch <- prometheus.MustNewConstMetric(c.roomInbox, prometheus.GaugeValue, float64(r))
}

// queueDepths sums what waits in every connection's outbound queue. It
// walks the connections, so call it per metrics scrape, not per message.
func (s *Server) queueDepths() (frames, bytes int) {
	s.conns.Range(func(_ uint64, c *conn) bool {
		f, b := c.out.Len()
		frames += f
		bytes += b
		return true
	})
	return frames, bytes
}
