package client_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// timezone emulates the browser's time zone, then reloads so the page's
// date formats are made in it.
func (p *page) timezone(tz string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tz})
		return err
	}), chromedp.Reload())
}

// daysRight is a JS expression: "" when the open conversation has a day
// separator exactly before each message that starts a local day (the
// first one included), or what is wrong.
const daysRight = `(() => {
	let prevDay = null;
	let seps = 0;
	for (const n of document.querySelectorAll('#message-list .conv > *')) {
		if (n.classList.contains('day-separator')) { seps++; continue; }
		if (!n.classList.contains('message')) continue;
		const d = new Date(Number(n.dataset.ts));
		const day = d.toDateString();
		let sep = n.previousElementSibling;
		if (sep && sep.classList.contains('new-line')) sep = sep.previousElementSibling;
		const has = !!sep && sep.classList.contains('day-separator');
		if ((day !== prevDay) !== has) return 'message ' + n.querySelector('.msg-body').textContent + ': separator ' + has + ', new day ' + (day !== prevDay);
		if (has && sep.textContent !== d.toLocaleDateString(undefined, {weekday: 'long', year: 'numeric', month: 'long', day: 'numeric'})) return 'separator text ' + sep.textContent;
		prevDay = day;
	}
	return seps ? '' : 'no separators';
})()`

// Day separators go between messages of different local days: two
// messages two hours apart on one UTC day fall on two days in UTC+14.
func TestBrowserDaySeparators(t *testing.T) {
	needBrowser(t)
	base := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	// In Pacific/Kiritimati (UTC+14): 23:00 on the 10th, 23:30, then 01:00 on the 11th; then two days later.
	times := []time.Time{base, base.Add(30 * time.Minute), base.Add(2 * time.Hour), base.Add(50 * time.Hour)}
	contents := make([]string, len(times))
	for i := range times {
		contents[i] = "seeded " + string(rune('a'+i))
	}
	path, _ := seedRoom(t, "general", "olivia", times, contents)
	s := startServer(t, "", path)
	alice := newPage(t, s.url(), "alice")
	alice.timezone("Pacific/Kiritimati")
	alice.login("alice")
	alice.sendOK("today's")
	alice.wait(shows("today's") + ` && document.querySelectorAll('#message-list .message').length === 5`)
	if bad := eval[string](alice, daysRight); bad != "" {
		t.Errorf("day separators: %s", bad)
	}
	if n := eval[int](alice, `document.querySelectorAll('#message-list .day-separator').length`); n != 4 {
		t.Errorf("got %d day separators, want 4 (the 10th, 11th and 13th of March, today)", n)
	}
	// In UTC the first three are one day.
	bob := newPage(t, s.url(), "bob")
	bob.timezone("UTC")
	bob.login("bob")
	bob.wait(shows("today's"))
	if bad := eval[string](bob, daysRight); bad != "" {
		t.Errorf("day separators in UTC: %s", bad)
	}
	if n := eval[int](bob, `document.querySelectorAll('#message-list .day-separator').length`); n != 3 {
		t.Errorf("in UTC: got %d day separators, want 3", n)
	}
	alice.screenshot("day-separators.png")
}

// Entering a room with unread messages shows a "New" line above the first
// of them; scrolled up, the marker counts what arrives below. The title
// counts what is unread, and on a phone the ☰ button has a dot while
// anything outside the open room is unread.
func TestBrowserNewLineAndCounts(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.phone()
	alice.sendOK("/join side")
	alice.wait(`parley.state().currentRoom === 'side'`)
	bob := dialUser(t, s.addr, "bob")
	bob.join("side")
	for i := range 30 {
		bob.say("side", "filler "+strconv.Itoa(i))
	}
	alice.wait(msgCount("filler 29") + ` === 1`)
	alice.openRoomOnPhone("general")
	alice.wait(`parley.state().currentRoom === 'general' && !document.querySelector('#sidebar-toggle.has-unread') && document.title === 'parley'`)

	for _, text := range []string{"one", "two", "three"} {
		bob.say("side", text)
	}
	alice.wait(`document.title === '(3) parley' && document.querySelector('#sidebar-toggle').classList.contains('has-unread') &&
		/unread/.test(document.querySelector('#sidebar-toggle').getAttribute('aria-label'))`)
	alice.axe("phone, the unread dot")
	alice.screenshot("phone-unread-dot.png")
	alice.openRoomOnPhone("side")
	alice.wait(`parley.state().currentRoom === 'side' && document.title === 'parley' && !document.querySelector('#sidebar-toggle.has-unread')`)
	line := `document.querySelector('#message-list .new-line')`
	alice.wait(`!!` + line + ` && ` + line + `.textContent === 'New' && ` + line + `.nextElementSibling.querySelector('.msg-body').textContent === 'one' &&
		document.querySelectorAll('#message-list .new-line').length === 1 && !` + line + `.nextElementSibling.classList.contains('grouped')`)
	alice.axe("phone, the New line")

	// Scrolled up, what arrives below is counted on the marker.
	alice.do(chromedp.Evaluate[chromedp.Void](`(() => { const l = document.querySelector('#message-list'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll')); })()`))
	alice.wait(`document.querySelector('#message-list').scrollTop === 0`)
	for _, text := range []string{"four", "five", "six"} {
		bob.say("side", text)
	}
	marker := `document.querySelector('#new-messages-marker')`
	alice.wait(`!` + marker + `.hidden && ` + marker + `.textContent === '3 new messages ↓'`)
	alice.click("#new-messages-marker")
	alice.wait(marker + `.hidden`)
	bob.say("side", "seven")
	alice.wait(shows("seven") + ` && ` + marker + `.hidden`)
	// Leaving and coming back with nothing unread: no "New" line.
	alice.openRoomOnPhone("general")
	alice.openRoomOnPhone("side")
	alice.wait(`parley.state().currentRoom === 'side' && !document.querySelector('#message-list .new-line')`)
}

