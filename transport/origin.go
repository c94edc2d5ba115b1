package transport

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed decides whether a WebSocket upgrade may proceed. A request
// without Origin is not from a browser (the bench, command-line clients) and
// is allowed: browsers always send Origin on WebSocket upgrades, so pages on
// other sites cannot use a missing one. A browser's upgrade is allowed from
// the page's own origin (same scheme and host) or from an origin matching one
// of the patterns: "host[:port]" or "scheme://host[:port]", with path.Match
// wildcards ("*.example.com").
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false // "null", opaque or malformed origins
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme == scheme && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host := strings.ToLower(u.Host)
	full := strings.ToLower(u.Scheme) + "://" + host
	for _, p := range patterns {
		p = strings.ToLower(p)
		target := host
		if strings.Contains(p, "://") {
			target = full
		}
		if ok, err := path.Match(p, target); err == nil && ok {
			return true
		}
	}
	return false
}
