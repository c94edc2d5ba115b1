package transport

// DisablePoller makes s run without a poller, as on a system without epoll:
// every connection keeps a reader goroutine. Call it before the first
// connection.
func DisablePoller(s *Server) { s.pollOnce.Do(func() {}) }