// openRoomOnPhone opens room from the sidebar drawer, once it has slid in.
func (p *page) openRoomOnPhone(room string) {
	p.t.Helper()
	settled := `document.getAnimations().every((a) => a.playState !== 'running')`
	p.wait(settled) // a drawer sliding out still covers the button
	p.click("#sidebar-toggle")
	p.wait(`document.querySelector('#app').classList.contains('sidebar-open') && ` + settled)
	p.click(`#room-list li[data-room=` + js(room) + `] .room-open`)
	p.wait(`parley.state().currentRoom === ` + js(room) + ` && !document.querySelector('#app').classList.contains('sidebar-open')`)
}

// hide makes the page count as hidden (hidden = true) or visible, the way
// a switched-away tab is: document.visibilityState and document.hidden, and
// a visibilitychange event.
func (p *page) hide(hidden bool) {
	p.t.Helper()
	state := "visible"
	if hidden {
		state = "hidden"
	}
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		window.__visibility = ` + js(state) + `;
		if (!Object.getOwnPropertyDescriptor(document, 'visibilityState')) {
			Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => window.__visibility});
			Object.defineProperty(document, 'hidden', {configurable: true, get: () => window.__visibility === 'hidden'});
		}
		document.dispatchEvent(new Event('visibilitychange'));
	})()`))
}

// grantNotifications lets p's origin show notifications, and records every
// notification the page makes in window.__notes ({title, body, tag}).
func (p *page) grantNotifications(origin string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		c := chromedp.FromContext(p.ctx)
		_, err := cdp.Call(ctx, c.Browser, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted,
			Origin: origin, BrowserContextID: c.BrowserContextID,
		})
		return err
	}))
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		window.__notes = [];
		const Real = window.Notification;
		window.Notification = class extends Real {
			constructor(title, opts) {
				super(title, opts);
				window.__notes.push({title, body: opts && opts.body, tag: opts && opts.tag});
			}
		};
	})()`))
}

