package client_test

// The harness of the browser tests: a headless Chromium (one process for the
// package, one browser context per simulated person, so each has its own
// localStorage), a real parley server on 127.0.0.1 with a real SQLite file,
// and a plain WebSocket client for the people who are not in a browser.
//
// Every wait has a deadline. Console errors, uncaught exceptions and CSP
// violations in any page fail the test that opened it.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	_ "github.com/mattn/go-sqlite3"

	parley "parley/internal/server"
	"parley/internal/testkit"
)

const (
	// waitLimit bounds every wait for a DOM condition or a server reply:
	// a browser is slower to render than a server to reply.
	waitLimit = 2 * testkit.WaitLimit
	// actionLimit bounds one browser action (click, type, evaluate).
	actionLimit = 10 * time.Second
	pollEvery   = 40 * time.Millisecond

	requiredEnv   = "PARLEY_BROWSER_TESTS"
	screenshotEnv = "PARLEY_SCREENSHOTS"

	skipMessage = "BROWSER TESTS SKIPPED: no chromium found; install it (apt-get install -y chromium) " +
		"or set " + requiredEnv + "=1 to make them required"
)

// ---------------------------------------------------------------- the browser

var chrome struct {
	once   sync.Once
	path   string
	ctx    context.Context // the browser; pages are new browser contexts under it
	cancel func()
	err    error
}

func TestMain(m *testing.M) {
	if findChromium() == "" && os.Getenv(requiredEnv) != "1" {
		// In package list mode (go test ./...) go test shows nothing of a
		// passing package but its "ok" line, so a skip would go unseen: say
		// it on the terminal as well, when there is one.
		banner := fmt.Sprintf("\n*** %s ***\n\n", skipMessage)
		fmt.Fprint(os.Stderr, banner)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			fmt.Fprint(tty, banner)
			tty.Close()
		}
	}
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	os.Exit(code)
}

func findChromium() string {
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// needBrowser returns the shared browser, skipping the test loudly when there
// is none, or failing it when PARLEY_BROWSER_TESTS=1 says the tests are required.
func needBrowser(t *testing.T) context.Context {
	t.Helper()
	chrome.once.Do(startBrowser)
	if chrome.path == "" {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("%s=1 but no chromium found (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome)", requiredEnv)
		}
		t.Skip(skipMessage)
	}
	if chrome.err != nil {
		t.Fatalf("start %s: %v", chrome.path, chrome.err)
	}
	return chrome.ctx
}

func startBrowser() {
	chrome.path = findChromium()
	if chrome.path == "" {
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome.path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 800),
		// No user-data-dir: chromedp makes a fresh temporary one and removes it.
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	chrome.cancel = func() { bcancel(); acancel() }
	// The first run binds the browser's life to its context, so it gets no
	// timeout of its own; a timer cancels it if the start hangs.
	timer := time.AfterFunc(60*time.Second, chrome.cancel)
	defer timer.Stop()
	if err := chromedp.Do(bctx); err != nil {
		chrome.err = err
		return
	}
	chrome.ctx = bctx
}

// ---------------------------------------------------------------- a page

// page is one person's tab, in a browser context of its own.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu          sync.Mutex
	problems    []string // console errors, exceptions, CSP violations
	logs        []string // everything the page logged, for failure reports
	allowOffWS  bool     // the server is down on purpose: failed WebSocket connects are expected
	expectedCSP int      // CSP violations the test caused on purpose and has not collected yet
}

// newPage opens url in a new browser context at desktop size.
func newPage(t *testing.T, url, name string) *page {
	t.Helper()
	return openPage(t, needBrowser(t), url, name, chromedp.WithNewBrowserContext())
}

// secondTab opens url in a new tab of p's browser context: the same person,
// sharing p's cookies and localStorage.
func (p *page) secondTab(url, name string) *page {
	p.t.Helper()
	return openPage(p.t, p.ctx, url, name)
}

func openPage(t *testing.T, parent context.Context, url, name string, opts ...chromedp.ContextOption) *page {
	t.Helper()
	p := &page{t: t, name: name}
	ctx, cancel := chromedp.NewContext(parent, append(opts, chromedp.WithListener(p.onEvent))...)
	p.ctx = ctx
	t.Cleanup(func() {
		p.checkClean()
		cancel()
	})
	// The first run creates the tab and binds it to ctx: no timeout context
	// here, a timer instead.
	timer := time.AfterFunc(waitLimit, cancel)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			// Injected by the DevTools protocol, so exempt from the page's CSP.
			Source: `document.addEventListener('securitypolicyviolation', (e) =>
				console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)')));`,
		})
		return err
	}))
	timer.Stop()
	if err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	p.viewport(1280, 800, false)
	p.do(chromedp.Navigate(url))
	return p
}

