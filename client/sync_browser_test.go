package client_test

// An account is the same in every tab: its rooms (a join or a leave in one
// tab shows in the others), its private conversations (kept by the server,
// also while the other side is away) and what it has read (opening a
// conversation in one tab clears its badge in the others). A guest's private
// messages are not kept, and its DM view says so.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
)

const syncPW = "correct horse battery"

// registerAPI creates an account through the accounts API, as a client
// other than the browser would, and returns its session token.
func registerAPI(t *testing.T, s *server, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": name, "password": syncPW})
	resp, err := http.Post(s.url()+"api/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	defer resp.Body.Close()
	var got struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusCreated || got.Token == "" {
		t.Fatalf("register %s: got status %d, token %q (%v), want 201 and a token", name, resp.StatusCode, got.Token, err)
	}
	return got.Token
}

// dialAccount connects a plain WebSocket client to addr as the account of token.
func dialAccount(t *testing.T, addr, token string) *wsUser {
	t.Helper()
	return dialWS(t, addr, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
}

// emulateFocus makes the page's window count as focused, as the one a person
// looks at (headless windows are not focused by themselves).
func (p *page) emulateFocus() {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))
	p.wait(`document.hasFocus()`)
}

// roomJoined is a JS condition: the room is in the page's list as joined, or not.
func roomJoined(room string, joined bool) string {
	cond := `parley.state().rooms.includes(` + js(room) + `) && !!document.querySelector('#room-list li[data-room=` + js(room) + `].joined')`
	if !joined {
		cond = `!parley.state().rooms.includes(` + js(room) + `) && !document.querySelector('#room-list li[data-room=` + js(room) + `].joined')`
	}
	return cond
}

// dmBadge is a JS expression: the unread badge's text on the DM with user, "" for none.
func dmBadge(user string) string {
	return `(document.querySelector('#dm-list li[data-user=` + js(user) + `] .unread-badge')?.textContent ?? '')`
}

// Joining a room in one tab adds it to the other tab's list without moving
// that tab; leaving it there removes it from the first.
func TestBrowserAccountRoomsFollow(t *testing.T) {
	s := startServer(t, "", "")
	tab1 := newPage(t, s.url(), "Ann")
	tab1.register("Ann", syncPW)
	tab1.wait(accountChat("Ann"))
	tab2 := tab1.secondTab(s.url(), "Ann (tab 2)")
	tab2.wait(accountChat("Ann"))

	tab1.do(
		chromedp.SetValue(chromedp.ID("new-room-input"), "plans"),
		chromedp.Click(chromedp.ID("new-room-submit")),
	)
	tab1.wait(`parley.state().currentRoom === 'plans' && ` + roomJoined("plans", true))
	tab1.sendOK("first plan")
	tab2.wait(roomJoined("plans", true))
	if got := eval[string](tab2, `parley.state().currentRoom`); got != "general" {
		t.Errorf("tab 2 after tab 1 joined #plans: got current room %q, want general (a join elsewhere does not move the view)", got)
	}
	// The room came with its history and members: its message is there when opened.
	tab2.click(`#room-list li[data-room="plans"] .room-open`)
	tab2.wait(`parley.state().currentRoom === 'plans' && ` + shows("first plan"))
	tab2.wait(`[...document.querySelectorAll('#member-list li[data-user]')].map((li) => li.dataset.user).join() === 'Ann'`)

	// A message in #plans from the other tab reaches both, once.
	tab2.sendOK("second plan")
	tab1.wait(shows("second plan"))
	tab1.checkOrder()

	// Leave in tab 2: gone in tab 1, which was showing it and falls back to #general.
	tab2.click("#leave-button")
	tab2.wait(roomJoined("plans", false) + ` && parley.state().currentRoom === 'general'`)
	tab1.wait(roomJoined("plans", false) + ` && parley.state().currentRoom === 'general'`)
	if got := eval[[]string](tab1, `parley.state().rooms`); len(got) != 1 || got[0] != "general" {
		t.Errorf("tab 1 after tab 2 left #plans: got rooms %v, want [general]", got)
	}

	// A new tab starts in the account's rooms as the server keeps them.
	tab1.do(chromedp.Reload())
	tab1.wait(accountChat("Ann"))
	if got := eval[[]string](tab1, `parley.state().rooms`); len(got) != 1 || got[0] != "general" {
		t.Errorf("tab 1 after a reload: got rooms %v, want [general]", got)
	}
}