// Desktop notifications are opt-in, and come only while the page is
// hidden: for a private message, and for a room message that mentions us.
func TestBrowserNotifications(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.grantNotifications(strings.TrimSuffix(s.url(), "/"))
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")
	carol := dialUser(t, s.addr, "carol")
	carol.join("general")
	notes := `window.__notes.length`

	// Not opted in: nothing, hidden or not.
	alice.hide(true)
	bob.pm("alice", "before opting in")
	alice.wait(`!!document.querySelector('#dm-list li[data-user="bob"] .unread-badge')`)
	alice.wait(`document.title === '(1) parley'`)
	if n := eval[int](alice, notes); n != 0 {
		t.Errorf("not opted in: got %d notifications, want 0", n)
	}
	alice.hide(false)

	alice.wait(`!document.querySelector('#notify-setting').hidden && !document.querySelector('#notify-toggle').checked`)
	alice.click("#notify-toggle")
	alice.wait(`document.querySelector('#notify-toggle').checked && localStorage.getItem('parley.notify') === 'on'`)

	// Visible: the page shows it, no notification.
	bob.pm("alice", "while visible")
	alice.wait(`[...document.querySelectorAll('#dm-list .unread-badge')].some((b) => b.textContent === '2')`)
	if n := eval[int](alice, notes); n != 0 {
		t.Errorf("visible: got %d notifications, want 0", n)
	}

	alice.hide(true)
	bob.pm("alice", "ping **now**")
	alice.wait(notes + ` === 1`)
	if got := eval[string](alice, `JSON.stringify(window.__notes[0])`); got != `{"title":"bob (private message)","body":"ping **now**","tag":"parley-dm-bob"}` {
		t.Errorf("got notification %s", got)
	}

	// A room message that does not mention alice: none. One that does
	// (the server lists it in the message's mentions): one.
	bob.say("general", "no mention here")
	alice.wait(msgCount("no mention here") + ` === 1`)
	bob.say("general", "@alice look")
	mentioned := carol.expect(func(m map[string]any) bool { return m["type"] == "Message" && m["content"] == "@alice look" })
	alice.wait(msgCount("@alice look") + ` === 1`)
	if _, ok := mentioned["mentions"]; ok {
		alice.wait(notes + ` === 2 && window.__notes[1].title === 'bob mentioned you in #general' && window.__notes[1].body === '@alice look'`)
	} else {
		t.Log("this server sends no mentions yet: only the private message notifies")
		if n := eval[int](alice, notes); n != 1 {
			t.Errorf("got %d notifications, want 1", n)
		}
	}
	// Opting out: none again.
	alice.hide(false)
	alice.click("#notify-toggle")
	alice.wait(`!document.querySelector('#notify-toggle').checked && localStorage.getItem('parley.notify') === null`)
	before := eval[int](alice, notes)
	title := eval[string](alice, `document.title`)
	alice.hide(true)
	bob.pm("alice", "after opting out")
	alice.wait(`document.title !== ` + js(title))
	if n := eval[int](alice, notes); n != before {
		t.Errorf("opted out: got %d notifications, want %d", n, before)
	}
}

// An account's page reloaded with messages it has not seen in the room it
// shows: the "New" line is above the first of them (the server's count).
func TestBrowserNewLineAfterReload(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	annWS := dialAccount(t, s.addr, registerAPI(t, s, "Ann"))
	ann := newPage(t, s.url(), "Ann")
	ann.signIn("Ann", syncPW)
	ann.wait(accountChat("Ann"))
	ann.emulateFocus()
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")
	seen := bob.say("general", "seen one")
	ann.wait(shows("seen one"))
	annWS.expect(func(m map[string]any) bool {
		return m["type"] == "ReadMarker" && m["room"] == "general" && m["id"] == seen
	})

	ann.hide(true) // what arrives now is not read
	for _, text := range []string{"unseen 1", "unseen 2", "unseen 3"} {
		bob.say("general", text)
	}
	ann.wait(shows("unseen 3"))
	ann.do(chromedp.Reload())
	ann.wait(accountChat("Ann") + ` && ` + shows("unseen 3"))
	line := `document.querySelector('#message-list .new-line')`
	ann.wait(`!!` + line + ` && ` + line + `.nextElementSibling.querySelector('.msg-body').textContent === 'unseen 1' &&
		document.querySelectorAll('#message-list .new-line').length === 1`)
}

// An account's private conversation opened with unread messages: its
// first page comes from the server, with the "New" line in it above the
// first message not read.
func TestBrowserNewLineInConversation(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	annWS := dialAccount(t, s.addr, registerAPI(t, s, "Ann"))
	ben := dialAccount(t, s.addr, registerAPI(t, s, "Ben"))
	ann := newPage(t, s.url(), "Ann")
	ann.signIn("Ann", syncPW)
	ann.wait(accountChat("Ann"))
	ben.pm("Ann", "read already")
	ann.wait(dmBadge("Ben") + ` === '1'`)
	ann.click(`#dm-list li[data-user="Ben"] .dm-open`)
	ann.wait(`parley.state().currentDm === 'Ben' && ` + shows("read already") + ` &&
		document.querySelector('#message-list .new-line')?.nextElementSibling.querySelector('.msg-body').textContent === 'read already'`)
	annWS.expect(func(m map[string]any) bool { return m["type"] == "ReadMarker" && m["with"] == "Ben" })
	ann.click(`#room-list li[data-room="general"] .room-open`)
	for _, text := range []string{"new 1", "new 2"} {
		ben.pm("Ann", text)
	}
	ann.wait(dmBadge("Ben") + ` === '2'`)
	ann.do(chromedp.Reload()) // the conversation is not on the page any more: only its count
	ann.wait(accountChat("Ann") + ` && ` + dmBadge("Ben") + ` === '2'`)
	ann.click(`#dm-list li[data-user="Ben"] .dm-open`)
	line := `document.querySelector('#message-list .new-line')`
	ann.wait(`parley.state().currentDm === 'Ben' && ` + shows("new 2") + ` && ` + shows("read already") + ` && !!` + line + ` &&
		` + line + `.nextElementSibling.querySelector('.msg-body').textContent === 'new 1'`)
}