func (p *page) onEvent(ev any) {
	// Runs in the tab's event loop: record and return.
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			var s string
			if len(a.Value) > 0 && json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		line := fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " "))
		p.logs = append(p.logs, line)
		switch e.Type {
		case "error", "assert":
			if strings.HasPrefix(line, "console.error: CSP violation") && p.expectedCSP > 0 {
				p.expectedCSP--
				return
			}
			p.problems = append(p.problems, line)
		case "warning":
			if !p.allowOffWS {
				p.problems = append(p.problems, line)
			}
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		line := "uncaught: " + d.Text
		if d.Exception != nil {
			line += " " + d.Exception.Description
		}
		p.logs = append(p.logs, line)
		p.problems = append(p.problems, line)
	case *cdplog.EventEntryAdded:
		en := e.Entry
		line := fmt.Sprintf("log %s/%s: %s %s", en.Source, en.Level, en.Text, en.URL)
		p.logs = append(p.logs, line)
		switch {
		case en.Source == "security" || strings.Contains(en.Text, "Content Security Policy"):
			if p.expectedCSP > 0 {
				return // the same violation also reaches the console listener above
			}
			p.problems = append(p.problems, line)
		case en.Level == "error":
			// The server is down on purpose: the WebSocket's connects fail, and
			// so does an account's page asking the API whether its session holds.
			if p.allowOffWS && (strings.Contains(en.Text, "WebSocket connection to") || strings.Contains(en.Text, "ERR_CONNECTION_REFUSED")) {
				return
			}
			if apiAnswer(en) {
				return
			}
			p.problems = append(p.problems, line)
		}
	}
}

// apiAnswer tells the browser's "Failed to load resource" for a 4xx of the
// accounts API: those statuses are its answers (401 from /api/me when signed
// out, 401 bad_credentials, 409 username_taken), which the page reads and
// shows; they are not faults of the page.
func apiAnswer(en *cdplog.Entry) bool {
	if en.Source != cdplog.EntrySourceNetwork || !strings.Contains(en.Text, "status of 4") {
		return false
	}
	u, err := url.Parse(en.URL)
	return err == nil && strings.HasPrefix(u.Path, "/api/")
}

// checkClean fails the test if the page logged an error, threw, or broke the CSP.
func (p *page) checkClean() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.t.Errorf("%s: browser reported: %s", p.name, pr)
	}
	p.problems = nil
}

func (p *page) dumpLogs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.logs {
		p.t.Logf("%s: %s", p.name, l)
	}
}

func (p *page) setServerDown(down bool) {
	p.mu.Lock()
	p.allowOffWS = down
	p.mu.Unlock()
}

// do runs actions with a deadline.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionLimit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail("%v", err)
	}
}

func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	p.dumpLogs()
	p.t.Fatalf("%s: %s\nstate: %s", p.name, fmt.Sprintf(format, args...), p.stateJSON())
}

