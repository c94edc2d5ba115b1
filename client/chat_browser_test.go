package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// Two people chat in a room and privately (a DM started by clicking a
// member, unread counts on rooms and DMs), a third joins late and sees the
// history, /help lists the commands, and a reload keeps the name.
func TestBrowserChat(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)
	bob.wait(`!!document.querySelector('#member-list li[data-user="alice"]') && document.querySelector('#member-list li[data-user="bob"]').classList.contains('self')`)

	// In the room: own messages are marked, links are clickable and safe.
	hello := "hi bob, the notes are at https://example.com/notes(v2)."
	alice.sendOK(hello)
	alice.wait(shows(hello) + ` && document.querySelector('#message-list .message.own.sent .msg-body').textContent === ` + js(hello))
	bob.wait(shows(hello) + ` && !document.querySelector('#message-list .message.own')`)
	bob.wait(`(() => {
		const a = [...document.querySelectorAll('#message-list a.msg-link')];
		return a.length === 1 && a[0].href === 'https://example.com/notes(v2)' && a[0].textContent === 'https://example.com/notes(v2)' &&
			a[0].target === '_blank' && a[0].rel.includes('noopener') && a[0].rel.includes('noreferrer');
	})()`)

	bob.sendOK("thanks!")
	// Shift+Enter makes a new line, Enter sends.
	bob.do(
		chromedp.SendKeys(chromedp.ID("message-input"), "line one"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("message-input"), "line two"),
	)
	bob.wait(`document.querySelector('#message-input').value === 'line one\nline two'`)
	bob.enter()
	bob.wait(`document.querySelector('#message-input').value === ''`)
	alice.wait(shows("thanks!") + ` && ` + shows("line one\nline two"))
	// Consecutive messages of one sender are grouped.
	alice.wait(`(() => {
		const m = [...document.querySelectorAll('#message-list .message')];
		return m.length === 3 && !m[0].classList.contains('grouped') && !m[1].classList.contains('grouped') && m[2].classList.contains('grouped') &&
			m[1].dataset.user === 'bob' && m[2].dataset.user === 'bob';
	})()`)

	// A private conversation, started by clicking a member.
	alice.click(`#member-list li[data-user="bob"] button`)
	alice.wait(`parley.state().currentDm === 'bob' && document.querySelector('#dm-list li[data-user="bob"]').classList.contains('current')`)
	alice.sendOK("psst, a secret")
	bob.wait(`document.querySelector('#dm-list li[data-user="alice"] .unread-badge')?.textContent === '1'`)
	alice.sendOK("and another")
	bob.wait(`document.querySelector('#dm-list li[data-user="alice"] .unread-badge')?.textContent === '2' && document.title === '(2) parley'`)
	bob.wait(`(` + msgCount("psst, a secret") + `) === 0 && parley.state().currentRoom === 'general'`)
	bob.click(`#dm-list li[data-user="alice"] .dm-open`)
	bob.wait(`parley.state().currentDm === 'alice' && ` + shows("psst, a secret") + ` && ` + shows("and another") +
		` && !document.querySelector('#dm-list .unread-badge') && document.title === 'parley'`)
	bob.sendOK("got it")
	alice.wait(shows("got it") + ` && parley.state().currentDm === 'bob'`)

	// Unread count on a room while looking at a DM.
	bob.click(`#room-list li[data-room="general"] .room-open`)
	bob.wait(`parley.state().currentRoom === 'general'`)
	bob.sendOK("back in general")
	alice.wait(`document.querySelector('#room-list li[data-room="general"] .unread-badge')?.textContent === '1' && (` + msgCount("back in general") + `) === 0`)
	alice.click(`#room-list li[data-room="general"] .room-open`)
	alice.wait(`parley.state().currentRoom === 'general' && ` + shows("back in general") + ` && !document.querySelector('#room-list .unread-badge')`)

	// A third person joins late and sees the room's history, and no DM.
	room := []string{hello, "thanks!", "line one\nline two", "back in general"}
	carol := newPage(t, s.url(), "carol")
	carol.login("carol")
	carol.wait(`JSON.stringify(` + bodies + `) === ` + js(mustJSON(room)))
	carol.checkOrder()
	carol.wait(`document.querySelector('#message-list .history-edge').textContent.includes('beginning of #general')`)
	alice.wait(`!!document.querySelector('#member-list li[data-user="carol"]') && document.querySelector('#member-count').textContent === '(3)'`)

	// /help lists the commands.
	carol.sendOK("/help")
	carol.wait(`(() => {
		const h = document.querySelector('#message-list .system-line.help');
		return !!h && ['/nick', '/join', '/pm', '/rooms', '/leave', '/help'].every((c) => h.textContent.includes(c));
	})()`)
	// /pm opens a conversation and sends.
	carol.sendOK("/pm alice welcome?")
	carol.wait(`parley.state().currentDm === 'alice' && ` + shows("welcome?"))
	alice.wait(`document.querySelector('#dm-list li[data-user="carol"] .unread-badge')?.textContent === '1'`)

	// A send the server refuses is shown as failed on the message, which
	// keeps its text (not copied back into the composer).
	carol.send("/pm nobody are you there?")
	carol.wait(`parley.state().currentDm === 'nobody' && parley.state().failed === 1 &&
		document.querySelector('#message-list .message.failed .msg-error')?.textContent.startsWith('Not sent') &&
		document.querySelector('#message-input').value === ''`)
	carol.click(`#message-list .message.failed button[data-action="discard"]`)
	carol.wait(`parley.state().failed === 0 && !document.querySelector('#message-list .message')`)

	// The name is remembered across a reload; DMs live in the page only.
	bob.do(chromedp.Reload())
	bob.wait(`window.parley && parley.state().connected && parley.state().screen === 'chat' && parley.state().username === 'bob' && parley.state().currentRoom === 'general'`)
	bob.wait(`document.querySelector('#name-screen').hidden && parley.state().dms.length === 0 && ` + shows("back in general"))
	bob.checkOrder()
	alice.wait(`!!document.querySelector('#member-list li[data-user="bob"]')`)
}