// A private message to an account that is away is delivered (acknowledged)
// and waits in its conversations: unread when it signs in, read once opened,
// and still read after a reload.
func TestBrowserAccountOfflineDM(t *testing.T) {
	s := startServer(t, "", "")
	registerAPI(t, s, "Ben") // Ben has an account and no connection
	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", syncPW)
	ann.wait(accountChat("Ann"))

	ann.sendOK("/pm Ben lunch at noon?")
	ann.wait(`parley.state().currentDm === 'Ben' && ` + shows("lunch at noon?") +
		` && !!document.querySelector('#message-list .message.own.sent[data-id]')`)
	if got := eval[int](ann, `parley.state().failed + parley.state().pending`); got != 0 {
		t.Errorf("Ann's DM to Ben, who is away: got %d failed or pending, want 0", got)
	}
	if got := eval[int](ann, `document.querySelectorAll('#message-list .system-line.error, #message-list .guest-dm-note').length`); got != 0 {
		t.Errorf("Ann's DM view: got %d error lines or guest notes, want 0", got)
	}

	ben := newPage(t, s.url(), "Ben")
	ben.signIn("Ben", syncPW)
	ben.wait(accountChat("Ben"))
	ben.wait(dmBadge("Ann") + ` === '1'`)
	ben.wait(`document.querySelector('#dm-list li[data-user="Ann"] .dm-preview')?.textContent === 'lunch at noon?'`)
	if got := eval[string](ben, `document.title`); got != "(1) parley" {
		t.Errorf("Ben's title with one unread DM: got %q, want (1) parley", got)
	}
	ben.click(`#dm-list li[data-user="Ann"] .dm-open`)
	ben.wait(`parley.state().currentDm === 'Ann' && ` + shows("lunch at noon?") + ` && ` + dmBadge("Ann") + ` === ''`)
	ben.wait(`document.querySelector('#message-list .history-edge').textContent.includes('beginning of your conversation with Ann')`)

	// The reply reaches Ann live, in the open conversation.
	ben.sendOK("yes!")
	ann.wait(shows("yes!"))
	ann.checkOrder()

	// Opening it was stored as read: a reload lists it without a badge.
	ben.do(chromedp.Reload())
	ben.wait(accountChat("Ben"))
	ben.wait(`!!document.querySelector('#dm-list li[data-user="Ann"]') && ` +
		`document.querySelector('#dm-list li[data-user="Ann"] .dm-preview')?.textContent === 'You: yes!'`)
	if got := eval[string](ben, dmBadge("Ann")); got != "" {
		t.Errorf("Ben's DM with Ann after reading it and reloading: got badge %q, want none", got)
	}
	ben.click(`#dm-list li[data-user="Ann"] .dm-open`)
	ben.wait(`JSON.stringify(` + bodies + `) === ` + js(mustJSON([]string{"lunch at noon?", "yes!"})))
}

// A private message reaches both tabs of an account, each with its badge;
// opening it in one tab clears the badge in the other.
func TestBrowserAccountReadMarkers(t *testing.T) {
	s := startServer(t, "", "")
	annToken := registerAPI(t, s, "Ann")
	ann := dialAccount(t, s.addr, annToken)
	if ann.name != "Ann" {
		t.Fatalf("Ann's plain client: got name %q, want Ann", ann.name)
	}

	tab1 := newPage(t, s.url(), "Ben")
	tab1.register("Ben", syncPW)
	tab1.wait(accountChat("Ben"))
	tab2 := tab1.secondTab(s.url(), "Ben (tab 2)")
	tab2.wait(accountChat("Ben"))

	ann.pm("Ben", "are you there?")
	tab1.wait(dmBadge("Ann") + ` === '1'`)
	tab2.wait(dmBadge("Ann") + ` === '1'`)
	ann.pm("Ben", "hello?")
	tab1.wait(dmBadge("Ann") + ` === '2'`)
	tab2.wait(dmBadge("Ann") + ` === '2'`)

	tab1.click(`#dm-list li[data-user="Ann"] .dm-open`)
	tab1.wait(`parley.state().currentDm === 'Ann' && ` + shows("are you there?") + ` && ` + shows("hello?") + ` && ` + dmBadge("Ann") + ` === ''`)
	tab2.wait(dmBadge("Ann") + ` === ''`)
	if got := eval[string](tab2, `parley.state().currentRoom`); got != "general" {
		t.Errorf("tab 2 after tab 1 read the DM: got current room %q, want general", got)
	}
	if got := eval[string](tab2, `document.title`); got != "parley" {
		t.Errorf("tab 2's title after tab 1 read the DM: got %q, want parley", got)
	}

	// A message that arrives while tab 1 shows the conversation, scrolled to
	// the bottom in a focused window, is read there: tab 2's badge goes again.
	tab1.emulateFocus()
	ann.pm("Ben", "one more")
	tab1.wait(shows("one more"))
	tab2.wait(`document.querySelector('#dm-list li[data-user="Ann"] .dm-preview')?.textContent === 'one more' && ` + dmBadge("Ann") + ` === ''`)

	// "Log out everywhere" ends this session and Ben's other one, in another browser.
	elsewhere := newPage(t, s.url(), "Ben (elsewhere)")
	elsewhere.signIn("Ben", syncPW)
	elsewhere.wait(accountChat("Ben"))
	tab1.click("#logout-all-button")
	tab1.wait(`document.body.dataset.screen === 'signin' && ` + textHas("#signin-note", "logged out on every device"))
	for _, p := range []*page{tab2, elsewhere} {
		p.wait(`document.body.dataset.screen === 'signin' && ` + textHas("#signin-note", "signed out") + ` && !parley.state().socketOpen`)
	}
	ann.pm("Ben", "still there?") // an account with no connection: kept, not refused
}

