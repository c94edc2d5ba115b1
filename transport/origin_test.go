package transport_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"parley/client"
	"parley/transport"
)

// TestOrigin: cross-origin upgrades are refused with 403 unless allowed by
// transport.Options.AllowedOrigins; the page's own origin and clients that
// send no Origin are accepted. Each case is a real upgrade.
func TestOrigin(t *testing.T) {
	s := startServer(t, serverConfig{transport: transport.Options{
		AllowedOrigins: []string{"https://chat.parley.example", "*.trusted.example", "http://localhost:*"},
	}})
	own := "http://" + s.host()
	for _, tc := range []struct {
		name, origin string
		ok           bool
	}{
		{"no Origin", "", true},
		{"the page's own origin", own, true},
		{"the page's own origin, upper case", strings.ToUpper(own), true},
		{"allowed by an exact pattern", "https://chat.parley.example", true},
		{"allowed by a host pattern", "https://eu.trusted.example", true},
		{"allowed by a host pattern, http", "http://a.b.trusted.example", true},
		{"allowed by a port pattern", "http://localhost:5173", true},
		{"another site", "https://evil.example", false},
		{"a suffix of another site", "http://parley.example.evil.example", false},
		{"pattern host as a prefix", "https://chat.parley.example.evil.example", false},
		{"pattern with the wrong scheme", "http://chat.parley.example", false},
		{"host pattern's parent", "https://trusted.example", false},
		{"host pattern as a suffix without a dot", "https://eviltrusted.example", false},
		{"null", "null", false},
		{"scheme mismatch", "https://" + s.host(), false},
		{"own host, other port", "http://127.0.0.1:1", false},
		{"own origin with a path", own + "/x", false},
		{"own origin with user info", "http://user@" + s.host(), false},
		{"not a web scheme", "file://" + s.host(), false},
		{"garbage", "%%%", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			w, resp, err := tryDial(t, s.url+"/ws", &websocket.DialOptions{HTTPHeader: h})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Origin %q: got %v (status %v), want the upgrade accepted", tc.origin, err, statusOf(resp))
			case tc.ok:
				w.join("general") // the connection works
			case err == nil:
				t.Fatalf("Origin %q: upgrade accepted, want 403", tc.origin)
			case statusOf(resp) != http.StatusForbidden:
				t.Fatalf("Origin %q: got %v (status %v), want 403", tc.origin, err, statusOf(resp))
			}
		})
	}
}

var inlineHandlerRE = regexp.MustCompile(`\son[a-z]+\s*=`)