// Scrolling up loads older pages of history, in order, with no duplicate and
// without moving what is on screen; a new message while scrolled up shows the
// "new messages" marker.
func TestBrowserHistoryPaging(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	// 130 messages from four plain WebSocket clients, taking turns; each send
	// waits for its Ack, so the contents are in id order.
	var users []*wsUser
	for _, n := range []string{"w1", "w2", "w3", "w4"} {
		u := dialUser(t, s.addr, n)
		u.join("general")
		users = append(users, u)
	}
	const total = 130
	var want []string
	for i := range total {
		text := fmt.Sprintf("bulk %03d", i)
		users[i%len(users)].say("general", text)
		want = append(want, text)
	}

	dana := newPage(t, s.url(), "dana")
	dana.login("dana")
	dana.wait(`(() => { const b = ` + bodies + `; return b.length === 50 && b[0] === 'bulk 080' && b[49] === 'bulk 129'; })()`)
	atBottom := `(() => { const l = document.querySelector('#message-list'); return l.scrollHeight - l.scrollTop - l.clientHeight < 2; })()`
	dana.wait(atBottom)

	// Page 1: the mouse wheel, as a person scrolls.
	box := eval[[]float64](dana, `(() => { const r = document.querySelector('#message-list').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`)
	for range 3 {
		dana.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			// Raw params: the typed struct omits a zero deltaX, which mouseWheel requires.
			return tg.Call(ctx, input.CommandDispatchMouseEvent, map[string]any{
				"type": input.DispatchMouseEventTypeMouseWheel, "x": box[0], "y": box[1], "deltaX": 0, "deltaY": -2500,
			}, nil)
		}))
	}
	dana.wait(`document.querySelectorAll('#message-list .message').length === 100`)
	dana.checkOrder()

	// Page 2: jump to the top; what was on screen must not move when the older page lands above it.
	before := eval[[]any](dana, `(() => {
		const l = document.querySelector('#message-list');
		l.scrollTop = 0;
		const m = l.querySelector('.message');
		return [m.dataset.id, m.getBoundingClientRect().top];
	})()`)
	dana.wait(`document.querySelectorAll('#message-list .message').length === 130`)
	dana.wait(`document.querySelector('#message-list .history-edge').textContent.includes('beginning of #general')`)
	after := eval[float64](dana, `document.querySelector('#message-list .message[data-id="`+before[0].(string)+`"]').getBoundingClientRect().top`)
	if d := after - before[1].(float64); d < -2 || d > 2 {
		t.Errorf("the view jumped by %.1f px when older messages were inserted above", d)
	}
	dana.checkOrder()
	got := eval[[]string](dana, bodies)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after paging up, the messages are\n%v\nwant\n%v", got, want)
	}

	// Scrolled up: a new message does not move the view, the marker appears.
	top := eval[float64](dana, `document.querySelector('#message-list').scrollTop`)
	users[0].say("general", "fresh news")
	dana.wait(`!document.querySelector('#new-messages-marker').hidden && (` + msgCount("fresh news") + `) === 1`)
	if now := eval[float64](dana, `document.querySelector('#message-list').scrollTop`); now != top {
		t.Errorf("scrolled-up view moved from %v to %v when a message arrived", top, now)
	}
	dana.click(`#new-messages-marker`)
	dana.wait(atBottom + ` && document.querySelector('#new-messages-marker').hidden`)
	// At the bottom, the view sticks to it.
	users[1].say("general", "more news")
	dana.wait(shows("more news") + ` && ` + atBottom + ` && document.querySelector('#new-messages-marker').hidden`)
	dana.checkOrder()
}