// A guest's DM view says that its private messages are not kept; so does an
// account's conversation with a guest, once the server says it keeps none.
func TestBrowserGuestDMNote(t *testing.T) {
	s := startServer(t, "", "")
	wes := dialUser(t, s.addr, "wes")
	gus := newPage(t, s.url(), "gus")
	gus.login("gus")
	wes.pm("gus", "hi gus")
	gus.click(`#dm-list li[data-user="wes"] .dm-open`)
	gus.wait(`parley.state().currentDm === 'wes' && ` + shows("hi gus"))
	gus.wait(textHas("#message-list .guest-dm-note", "not kept") + ` && ` + textHas("#message-list .guest-dm-note", "Sign in"))

	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", syncPW)
	ann.wait(accountChat("Ann"))
	wes.pm("Ann", "hi Ann")
	ann.wait(dmBadge("wes") + ` === '1'`)
	ann.click(`#dm-list li[data-user="wes"] .dm-open`)
	ann.wait(shows("hi Ann") + ` && ` + dmBadge("wes") + ` === '' && ` +
		textHas("#message-list .history-edge", "wes has no account, so these messages are delivered live only and not kept"))
	if got := eval[int](ann, `document.querySelectorAll('#message-list .guest-dm-note, #message-list .system-line.error').length`); got != 0 {
		t.Errorf("Ann's DM with the guest wes: got %d guest notes or error lines, want 0", got)
	}
}

// The server restarts while an account's page is open: on the new
// connection the server puts it back in its rooms (Joined), and the page
// fills what it missed there (more than a page), sends what was typed while
// the server was down once, and finds the private message that came meanwhile.
func TestBrowserAccountReconnect(t *testing.T) {
	s := startServer(t, "", "")
	addr, db := s.addr, s.dbPath
	benToken := registerAPI(t, s, "Ben")
	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", syncPW)
	ann.wait(accountChat("Ann"))
	ann.sendOK("before the restart")
	ann.wait(shows("before the restart"))

	ann.setServerDown(true)
	s.stop()
	ann.wait(`!parley.state().connected && document.body.dataset.conn === 'offline'`)
	pending := "typed while the server was down"
	ann.sendOK(pending)
	ann.wait(`parley.state().pending === 1`)

	// A new server on the same database; Ben comes in on a side port first.
	s2 := newServer(t, db)
	side := s2.listen("127.0.0.1:0")
	ben := dialAccount(t, side, benToken)
	ben.join("general")
	cat := dialUser(t, side, "cat") // two senders: one would reach the rate limit
	cat.join("general")
	var missed []string
	for i := range 60 {
		m := fmt.Sprintf("missed %02d", i)
		[]*wsUser{ben, cat}[i%2].say("general", m)
		missed = append(missed, m)
	}
	ben.pm("Ann", "while you were away")
	s2.addr = s2.listen(addr)

	ann.wait(`parley.state().connected && document.body.dataset.conn === 'online' && parley.state().pending === 0`)
	ann.setServerDown(false)
	all := append(append([]string{"before the restart"}, missed...), pending)
	ann.wait(eachOnce(all))
	if got := eval[[]string](ann, bodies); strings.Join(got, "\n") != strings.Join(all, "\n") {
		t.Errorf("Ann's #general after the restart shows\n%q\nwant\n%q", got, all)
	}
	ann.checkOrder()
	if got := eval[string](ann, `parley.state().currentRoom`); got != "general" {
		t.Errorf("Ann after the restart: got current room %q, want general", got)
	}
	ann.wait(dmBadge("Ben") + ` === '1'`)
	ann.click(`#dm-list li[data-user="Ben"] .dm-open`)
	ann.wait(shows("while you were away") + ` && ` + dmBadge("Ben") + ` === ''`)
	if n := dbCount(t, db, pending); n != 1 {
		t.Errorf("the database holds %q %d times, want 1", pending, n)
	}
}