// importRE finds a module's static imports: import ... from './x.js' and import './x.js'.
var importRE = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'"]*?(?:from\s*)?['"](\.{1,2}/[^'"]+)['"]`)

// checkAsset fetches path and checks its status, type and the headers every
// file of the page carries; for a script, that no user text could reach an
// HTML sink. It returns the body.
func checkAsset(t *testing.T, base, path, ctype string) []byte {
	t.Helper()
	resp := httpGet(t, base+path, nil)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(b) == 0 {
		t.Errorf("GET %s: got %d %q (%d bytes), want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(b), ctype)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("GET %s: X-Content-Type-Options: got %q, want nosniff", path, got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("GET %s: X-Frame-Options: got %q, want DENY", path, got)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET %s: CSP: got %q, want the page's", path, csp)
	}
	if ctype == "text/javascript" {
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"} {
			if strings.Contains(string(b), sink) {
				t.Errorf("%s uses %s: user text must never go through HTML parsing", path, sink)
			}
		}
	}
	return b
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// TestPage: GET / serves the web client with a strict CSP, nosniff and no
// framing; the assets come with their content types; anything else is 404.
func TestPage(t *testing.T) {
	s := startServer(t, serverConfig{})
	base := s.httpURL()

	resp := httpGet(t, base+"/", nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("GET /: got %d %q (%d bytes), want 200 text/html with the page", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if !strings.Contains(string(body), "app.js") || !strings.Contains(string(body), "style.css") {
		t.Errorf("GET /: the page does not load app.js and style.css")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP: got %q, want it to contain %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP: got %q, want no %q", csp, bad)
		}
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options: got %q, want DENY", got)
	}
	// The CSP forbids inline script and style: the page must not need them.
	page := strings.ToLower(string(body))
	for _, tag := range strings.Split(page, "<script")[1:] {
		if end := strings.IndexByte(tag, '>'); end < 0 || !strings.Contains(tag[:end], "src=") {
			t.Errorf("GET /: inline <script%s, which the CSP blocks", tag[:min(len(tag), 40)])
		}
	}
	if m := inlineHandlerRE.FindString(page); m != "" {
		t.Errorf("GET /: inline event handler %q, which the CSP blocks", m)
	}
	if strings.Contains(page, "<style") || strings.Contains(page, " style=") {
		t.Errorf("GET /: inline style, which the CSP blocks")
	}

	if !strings.Contains(page, `<script type="module" src="/app.js">`) {
		t.Errorf("GET /: the page does not load app.js as a module")
	}

	// Every asset, and every module the entry imports, transitively: served
	// with its type and the page's headers, and no HTML sink in any script.
	assets := map[string]string{"/style.css": "text/css", "/chat.css": "text/css"}
	queue := []string{"/app.js"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if _, ok := assets[path]; ok {
			continue
		}
		assets[path] = "text/javascript"
		b := checkAsset(t, base, path, "text/javascript")
		for _, m := range importRE.FindAllStringSubmatch(string(b), -1) {
			ref, err := url.Parse(m[1])
			if err != nil {
				t.Fatalf("%s imports %q: %v", path, m[1], err)
			}
			queue = append(queue, (&url.URL{Path: path}).ResolveReference(ref).Path)
		}
	}
	// The service worker (the offline shell) is loaded by registration, not
	// by import: offline.js registers it. Its scope is the whole origin, so
	// it is held to the same checks.
	if b := checkAsset(t, base, "/js/offline.js", "text/javascript"); !strings.Contains(string(b), "'/sw.js'") {
		t.Errorf("offline.js does not register /sw.js")
	}
	checkAsset(t, base, "/sw.js", "text/javascript")
	assets["/sw.js"] = "text/javascript"
	for _, css := range []string{"/style.css", "/chat.css"} {
		if !strings.Contains(page, `<link rel="stylesheet" href="`+css+`">`) {
			t.Errorf("GET /: the page does not load %s", css)
		}
		checkAsset(t, base, css, "text/css")
	}
	// The embed holds exactly the page, its style and the modules it loads:
	// no module left out of the checks above, and no other file to leak.
	err = fs.WalkDir(client.Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := assets["/"+name]; !ok && name != "index.html" {
			t.Errorf("the embedded client holds %s, which the page never loads", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(assets); n < 10 {
		t.Errorf("found %d assets by following app.js's imports, want the style and every module", n)
	}

	// Nothing else, and none of the operator's endpoints (their own listener).
	for _, path := range []string{
		"/nope", "/index.html/x", "/client.go", "/../go.mod", "/metrics", "/healthz", "/debug/pprof/",
		"/js/", "/js", "/js/nope.js", "/js/client.go", "/js/../client.go", "/js/..%2fclient.go", "/js/%2e%2e%2fgo.mod",
		"/js/app.js", "/app.js/x", "/js/dom.js/x",
	} {
		if resp := httpGet(t, base+path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, resp.StatusCode)
		}
	}
	// A plain GET of /ws is not an upgrade: refused, not served the page.
	if resp := httpGet(t, base+"/ws", nil); resp.StatusCode/100 != 4 {
		t.Errorf("GET /ws without upgrade: got %d, want a 4xx", resp.StatusCode)
	}
}