// The server restarts mid-conversation: both pages show it, one types a
// message while it is down, a Go client sends while they are away; after the
// restart both catch up and the pending message is delivered exactly once.
func TestBrowserServerRestart(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	addr, db := s.addr, s.dbPath
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	bob := newPage(t, s.url(), "bob")
	bob.login("bob")
	alice.sendOK("before the restart")
	alice.wait(shows("before the restart")) // acknowledged: nothing pending yet
	bob.wait(shows("before the restart"))

	offline := `!document.querySelector('#conn-banner').hidden && document.body.dataset.conn === 'offline' && !parley.state().connected`
	alice.setServerDown(true)
	bob.setServerDown(true)
	s.stop()
	alice.wait(offline)
	bob.wait(offline)

	pending := "typed while the server was down"
	alice.sendOK(pending)
	alice.wait(`(` + msgCount(pending) + `) === 1 && document.querySelector('#message-list .message.pending .msg-status')?.textContent === 'queued' && parley.state().pending === 1`)

	// A new server on the same database. Before the pages' port opens, a Go
	// client comes in on a side port and says what the pages will have missed.
	s2 := newServer(t, db)
	side := s2.listen("127.0.0.1:0")
	// More than a page of history (50), so a re-join without `since` would leave a gap.
	carol := dialUser(t, side, "carol")
	carol.join("general")
	dave := dialUser(t, side, "dave")
	dave.join("general")
	var missed []string
	for i := range 60 {
		m := fmt.Sprintf("missed %02d", i)
		[]*wsUser{carol, dave}[i%2].say("general", m)
		missed = append(missed, m)
	}
	start := time.Now()
	s2.addr = s2.listen(addr)

	online := `parley.state().connected && document.querySelector('#conn-banner').hidden && document.body.dataset.conn === 'online'`
	alice.wait(online + ` && parley.state().pending === 0`)
	bob.wait(online)
	t.Logf("both pages back %v after the port reopened", time.Since(start).Round(time.Millisecond))
	alice.setServerDown(false)
	bob.setServerDown(false)

	all := append([]string{"before the restart"}, missed...)
	all = append(all, pending)
	for _, p := range []*page{alice, bob} {
		p.wait(eachOnce(all))
		p.checkOrder()
	}
	alice.wait(`[...document.querySelectorAll('#message-list .message.own.sent .msg-body')].some((b) => b.textContent === ` + js(pending) + `)`)

	// Traffic after the reconnect flows both ways; counts stay at one.
	bob.sendOK("we are back")
	alice.wait(shows("we are back"))
	carol.say("general", "carol is back too")
	all = append(all, "we are back", "carol is back too")
	for _, p := range []*page{alice, bob} {
		p.wait(eachOnce(all))
		if got := eval[[]string](p, bodies); strings.Join(got, "\n") != strings.Join(all, "\n") {
			t.Errorf("%s shows\n%q\nwant\n%q", p.name, got, all)
		}
		p.checkOrder()
	}
	if n := dbCount(t, db, pending); n != 1 {
		t.Errorf("the database holds %q %d times, want 1", pending, n)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A message reaches the server, but the connection breaks before its Ack
// comes back: after reconnecting, the page resends it with the same nonce,
// and it is stored and shown once.
func TestBrowserResendAfterLostAck(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	px := newProxy(t, s.addr)
	alice := newPage(t, "http://"+px.addr()+"/", "alice") // through the proxy
	alice.login("alice")
	bob := newPage(t, s.url(), "bob")
	bob.login("bob")
	alice.sendOK("hello through the proxy")
	alice.wait(shows("hello through the proxy")) // acknowledged: nothing pending yet
	bob.wait(shows("hello through the proxy"))

	px.mute(true) // from now on nothing the server sends reaches alice
	text := "sent just before the connection broke"
	alice.sendOK(text)
	bob.wait(shows(text)) // stored and delivered...
	alice.wait(`(` + msgCount(text) + `) === 1 && parley.state().pending === 1 && document.querySelector('#message-list .message.pending .msg-status')?.textContent === 'sending…'`)
	waitDB(t, s.dbPath, text, 1) // delivery may precede the commit; the Ack never does
	px.mute(false)
	px.cut() // ...but alice never heard back

	alice.wait(`parley.state().connected && parley.state().pending === 0 && document.querySelector('#conn-banner').hidden`)
	alice.wait(shows(text) + ` && [...document.querySelectorAll('#message-list .message.own.sent .msg-body')].some((b) => b.textContent === ` + js(text) + `)`)
	alice.sendOK("and after")
	for _, p := range []*page{alice, bob} {
		p.wait(shows("and after"))
	}
	for _, p := range []*page{alice, bob} {
		if n := eval[int](p, msgCount(text)); n != 1 {
			t.Errorf("%s shows %q %d times", p.name, text, n)
		}
		p.checkOrder()
	}
	if n := dbCount(t, s.dbPath, text); n != 1 {
		t.Errorf("the database holds %q %d times, want 1", text, n)
	}
}

// bodies is a JS expression: the texts of the messages in the open conversation, top to bottom.
const bodies = `[...document.querySelectorAll('#message-list .message .msg-body')].map((b) => b.textContent)`

// eachOnce is a JS condition: every text is shown exactly once, and nothing is pending or failed.
func eachOnce(texts []string) string {
	return `(() => {
		const seen = new Map();
		for (const t of ` + bodies + `) seen.set(t, (seen.get(t) || 0) + 1);
		return ` + mustJSON(texts) + `.every((t) => seen.get(t) === 1) &&
			!document.querySelector('#message-list .message.pending, #message-list .message.failed');
	})()`
}
