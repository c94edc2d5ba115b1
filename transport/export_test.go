package transport

// DisablePoller makes s run without a poller, as on a system without epoll:
// every connection keeps a reader goroutine. Call it before the first
// connection.
func DisablePoller(s *Server) { s.pollOnce.Do(func() {}) }

// ClientFrame builds one masked client frame (framescan_test.go).
func ClientFrame(fin bool, opcode byte, payload []byte) []byte {
	return clientFrame(fin, opcode, payload)
}
