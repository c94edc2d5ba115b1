package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/accounts"
	"parley/transport"
)

// cheapHash keeps the tests' password hashing fast; the hashing-limit test
// sets its own.
var cheapHash = accounts.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

// apiReply is one API response, its body read and decoded.
type apiReply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r apiReply) str(k string) string { s, _ := r.body[k].(string); return s }

// cookie returns the Set-Cookie of the session cookie, nil if none.
func (r apiReply) cookie() *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == transport.SessionCookie {
			return c
		}
	}
	return nil
}

// call sends one API request: body (if not nil) as JSON, and the headers
// given as "Name: value" pairs.
// call makes an API request and fails the test if it cannot: only from the
// test's goroutine (tryCall returns the error instead).
func (s *server) call(method, path string, body any, headers ...string) apiReply {
	s.t.Helper()
	r, err := s.tryCall(method, path, body, headers...)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// tryCall makes an API request.
func (s *server) tryCall(method, path string, body any, headers ...string) (apiReply, error) {
	var rd io.Reader
	if body != nil {
		if raw, ok := body.(string); ok {
			rd = strings.NewReader(raw)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				return apiReply{}, err
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, s.httpURL()+path, rd)
	if err != nil {
		return apiReply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
	if err != nil {
		return apiReply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	r := apiReply{status: resp.StatusCode, header: resp.Header}
	if r.raw, err = io.ReadAll(resp.Body); err != nil {
		return apiReply{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if len(r.raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.raw, &r.body); err != nil {
			return apiReply{}, fmt.Errorf("%s %s: body %q: %w", method, path, r.raw, err)
		}
	}
	return r, nil
}

func creds(user, pw string) map[string]string {
	return map[string]string{"username": user, "password": pw}
}

func bearer(token string) string { return "Authorization: Bearer " + token }

func cookieHeader(token string) string { return "Cookie: " + transport.SessionCookie + "=" + token }

// expectAPI fails the test unless r has status and, if code is not "",
// {"error": code}.
func expectAPI(t *testing.T, what string, r apiReply, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.str("error") != code) {
		t.Errorf("%s: got %d %s, want %d %q", what, r.status, r.raw, status, code)
	}
}

func startAccountsServer(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	if cfg.accounts.Hash == (accounts.HashParams{}) {
		cfg.accounts.Hash = cheapHash
	}
	return startServer(t, cfg)
}

// register registers name and returns its token.
func (s *server) register(name, pw string) string {
	s.t.Helper()
	r := s.call("POST", "/api/register", creds(name, pw))
	if r.status != http.StatusCreated || r.str("token") == "" {
		s.t.Fatalf("register %s: got %d %s", name, r.status, r.raw)
	}
	return r.str("token")
}

func (s *server) login(name, pw string) string {
	s.t.Helper()
	r := s.call("POST", "/api/login", creds(name, pw))
	if r.status != http.StatusOK || r.str("token") == "" {
		s.t.Fatalf("login %s: got %d %s", name, r.status, r.raw)
	}
	return r.str("token")
}

func TestAPIRegisterLoginMeLogout(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	r := s.call("POST", "/api/register", creds("Alice", "correct horse"))
	expectAPI(t, "register", r, http.StatusCreated, "")
	token := r.str("token")
	if r.str("username") != "Alice" || len(token) != 43 {
		t.Errorf("register: got %s, want Alice and a 43-character token", r.raw)
	}
	c := r.cookie()
	if c == nil || c.Value != token || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure ||
		c.MaxAge < int((accounts.DefaultSessionTTL-time.Hour).Seconds()) {
		t.Errorf("register cookie: got %+v, want parley_session=token, HttpOnly, SameSite=Lax, Path=/, not Secure over HTTP, Max-Age ~30 days", c)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}

	expectAPI(t, "register a look-alike", s.call("POST", "/api/register", creds("al1ce", "correct horse")), http.StatusConflict, "username_taken")
	expectAPI(t, "register a reserved name", s.call("POST", "/api/register", creds("Administrator", "correct horse")), http.StatusBadRequest, "invalid_username")
	expectAPI(t, "register a bad name", s.call("POST", "/api/register", creds("a b", "correct horse")), http.StatusBadRequest, "invalid_username")
	expectAPI(t, "register a short password", s.call("POST", "/api/register", creds("bob", "1234567")), http.StatusBadRequest, "weak_password")
	expectAPI(t, "register the name as password", s.call("POST", "/api/register", creds("bobbybob", "BobbyBob")), http.StatusBadRequest, "weak_password")

	wrong := s.call("POST", "/api/login", creds("alice", "wrong horse"))
	unknown := s.call("POST", "/api/login", creds("nobody", "wrong horse"))
	expectAPI(t, "login with a wrong password", wrong, http.StatusUnauthorized, "bad_credentials")
	if unknown.status != wrong.status || !bytes.Equal(unknown.raw, wrong.raw) || unknown.cookie() != nil {
		t.Errorf("unknown name: got %d %q, want exactly the wrong password's %d %q, no cookie", unknown.status, unknown.raw, wrong.status, wrong.raw)
	}
	r = s.call("POST", "/api/login", creds("ALICE", "correct horse"))
	expectAPI(t, "login", r, http.StatusOK, "")
	if r.str("username") != "Alice" || r.cookie() == nil || r.cookie().Value != r.str("token") {
		t.Errorf("login: got %s with cookie %+v, want Alice and her token in the cookie", r.raw, r.cookie())
	}
	second := r.str("token")

	for _, h := range []string{cookieHeader(token), bearer(token), "Authorization: bearer " + token} {
		me := s.call("GET", "/api/me", nil, h)
		expectAPI(t, "me with "+strings.SplitN(h, ":", 2)[0], me, http.StatusOK, "")
		if me.str("username") != "Alice" || me.str("role") != "user" || !timestampRE.MatchString(me.str("created_at")) {
			t.Errorf("me: got %s, want Alice, user, a created_at", me.raw)
		}
	}
	expectAPI(t, "me without a session", s.call("GET", "/api/me", nil), http.StatusUnauthorized, "unauthorized")
	expectAPI(t, "me with a bad token", s.call("GET", "/api/me", nil, bearer("nope")), http.StatusUnauthorized, "unauthorized")

	r = s.call("POST", "/api/logout", nil, cookieHeader(token))
	expectAPI(t, "logout", r, http.StatusNoContent, "")
	if c := r.cookie(); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout: got cookie %+v, want it cleared (Max-Age=0)", c)
	}
	expectAPI(t, "me after logout", s.call("GET", "/api/me", nil, bearer(token)), http.StatusUnauthorized, "unauthorized")
	expectAPI(t, "me with the other session", s.call("GET", "/api/me", nil, bearer(second)), http.StatusOK, "")
	expectAPI(t, "logout again", s.call("POST", "/api/logout", nil, bearer(token)), http.StatusNoContent, "")
	expectAPI(t, "logout-all without a session", s.call("POST", "/api/logout-all", nil), http.StatusUnauthorized, "unauthorized")
}

func TestAPIRequestsAreStrict(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	expectAPI(t, "no content type", s.call("POST", "/api/register", `{"username":"a1","password":"correct horse"}`, "Content-Type: "), http.StatusUnsupportedMediaType, "unsupported_media_type")
	expectAPI(t, "a form", s.call("POST", "/api/login", `username=a`, "Content-Type: application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType, "")
	expectAPI(t, "unknown field", s.call("POST", "/api/register", `{"username":"a1","password":"correct horse","role":"admin"}`), http.StatusBadRequest, "bad_request")
	expectAPI(t, "two objects", s.call("POST", "/api/register", `{"username":"a1","password":"correct horse"}{}`), http.StatusBadRequest, "bad_request")
	expectAPI(t, "not JSON", s.call("POST", "/api/login", `{"username":`), http.StatusBadRequest, "bad_request")
	expectAPI(t, "a number for a name", s.call("POST", "/api/login", `{"username":1,"password":"x"}`), http.StatusBadRequest, "bad_request")
	big := `{"username":"a1","password":"` + strings.Repeat("x", 20<<10) + `"}`
	expectAPI(t, "a 20 KiB body", s.call("POST", "/api/register", big), http.StatusRequestEntityTooLarge, "too_large")
	if r := s.call("GET", "/api/login", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/login: got %d, want 405", r.status)
	}

	// POSTs are checked for Origin like the WebSocket.
	for _, origin := range []string{"http://evil.example", "null", "https://" + s.host()} {
		r := s.call("POST", "/api/register", creds("o1", "correct horse"), "Origin: "+origin)
		expectAPI(t, "register from "+origin, r, http.StatusForbidden, "forbidden_origin")
		if r.cookie() != nil {
			t.Errorf("register from %s: a cookie was set", origin)
		}
	}
	expectAPI(t, "logout from another site", s.call("POST", "/api/logout", nil, "Origin: http://evil.example"), http.StatusForbidden, "forbidden_origin")
	expectAPI(t, "register from the page's origin", s.call("POST", "/api/register", creds("o1", "correct horse"), "Origin: http://"+s.host()), http.StatusCreated, "")
}

func TestAPISecureCookieBehindTLSProxy(t *testing.T) {
	s := startAccountsServer(t, serverConfig{transport: transport.Options{SecureCookies: true}})
	r := s.call("POST", "/api/register", creds("pat", "correct horse"))
	if c := r.cookie(); c == nil || !c.Secure || !c.HttpOnly {
		t.Errorf("cookie with SecureCookies: got %+v, want Secure and HttpOnly", c)
	}
}

func TestAPILoginLimit(t *testing.T) {
	s := startAccountsServer(t, serverConfig{accounts: accounts.Config{
		FailuresPerAccount: accounts.Limit{Burst: 2, Every: time.Minute},
	}})
	s.register("quinn", "correct horse")
	for i := range 2 {
		expectAPI(t, "failure "+strconv.Itoa(i), s.call("POST", "/api/login", creds("quinn", "wrong horse")), http.StatusUnauthorized, "bad_credentials")
	}
	r := s.call("POST", "/api/login", creds("quinn", "correct horse"))
	expectAPI(t, "after 2 failures", r, http.StatusTooManyRequests, "rate_limited")
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After: got %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
	}
	// The registration limit answers the same way.
	s2 := startAccountsServer(t, serverConfig{accounts: accounts.Config{RegistrationsPerIP: accounts.Limit{Burst: 1, Every: time.Hour}}})
	s2.register("rita", "correct horse")
	r = s2.call("POST", "/api/register", creds("sam", "correct horse"))
	expectAPI(t, "second registration", r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "3600" {
		t.Errorf("Retry-After: got %q, want 3600", r.header.Get("Retry-After"))
	}
}

// With one hash at a time and one waiting, logins sent together beyond
// those two are refused at once with 429, not queued: the CPU a login flood
// can take is bounded. The hashes are made slow (64 MiB, 4 passes: tens of
// milliseconds each at least) so that the logins, released together, overlap.
func TestAPIHashingLimit(t *testing.T) {
	// One hash at a time and nobody waiting: a login that arrives while
	// another one's hash runs is refused at once. The slow hash makes the
	// window wide; the running count makes the test know it is open.
	s := startAccountsServer(t, serverConfig{accounts: accounts.Config{
		Hash:            accounts.HashParams{MemoryKiB: 64 << 10, Time: 4, Threads: 1},
		HashConcurrency: 1,
		HashQueue:       -1, // nobody waits
	}})
	s.register("tess", "correct horse")
	svc := s.srv.Accounts()
	type result struct {
		r   apiReply
		err error
	}
	for attempt := 1; attempt <= 20; attempt++ {
		first := make(chan result, 1)
		go func() { // one login; sends its reply and returns
			r, err := s.tryCall("POST", "/api/login", creds("tess", "correct horse"))
			first <- result{r, err}
		}()
		// Wait until the first login's hash runs, or the login is over.
		deadline := time.Now().Add(waitLimit)
		var over *result
		for over == nil && svc.HashesRunning() == 0 {
			select {
			case res := <-first:
				over = &res
			default:
				if time.Now().After(deadline) {
					t.Fatalf("the first login neither hashed nor ended within %v", waitLimit)
				}
				time.Sleep(time.Millisecond)
			}
		}
		if over == nil {
			r := s.call("POST", "/api/login", creds("tess", "correct horse"))
			res := <-first
			if res.err != nil {
				t.Fatal(res.err)
			}
			if r.status == http.StatusTooManyRequests {
				expectAPI(t, "login while another hashes", r, http.StatusTooManyRequests, "rate_limited")
				if got := r.header.Get("Retry-After"); got != "1" {
					t.Errorf("login while another hashes: got Retry-After %q, want 1", got)
				}
				expectAPI(t, "the login that held the slot", res.r, http.StatusOK, "")
				return
			}
			// The first hash ended between the check and this request.
			expectAPI(t, "login after the first one's hash", r, http.StatusOK, "")
			over = &res
		}
		if over.err != nil {
			t.Fatal(over.err)
		}
		expectAPI(t, "first login", over.r, http.StatusOK, "")
	}
	t.Fatalf("20 logins never met another one's hash running: the hashing limit refused none")
}

func TestWebSocketUpgradeAuthentication(t *testing.T) {
	clk := &apiClock{t: time.Now()}
	s := startAccountsServer(t, serverConfig{accounts: accounts.Config{Now: clk.Now}})
	token := s.register("uma", "correct horse")
	dial := func(what string, h http.Header, want int) {
		t.Helper()
		w, resp, err := tryDial(t, s.url+"/ws", &websocket.DialOptions{HTTPHeader: h})
		switch {
		case want == http.StatusSwitchingProtocols && err != nil:
			t.Errorf("%s: got %v, want a connection", what, err)
		case want != http.StatusSwitchingProtocols && (err == nil || resp == nil || resp.StatusCode != want):
			if w != nil {
				w.c.CloseNow()
			}
			t.Errorf("%s: got %v (%v), want HTTP %d", what, resp, err, want)
		}
	}
	dial("no token (guest)", nil, http.StatusSwitchingProtocols)
	dial("a valid bearer token", http.Header{"Authorization": {"Bearer " + token}}, http.StatusSwitchingProtocols)
	dial("a valid cookie", http.Header{"Cookie": {transport.SessionCookie + "=" + token}}, http.StatusSwitchingProtocols)
	dial("a bad bearer token", http.Header{"Authorization": {"Bearer xyz"}}, http.StatusUnauthorized)
	dial("a bad cookie", http.Header{"Cookie": {transport.SessionCookie + "=" + strings.Repeat("A", 43)}}, http.StatusUnauthorized)
	dial("another scheme", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, http.StatusSwitchingProtocols)

	clk.Add(accounts.DefaultSessionTTL)
	dial("an expired token", http.Header{"Authorization": {"Bearer " + token}}, http.StatusUnauthorized)

	closed := startAccountsServer(t, serverConfig{transport: transport.Options{NoGuests: true}})
	token = closed.register("vera", "correct horse")
	w, resp, err := tryDial(t, closed.url+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		if w != nil {
			w.c.CloseNow()
		}
		t.Errorf("guest upgrade without guests: got %v (%v), want HTTP 401", resp, err)
	}
	if _, _, err := tryDial(t, closed.url+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}}); err != nil {
		t.Errorf("account upgrade without guests: %v", err)
	}
}

// apiClock is a clock for the accounts service that moves when told.
type apiClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *apiClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *apiClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dialToken connects with a session token.
func (s *server) dialToken(token string) *wsClient {
	s.t.Helper()
	w, m := s.welcome(http.Header{"Authorization": {"Bearer " + token}})
	if m["account"] != true {
		s.t.Fatalf("Welcome with a session: got %v, want account true", m)
	}
	return w
}

// alive fails the test unless w still answers.
func (w *wsClient) alive(what string) {
	w.t.Helper()
	w.send(map[string]any{"type": "ListRooms", "ref": "alive"})
	w.waitFor("RoomList", nil)
}

// A logout closes that session's WebSockets with 1008; logout-all closes
// all of the account's; a password change closes those of its other
// sessions. Guests and other sessions are untouched.
func TestEndedSessionsCloseTheirSockets(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	t1 := s.register("walt", "correct horse")
	t2, t3 := s.login("walt", "correct horse"), s.login("walt", "correct horse")
	other := s.register("xena", "correct horse")
	w1, w1b, w2, w3 := s.dialToken(t1), s.dialToken(t1), s.dialToken(t2), s.dialToken(t3)
	wx, guest := s.dialToken(other), s.dial()

	expectAPI(t, "logout", s.call("POST", "/api/logout", nil, bearer(t1)), http.StatusNoContent, "")
	for _, w := range []*wsClient{w1, w1b} {
		if got := w.closeStatus(); got != websocket.StatusPolicyViolation {
			t.Errorf("socket of the logged-out session: got close %d, want 1008", got)
		}
	}
	w2.alive("another session after a logout")

	r := s.call("POST", "/api/password", map[string]string{"old": "correct horse", "new": "better horse"}, bearer(t2))
	expectAPI(t, "password change", r, http.StatusNoContent, "")
	if got := w3.closeStatus(); got != websocket.StatusPolicyViolation {
		t.Errorf("socket of another session after a password change: got close %d, want 1008", got)
	}
	w2.alive("the session that changed the password")
	expectAPI(t, "me with the ended session", s.call("GET", "/api/me", nil, bearer(t3)), http.StatusUnauthorized, "unauthorized")
	expectAPI(t, "password change with a wrong old one", s.call("POST", "/api/password", map[string]string{"old": "correct horse", "new": "best horse!"}, bearer(t2)), http.StatusUnauthorized, "bad_credentials")
	expectAPI(t, "password change to a weak one", s.call("POST", "/api/password", map[string]string{"old": "better horse", "new": "walt"}, bearer(t2)), http.StatusBadRequest, "weak_password")
	expectAPI(t, "password change without a session", s.call("POST", "/api/password", map[string]string{"old": "better horse", "new": "best horse!"}), http.StatusUnauthorized, "unauthorized")

	t4 := s.login("walt", "better horse")
	w4 := s.dialToken(t4)
	expectAPI(t, "logout-all", s.call("POST", "/api/logout-all", nil, bearer(t2)), http.StatusNoContent, "")
	for _, w := range []*wsClient{w2, w4} {
		if got := w.closeStatus(); got != websocket.StatusPolicyViolation {
			t.Errorf("socket after logout-all: got close %d, want 1008", got)
		}
	}
	expectAPI(t, "me after logout-all", s.call("GET", "/api/me", nil, bearer(t4)), http.StatusUnauthorized, "unauthorized")
	wx.alive("another account's socket")
	guest.alive("a guest's socket")
}

func TestAccountsAndSessionsSurviveARestart(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	token := s.register("yuri", "correct horse")
	db := s.dbPath
	s.stop()

	s = startAccountsServer(t, serverConfig{dbPath: db})
	me := s.call("GET", "/api/me", nil, bearer(token))
	expectAPI(t, "me after a restart", me, http.StatusOK, "")
	if me.str("username") != "yuri" {
		t.Errorf("me after a restart: got %s, want yuri", me.raw)
	}
	s.dialToken(token).alive("a socket with the session after a restart")
	s.login("yuri", "correct horse")
	expectAPI(t, "register the name again", s.call("POST", "/api/register", creds("YURI", "correct horse")), http.StatusConflict, "username_taken")
}

// welcome dials with the headers given and returns the Welcome frame.
func (s *server) welcome(h http.Header) (*wsClient, msg) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.url+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		s.t.Fatalf("dial: %v", err)
	}
	s.t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{t: s.t, c: c}
	m := w.expect("Welcome")
	w.name = m.str("username")
	return w, m
}

// A connection with a session is its account's: its Welcome says so and
// carries the account's name, which it cannot change; a guest's says
// "account": false, and a guest cannot take the account's name, nor one
// that reads like it, even while the account is offline.
func TestAccountConnectionsAreTheAccount(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	token := s.register("Zoe", "correct horse")

	acct, m := s.welcome(http.Header{"Authorization": {"Bearer " + token}})
	if m.str("username") != "Zoe" || m["account"] != true {
		t.Errorf("account's Welcome: got %v, want username Zoe and account true", m)
	}
	_, m = s.welcome(http.Header{"Cookie": {transport.SessionCookie + "=" + token}})
	if m.str("username") != "Zoe" || m["account"] != true {
		t.Errorf("second connection's Welcome: got %v, want username Zoe and account true", m)
	}
	acct.send(map[string]any{"type": "SetUsername", "username": "zed", "ref": "r"})
	if e := acct.waitFor("Error", nil); e.str("code") != "not_allowed" {
		t.Errorf("account renaming itself: got %v, want not_allowed", e)
	}

	guest, m := s.welcome(nil)
	if m["account"] != false || !guestRE.MatchString(m.str("username")) {
		t.Errorf("guest's Welcome: got %v, want a guest name and account false", m)
	}
	s.register("Quentin", "correct horse") // registered, never connected
	for _, name := range []string{"zoe", "Z0E", "quentin", "QUENT1N"} {
		guest.send(map[string]any{"type": "SetUsername", "username": name, "ref": name})
		if e := guest.waitFor("Error", nil); e.str("code") != "username_taken" || e.str("ref") != name {
			t.Errorf("guest taking %q: got %v, want username_taken", name, e)
		}
	}
}