func (p *page) stateJSON() string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.parley ? window.parley.state() : null)`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.fail("eval %s: %v", js, err)
	}
	return v
}

// wait polls a JavaScript condition until it is true, failing after waitLimit.
func (p *page) wait(cond string) {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err // e.g. the page is reloading: try again
		}
		if time.Now().After(deadline) {
			p.fail("timed out after %v waiting for %s (last error: %v)", waitLimit, cond, lastErr)
		}
		time.Sleep(pollEvery)
	}
}

// viewport emulates a window size; mobile also emulates touch and a phone's viewport handling.
func (p *page) viewport(w, h int64, mobile bool) {
	p.t.Helper()
	if mobile {
		p.do(chromedp.EmulateViewport(w, h, chromedp.EmulateScale(1), chromedp.EmulateMobile, chromedp.EmulateTouch))
	} else {
		p.do(chromedp.EmulateViewport(w, h, chromedp.EmulateScale(1)))
	}
}

// colorScheme emulates prefers-color-scheme: "light" or "dark".
func (p *page) colorScheme(scheme string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// login continues as a guest from the sign-in screen, takes name on the
// name screen (the guest name is prefilled) and waits for the chat with
// #general open.
func (p *page) login(name string) {
	p.t.Helper()
	p.wait(`document.body.dataset.screen === 'signin'`)
	p.click("#guest-button")
	p.wait(`document.body.dataset.screen === 'name' && /^guest-\d+$/.test(document.querySelector('#name-input').value) && !document.querySelector('#name-submit').disabled`)
	p.do(
		chromedp.SetValue(chromedp.ID("name-input"), name),
		chromedp.Click(chromedp.ID("name-submit")),
	)
	p.wait(`parley.state().connected && parley.state().screen === 'chat' && parley.state().username === ` + js(name) +
		` && parley.state().currentRoom === 'general'`)
	p.name = name
}

// enter presses Enter in the composer the way a keyboard does (keydown with
// the text "\r", then keyup).
func (p *page) enter() {
	p.t.Helper()
	p.do(chromedp.KeyEvent("\r"))
}

// send types text into the composer and presses Enter. Short text is typed
// key by key; long text is set at once and the Enter key is still real.
func (p *page) send(text string) {
	p.t.Helper()
	if len(text) <= 80 && !strings.ContainsAny(text, "\n\r") {
		p.do(chromedp.Focus(chromedp.ID("message-input")), chromedp.SendKeys(chromedp.ID("message-input"), text))
	} else {
		p.do(chromedp.Focus(chromedp.ID("message-input")), chromedp.SetValue(chromedp.ID("message-input"), text))
	}
	p.wait(`document.querySelector('#message-input').value === ` + js(text))
	p.enter()
}

// aliceAndBob opens two guests' pages on s, alice and bob, both in
// #general, and waits until alice sees bob there.
func aliceAndBob(t *testing.T, s *server) (alice, bob *page) {
	t.Helper()
	alice = newPage(t, s.url(), "alice")
	alice.login("alice")
	bob = newPage(t, s.url(), "bob")
	bob.login("bob")
	alice.wait(`!!document.querySelector('#member-list li[data-user="bob"]')`)
	return alice, bob
}

// sendOK sends and waits for the composer to be cleared (the input was accepted).
func (p *page) sendOK(text string) {
	p.t.Helper()
	p.send(text)
	p.wait(`document.querySelector('#message-input').value === ''`)
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.wait(`!!document.querySelector(` + js(sel) + `)`)
	p.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// msgCount is a JS expression counting .message elements in the open
// conversation whose body is exactly text.
func msgCount(text string) string {
	return `[...document.querySelectorAll('#message-list .message .msg-body')].filter((b) => b.textContent === ` + js(text) + `).length`
}

// shows is a JS condition: a message with exactly this text, sent (not pending), is on screen once.
func shows(text string) string {
	return `(` + msgCount(text) + `) === 1 && !document.querySelector('#message-list .message.pending, #message-list .message.failed')`
}

// checkOrder fails unless the open conversation's message ids are unique and ascending.
func (p *page) checkOrder() {
	p.t.Helper()
	bad := eval[string](p, `(() => {
		const ids = [...document.querySelectorAll('#message-list .message[data-id]')].map((m) => m.dataset.id);
		if (!ids.length) return 'no messages';
		for (let i = 1; i < ids.length; i++) if (!(ids[i - 1] < ids[i])) return 'ids not ascending/unique at ' + i + ': ' + ids[i - 1] + ' ' + ids[i];
		const unplaced = document.querySelectorAll('#message-list .message:not([data-id])').length;
		return unplaced ? unplaced + ' messages without id' : '';
	})()`)
	if bad != "" {
		p.fail("%s", bad)
	}
}

// screenshot writes the viewport to $PARLEY_SCREENSHOTS/name, if that is set.
func (p *page) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv(screenshotEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, actionLimit)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.fail("screenshot: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("wrote %s", path)
}

// ---------------------------------------------------------------- the server

// server is a real parley server (internal/server) on 127.0.0.1 with a
// real SQLite file.
type server struct {
	t      *testing.T
	srv    *parley.Server
	addr   string // host:port of the main listener, the one the pages use
	dbPath string
}

// startServer starts a server on addr ("" for a random port) with the
// database at dbPath ("" for a fresh one).
func startServer(t *testing.T, addr, dbPath string) *server {
	return startServerConfig(t, addr, parley.Config{DB: dbPath})
}

// startServerConfig is startServer with more of the server's configuration.
func startServerConfig(t *testing.T, addr string, cfg parley.Config) *server {
	t.Helper()
	srv := testkit.NewServer(t, cfg)
	s := &server{t: t, srv: srv, dbPath: srv.DB()}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.addr = s.listen(addr)
	return s
}

// newServer builds a server that listens nowhere yet.
func newServer(t *testing.T, dbPath string) *server {
	t.Helper()
	srv := testkit.NewServer(t, parley.Config{DB: dbPath})
	return &server{t: t, srv: srv, dbPath: srv.DB()}
}

// listen serves on one more listener at addr and returns its address. A
// server may listen on several (the restart test lets a Go client in on one
// while the pages' port stays closed).
func (s *server) listen(addr string) string {
	s.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		s.t.Fatalf("listen %s: %v", addr, err)
	}
	if err := s.srv.Serve(ln); err != nil {
		s.t.Fatalf("serve %s: %v", addr, err)
	}
	return ln.Addr().String()
}

func (s *server) url() string { return "http://" + s.addr + "/" }

// stop shuts the server down (the test's cleanup does it too).
func (s *server) stop() { testkit.Stop(s.t, s.srv) }

// dbCount counts the stored messages with exactly this content.
func dbCount(t *testing.T, dbPath, content string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM messages WHERE content = ?`, content).Scan(&n); err != nil {
		t.Fatalf("count %q: %v", content, err)
	}
	return n
}

