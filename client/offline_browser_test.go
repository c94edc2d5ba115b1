package client_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// The server serves its service worker from the root (its scope is the
// whole page), as JavaScript, never cached without asking.
func TestServiceWorkerServed(t *testing.T) {
	s := startServer(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"sw.js", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /sw.js: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, h := range []struct{ name, want string }{
		{"Content-Type", "text/javascript; charset=utf-8"},
		{"Cache-Control", "no-cache"},
		{"X-Content-Type-Options", "nosniff"},
	} {
		if got := res.Header.Get(h.name); got != h.want {
			t.Errorf("GET /sw.js: got %s %q, want %q", h.name, got, h.want)
		}
	}
	if res.StatusCode != http.StatusOK || len(body) == 0 {
		t.Errorf("GET /sw.js: got %d with %d bytes, want 200 with the worker", res.StatusCode, len(body))
	}
}

// Reloading while the server is down shows parley's own page, saying it
// cannot reach the server and is retrying (the service worker's copy),
// not the browser's error page; a server on the same port brings it back:
// a guest's chat, and an account's.
func TestBrowserOfflineShell(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	addr, db := s.addr, s.dbPath
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", "correct horse battery")
	ann.wait(accountChat("Ann"))
	alice.sendOK("before going offline")
	for _, p := range []*page{alice, ann} {
		p.wait(shows("before going offline"))
		p.waitShell()
	}

	for _, p := range []*page{alice, ann} {
		p.setServerDown(true)
	}
	s.stop()
	for _, p := range []*page{alice, ann} {
		p.do(chromedp.Reload())
		p.wait(`location.protocol === 'http:' && document.title === 'parley' && !document.querySelector('#conn-banner').hidden &&
			document.querySelector('#conn-banner-text').textContent === 'Can’t reach the server. Retrying' && !parley.state().socketOpen &&
			!document.querySelector('#offline-screen').hidden && document.querySelector('#offline-title').checkVisibility()`)
	}
	alice.axe("offline shell")
	alice.screenshot("offline-shell.png")

	startServer(t, addr, db)
	for _, p := range []*page{alice, ann} {
		// Retry now, unless the page's own retry got there first (then the
		// button is hidden, and a click would wait for it in vain).
		p.wait(`(() => { const b = document.querySelector('#conn-retry'); if (b && b.checkVisibility()) b.click(); return true; })()`)
		p.wait(`parley.state().connected && parley.state().screen === 'chat' && document.querySelector('#conn-banner').hidden &&
			document.querySelector('#offline-screen').hidden && ` + shows("before going offline"))
		p.setServerDown(false)
	}
	ann.wait(accountChat("Ann"))
}

// waitShell waits until the service worker controls the page and holds the
// shell: the page and every script and style sheet it loaded.
func (p *page) waitShell() {
	p.t.Helper()
	p.wait(`!!navigator.serviceWorker.controller`)
	missing := evalAsync[string](p, `(async () => {
		const want = ['/', ...performance.getEntriesByType('resource').map((e) => new URL(e.name))
			.filter((u) => u.origin === location.origin && /\.(js|css)$/.test(u.pathname) && u.pathname !== '/sw.js').map((u) => u.pathname)];
		for (let i = 0; i < 200; i++) {
			const missing = [];
			for (const p of want) if (!(await caches.match(p))) missing.push(p);
			if (!missing.length) return '';
			if (i === 199) return missing.join(' ');
			await new Promise((r) => setTimeout(r, 25));
		}
	})()`)
	if missing != "" {
		p.fail("the offline shell lacks %s", missing)
	}
}
