package transport

import (
	"errors"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"parley/internal/protocol"
)

// refusal is a reason the edge turns a client away before it is a
// WebSocket connection. Each has a counter in /metrics
// (parley_refused_total{reason}); the caps' own refusals are also in
// parley_connections_refused_total, as before.
type refusal int

const (
	refusedConnCap        refusal = iota // the upgrade: -max-conns or -max-conns-per-ip (503)
	refusedShutdown                      // the upgrade: shutting down (503)
	refusedOrigin                        // the upgrade or an API POST: a foreign Origin (403)
	refusedUnauthorized                  // the upgrade: an ended session, or none without guests (401)
	refusedHost                          // the web listener: a Host it does not answer (421)
	refusedAdminHost                     // the admin listener: a Host it does not answer (421)
	refusedPendingPerIP                  // closed at accept: -max-pending-per-ip connections not yet upgraded from its address
	refusedDescriptors                   // closed at accept: the descriptors kept for connections are all in use
	refusedAPIRateLimited                // the accounts API: 429 (failed logins, registrations, the hash queue)
	refusedUploadQuota                   // an upload: over its account's or address's quota (429)
	numRefusals
)

var refusalNames = [numRefusals]string{
	refusedConnCap:        "conn_cap",
	refusedShutdown:       "shutting_down",
	refusedOrigin:         "origin",
	refusedUnauthorized:   "unauthorized",
	refusedHost:           "host",
	refusedAdminHost:      "admin_host",
	refusedPendingPerIP:   "pending_per_ip",
	refusedDescriptors:    "descriptors",
	refusedAPIRateLimited: "api_rate_limited",
	refusedUploadQuota:    "upload_quota",
}

type refusals [numRefusals]atomic.Int64

func (r *refusals) add(why refusal) { r[why].Add(1) }

// acceptErrorKinds are the accept errors counted apart; any other is
// "other". The first two are the ones the reserve of descriptors is for.
var acceptErrorKinds = [...]struct {
	errno syscall.Errno
	name  string
}{
	{syscall.EMFILE, "emfile"},
	{syscall.ENFILE, "enfile"},
	{syscall.ENOBUFS, "enobufs"},
	{syscall.ENOMEM, "enomem"},
	{syscall.ECONNABORTED, "econnaborted"},
}

func acceptErrorKind(err error) int {
	for i, k := range acceptErrorKinds {
		if errors.Is(err, k.errno) {
			return i
		}
	}
	return len(acceptErrorKinds)
}

func acceptErrorName(i int) string {
	if i < len(acceptErrorKinds) {
		return acceptErrorKinds[i].name
	}
	return "other"
}

// closeCodes are the codes the server closes connections with that are
// counted by code (parley_connections_closed_total{code}); others count as
// "other".
var closeCodes = [...]protocol.CloseCode{
	protocol.CloseNormal, protocol.CloseGoingAway, 1002 /* protocol error */, protocol.CloseUnsupported,
	protocol.CloseInvalidData, protocol.ClosePolicy, protocol.CloseTooBig,
	protocol.CloseInternalError, protocol.CloseTryAgainLater,
}

// closedWith counts a connection the server closed with code (sink.go).
func (s *Server) closedWith(code protocol.CloseCode) {
	for i, c := range closeCodes {
		if c == code {
			s.closes[i].Add(1)
			return
		}
	}
	s.closes[len(closeCodes)].Add(1)
}

// edgeCollector reports the edge's counters and gauges at scrape time.
type edgeCollector struct {
	s                           *Server
	refused, acceptErrs, closed *prometheus.Desc
	open, pending, openLimit    *prometheus.Desc
}

func newEdgeCollector(s *Server) *edgeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("parley_"+name, help, labels, nil)
	}
	return &edgeCollector{
		s:          s,
		refused:    d("refused_total", "Clients turned away before they were a WebSocket connection, by reason.", "reason"),
		acceptErrs: d("accept_errors_total", "Errors accepting a connection (emfile: out of descriptors), by kind.", "kind"),
		closed:     d("connections_closed_total", "WebSocket connections the server closed, by close code (protocol errors: 1002, 1003, 1007, 1009; abuse and slow consumers: 1008).", "code"),
		open:       d("tcp_connections", "TCP connections the web listeners hold: not yet upgraded, and WebSocket."),
		pending:    d("tcp_connections_pending", "TCP connections the web listeners hold that are not (yet) WebSocket connections."),
		openLimit:  d("tcp_connections_limit", "TCP connections the web listeners hold at most: the descriptor limit less the reserve."),
	}
}

func (c *edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.refused, c.acceptErrs, c.closed, c.open, c.pending, c.openLimit} {
		ch <- d
	}
}

func (c *edgeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	for i := range s.refusals {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.refusals[i].Load()), refusalNames[i])
	}
	for i := range s.acceptErrs {
		ch <- prometheus.MustNewConstMetric(c.acceptErrs, prometheus.CounterValue, float64(s.acceptErrs[i].Load()), acceptErrorName(i))
	}
	for i := range s.closes {
		code := "other"
		if i < len(closeCodes) {
			code = strconv.Itoa(int(closeCodes[i]))
		}
		ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(s.closes[i].Load()), code)
	}
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.edge.open.Load()))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.edge.pendingTotal.Load()))
	ch <- prometheus.MustNewConstMetric(c.openLimit, prometheus.GaugeValue, float64(s.edge.maxOpen))
}