// waitDB waits until the database holds content exactly want times.
func waitDB(t *testing.T, dbPath, content string, want int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		n := dbCount(t, dbPath, content)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database holds %q %d times, want %d", content, n, want)
		}
		time.Sleep(pollEvery)
	}
}

// ---------------------------------------------------------------- a plain WebSocket client

// wsUser is a person on a plain WebSocket (no subprotocol: one JSON object per frame).
type wsUser struct {
	t    *testing.T
	name string
	c    *websocket.Conn
	in   chan map[string]any
	ref  int
}

func dialUser(t *testing.T, addr, name string) *wsUser {
	t.Helper()
	u := dialWS(t, addr, nil)
	u.request(map[string]any{"type": "SetUsername", "username": name})
	u.name = name
	return u
}

// dialWS connects with opts (nil for a guest) and waits for the Welcome; the
// user's name is the Welcome's.
func dialWS(t *testing.T, addr string, opts *websocket.DialOptions) *wsUser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", opts)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetReadLimit(1 << 22)
	u := &wsUser{t: t, c: c, in: make(chan map[string]any, 1<<14)}
	t.Cleanup(func() { c.CloseNow() })
	go func() { // reads until the connection closes
		defer close(u.in)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				select {
				case u.in <- m:
				default: // nobody is interested in this much backlog
				}
			}
		}
	}()
	welcome := u.expect(func(m map[string]any) bool { return m["type"] == "Welcome" })
	u.name, _ = welcome["username"].(string)
	return u
}

// expect reads until a message for which ok holds.
func (u *wsUser) expect(ok func(map[string]any) bool) map[string]any {
	u.t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		select {
		case m, open := <-u.in:
			if !open {
				u.t.Fatalf("%s: connection closed", u.name)
			}
			if ok(m) {
				return m
			}
		case <-timer.C:
			u.t.Fatalf("%s: timed out waiting for a reply", u.name)
		}
	}
}

// request sends req with a fresh ref and returns its Ack; an Error fails the test.
func (u *wsUser) request(req map[string]any) map[string]any {
	u.t.Helper()
	reply := u.try(req)
	if reply["type"] != "Ack" {
		u.t.Fatalf("%s: %v -> %v", u.name, req, reply)
	}
	return reply
}

// try sends req with a fresh ref and returns its Ack or Error.
func (u *wsUser) try(req map[string]any) map[string]any {
	u.t.Helper()
	u.ref++
	ref := strconv.Itoa(u.ref)
	req["ref"] = ref
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := u.c.Write(ctx, websocket.MessageText, b); err != nil {
		u.t.Fatalf("%s: write: %v", u.name, err)
	}
	return u.expect(func(m map[string]any) bool {
		return m["ref"] == ref && (m["type"] == "Ack" || m["type"] == "Error")
	})
}

func (u *wsUser) join(room string) {
	u.t.Helper()
	u.request(map[string]any{"type": "JoinRoom", "room": room})
}

// say sends content to room and waits until it is stored (its Ack).
func (u *wsUser) say(room, content string) string {
	u.t.Helper()
	ack := u.request(map[string]any{"type": "SendMessage", "room": room, "content": content})
	id, _ := ack["id"].(string)
	return id
}

func (u *wsUser) pm(to, content string) {
	u.t.Helper()
	u.request(map[string]any{"type": "PrivateMessage", "to": to, "content": content})
}

// ---------------------------------------------------------------- a TCP proxy that can lose replies

// proxy forwards TCP connections to a server. Muted, it swallows whatever the
// server sends, so requests arrive and their replies do not; cut closes every
// connection.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	muted  bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go func() { // returns when the cleanup closes ln
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.pipe(up, c, false) // each returns when a side closes
			go p.pipe(c, up, true)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) pipe(dst, src net.Conn, fromServer bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		drop := fromServer && p.muted
		p.mu.Unlock()
		if drop {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *proxy) mute(on bool) {
	p.mu.Lock()
	p.muted = on
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
