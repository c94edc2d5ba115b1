package client_test

// What a review of the web client found, one test each: the phone drawers
// trap the keyboard's focus, the reconnect banner leaves the header alone,
// the room box reports its own errors, presence churn from a reload is
// quiet, a refused /nick keeps its text, a failed message stays in its
// bubble only, the sidebar's text is readable, badges and counts have room,
// and avatar colours are told apart.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"parley/actors"
	parley "parley/internal/server"
)

// phone puts p in a phone's viewport and waits for the layout to follow.
func (p *page) phone() {
	p.t.Helper()
	p.viewport(390, 844, true)
	p.wait(`innerWidth === 390 && getComputedStyle(document.querySelector('#sidebar-toggle')).display !== 'none'`)
}

// On a phone, a drawer opened from the keyboard takes the focus, keeps it
// while Tab and Shift+Tab go round, and Escape closes it and gives the focus
// back to the button that opened it.
func TestBrowserDrawerFocusTrap(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.wait(`!!document.querySelector('#member-list li[data-user="bob"]')`)
	alice.phone()

	inside := func(panel string) string {
		return `document.querySelector(` + js(panel) + `).contains(document.activeElement)`
	}
	for _, d := range []struct{ toggle, panel, open string }{
		{"#sidebar-toggle", "#sidebar", "sidebar-open"},
		{"#members-toggle", "#member-panel", "members-open"},
	} {
		alice.do(chromedp.Focus(chromedp.CSS(d.toggle)))
		alice.do(chromedp.KeyEvent(kb.Enter))
		alice.wait(`document.querySelector('#app').classList.contains(` + js(d.open) + `) && ` + inside(d.panel))
		for _, shift := range []bool{false, true} {
			for i := range 25 {
				if shift {
					alice.do(chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
				} else {
					alice.do(chromedp.KeyEvent(kb.Tab))
				}
				if !eval[bool](alice, inside(d.panel)) {
					got := eval[string](alice, `(() => { const a = document.activeElement; return a ? a.tagName + '#' + a.id + '.' + a.className : 'none'; })()`)
					t.Fatalf("%s: after %d Tab (shift %v) the focus is on %s, want it inside %s", d.panel, i+1, shift, got, d.panel)
				}
			}
		}
		alice.do(chromedp.KeyEvent(kb.Escape))
		alice.wait(`!document.querySelector('#app').classList.contains(` + js(d.open) + `) && document.querySelector('#drawer-backdrop').hidden`)
		if got := eval[string](alice, `'#' + document.activeElement.id`); got != d.toggle {
			t.Errorf("after Escape the focus is on %s, want %s", got, d.toggle)
		}
	}
}

// On a phone, the reconnect banner does not cover the conversation's header.
func TestBrowserBannerClearsHeader(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.phone()
	alice.setServerDown(true)
	s.stop()
	alice.wait(`!document.querySelector('#conn-banner').hidden && document.body.dataset.conn === 'offline' && ` +
		`document.getAnimations().every((a) => a.playState !== 'running')`)
	got := eval[string](alice, `(() => {
		const r = (sel) => { const b = document.querySelector(sel).getBoundingClientRect(); return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
		const b = r('#conn-banner'), h = r('.chat-header'), c = r('#composer');
		const overlap = b.top < h.bottom && h.top < b.bottom && b.left < h.right && h.left < b.right;
		const problems = [];
		if (overlap) problems.push('banner ' + JSON.stringify(b) + ' overlaps header ' + JSON.stringify(h));
		if (c.bottom > innerHeight) problems.push('composer pushed off screen: bottom ' + c.bottom + ' > ' + innerHeight);
		if (document.documentElement.scrollHeight > innerHeight) problems.push('page scrolls: ' + document.documentElement.scrollHeight + ' > ' + innerHeight);
		return problems.join('; ');
	})()`)
	if got != "" {
		t.Errorf("got %s, want the banner clear of the header and the chat on screen", got)
	}
}

// A bad name in the room box is reported next to the box, not in the
// conversation; the report goes when the name is fixed.
func TestBrowserRoomBoxError(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	lines := `document.querySelectorAll('#message-list .system-line').length`
	before := eval[int](alice, lines)
	alice.do(chromedp.SetValue(chromedp.ID("new-room-input"), "no spaces here"), chromedp.Click(chromedp.ID("new-room-submit")))
	alice.wait(`(() => {
		const i = document.querySelector('#new-room-input'), e = document.querySelector('#new-room-error');
		if (!e || !e.textContent.includes('not a valid room name')) return false;
		const ir = i.getBoundingClientRect(), er = e.getBoundingClientRect();
		return i.getAttribute('aria-invalid') === 'true' && (i.getAttribute('aria-describedby') || '').split(' ').includes('new-room-error') &&
			e.getAttribute('role') === 'alert' && er.top >= ir.top && er.top - ir.bottom < 40 && document.querySelector('#sidebar').contains(e);
	})()`)
	if got := eval[int](alice, lines); got != before {
		t.Errorf("got %d lines in the conversation after a bad room name, want %d (the error belongs next to the field)", got, before)
	}
	// Fixing the name clears the report; the room is joined.
	eval[bool](alice, `(document.querySelector('#new-room-input').value = '', true)`)
	alice.do(chromedp.SendKeys(chromedp.ID("new-room-input"), "fresh-room"))
	alice.wait(`document.querySelector('#new-room-error').textContent === '' && document.querySelector('#new-room-input').getAttribute('aria-invalid') !== 'true'`)
	alice.click("#new-room-submit")
	alice.wait(`parley.state().currentRoom === 'fresh-room' && document.querySelector('#new-room-input').value === ''`)
}

// A reload is a leave and a join of the same person a moment apart: the
// others see nothing of it. A real leave is still told, a little later, and
// a new person's join at once.
func TestBrowserPresenceChurn(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	bob := newPage(t, s.url(), "bob")
	bob.login("bob")
	presence := func(who string) string {
		return `[...document.querySelectorAll('#message-list .system-line.presence')].filter((l) => l.textContent.startsWith(` + js(who+" ") + `)).map((l) => l.textContent)`
	}
	alice.wait(`JSON.stringify(` + presence("bob") + `) === '["bob joined #general."]'`)

	bob.do(chromedp.Reload())
	bob.wait(`window.parley && parley.state().connected && parley.state().username === 'bob' && parley.state().currentRoom === 'general'`)
	bob.sendOK("back after a reload")
	// The message follows the leave and the join in the room's order.
	alice.wait(shows("back after a reload"))
	if got := eval[[]string](alice, presence("bob")); len(got) != 1 {
		t.Errorf("after bob's reload alice sees %q, want only the first join", got)
	}

	carol := dialUser(t, s.addr, "carol")
	carol.join("general")
	alice.wait(`JSON.stringify(` + presence("carol") + `) === '["carol joined #general."]'`)
	carol.request(map[string]any{"type": "LeaveRoom", "room": "general"})
	alice.wait(`JSON.stringify(` + presence("carol") + `) === '["carol joined #general.","carol left #general."]'`)
}

// /nick to a name in use keeps the line in the composer to be corrected; a
// rename that works clears it.
func TestBrowserNickTakenKeepsText(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	dialUser(t, s.addr, "bob").join("general")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.send("/nick bob")
	alice.wait(`[...document.querySelectorAll('#message-list .system-line.error')].some((l) => l.textContent.startsWith('Could not change your name'))`)
	if got := eval[string](alice, `document.querySelector('#message-input').value`); got != "/nick bob" {
		t.Errorf("got composer %q after a refused /nick, want %q", got, "/nick bob")
	}
	eval[bool](alice, `(document.querySelector('#message-input').value = '', true)`)
	alice.sendOK("/nick alicia")
	alice.wait(`parley.state().username === 'alicia'`)
}

// A message the server refuses stays in its bubble, marked, with Retry and
// Discard; its text is not copied back into the composer as well.
func TestBrowserFailedSendStaysInBubble(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.sendOK("/pm nobody are you there?")
	failed := `parley.state().failed === 1 && document.querySelector('#message-list .message.failed .msg-body')?.textContent === 'are you there?' &&
		!!document.querySelector('#message-list .message.failed button[data-action="retry"]') &&
		!!document.querySelector('#message-list .message.failed button[data-action="discard"]')`
	alice.wait(failed)
	if got := eval[string](alice, `document.querySelector('#message-input').value`); got != "" {
		t.Errorf("got composer %q after a failed send, want it empty (the text stays in the failed bubble)", got)
	}
	// Retry sends it again (and fails again: nobody is still not there). The
	// click's handler has made it pending by the time the click returns.
	alice.click(`#message-list .message.failed button[data-action="retry"]`)
	alice.wait(failed + ` && (` + msgCount("are you there?") + `) === 1`)
	if got := eval[string](alice, `document.querySelector('#message-input').value`); got != "" {
		t.Errorf("got composer %q after a failed retry, want it empty", got)
	}
	alice.click(`#message-list .message.failed button[data-action="discard"]`)
	alice.wait(`parley.state().failed === 0 && !document.querySelector('#message-list .message')`)
}

// contrastProblems is a JS expression: every piece of text in root (and
// its fields' placeholders) whose contrast with what is behind it is under
// 4.5:1, as a list of descriptions. Opacity and translucent backgrounds are
// composited.
func contrastProblems(root string) string {
	return `(() => {
		const parse = (c) => {
			const m = /rgba?\(([^)]+)\)/.exec(c);
			if (!m) return null;
			const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
			return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
		};
		const over = (fg, bg) => [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3])).concat(1);
		const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
			return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
		const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
		const behind = (el) => {
			const chain = [];
			for (let e = el; e; e = e.parentElement) chain.unshift(e);
			let bg = [255, 255, 255, 1];
			for (const e of chain) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) bg = over(c, bg); }
			return bg;
		};
		const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
		const problems = [];
		const check = (el, color, what) => {
			const fg = parse(color);
			fg[3] *= opacity(el);
			const bg = behind(el), r = ratio(over(fg, bg), bg);
			if (r < 4.5) problems.push(r.toFixed(2) + ':1 for ' + JSON.stringify(what) + ' (' + color + ' on rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + '))');
		};
		const root = document.querySelector(` + js(root) + `);
		const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n; n = walk.nextNode()) {
			const el = n.parentElement;
			if (!n.textContent.trim() || el.closest('.visually-hidden') || !el.checkVisibility({visibilityProperty: true})) continue;
			check(el, getComputedStyle(el).color, n.textContent.trim());
		}
		for (const i of root.querySelectorAll('input[placeholder]')) {
			if (i.checkVisibility({visibilityProperty: true})) check(i, getComputedStyle(i, '::placeholder').color, i.placeholder);
		}
		return problems;
	})()`
}

// Every text in the sidebar (a current room, joined and other rooms, an
// unread badge, a private conversation, the notes) has a contrast of at
// least 4.5:1, in light and dark.
func TestBrowserSidebarContrast(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")
	bob.join("random")
	bob.join("side")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.sendOK("/join side")
	alice.wait(`parley.state().currentRoom === 'side'`)
	alice.click(`#room-list li[data-room="general"] .room-open`)
	alice.wait(`parley.state().currentRoom === 'general'`)
	bob.say("side", "unread over here")
	bob.pm("alice", "and a private word")
	alice.wait(`!!document.querySelector('#room-list li[data-room="side"] .unread-badge') && !!document.querySelector('#dm-list li[data-user="bob"] .unread-badge') &&
		!!document.querySelector('#room-list li[data-room="random"]:not(.joined)')`)
	eval[bool](alice, `(document.activeElement.blur(), true)`)
	for _, scheme := range []string{"light", "dark"} {
		alice.colorScheme(scheme)
		alice.wait(`matchMedia('(prefers-color-scheme: ` + scheme + `)').matches && document.getAnimations().every((a) => a.playState !== 'running')`)
		if got := eval[[]string](alice, contrastProblems("#sidebar")); len(got) > 0 {
			t.Errorf("%s: got %s, want every sidebar text at 4.5:1 or more", scheme, strings.Join(got, "; "))
		}
	}
}

// A room's unread badge and member count have room between them (12px: at
// the 8px of the flex gap alone, "2 2" read as one number), also with a long
// name and a "99+", at desktop and phone widths; neither shrinks.
func TestBrowserBadgeRoom(t *testing.T) {
	needBrowser(t)
	s := startServerConfig(t, "", parley.Config{Hub: actors.Config{Limits: actors.Limits{RatePerSec: 1000, RateBurst: 1000}}})
	long := strings.Repeat("long-room-name-", 4)[:60]
	bob := dialUser(t, s.addr, "bob")
	for _, r := range []string{"general", "a", long} {
		bob.join(r)
	}
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	for _, r := range []string{"a", long} {
		alice.sendOK("/join " + r)
		alice.wait(`parley.state().currentRoom === ` + js(r))
	}
	alice.click(`#room-list li[data-room="general"] .room-open`)
	alice.wait(`parley.state().currentRoom === 'general'`)
	for i := range 3 {
		bob.say("a", fmt.Sprintf("a %d", i))
	}
	for i := range 100 {
		bob.say(long, fmt.Sprintf("long %d", i))
	}
	alice.wait(`document.querySelector('#room-list li[data-room="a"] .unread-badge')?.textContent === '3' &&
		document.querySelector('#room-list li[data-room=` + js(long) + `] .unread-badge')?.textContent === '99+'`)
	crowded := `[...document.querySelectorAll('#room-list .room-open')].filter((o) => o.querySelector('.unread-badge')).flatMap((o) => {
		const b = o.querySelector('.unread-badge'), c = o.querySelector('.room-count');
		const br = b.getBoundingClientRect(), cr = c.getBoundingClientRect(), or = o.getBoundingClientRect();
		const out = [];
		if (cr.left - br.right < 12) out.push(o.parentElement.dataset.room + ': badge ends at ' + br.right + ', count starts at ' + cr.left);
		if (b.scrollWidth > b.clientWidth + 1) out.push(o.parentElement.dataset.room + ': badge text overflows (' + b.scrollWidth + ' > ' + b.clientWidth + ')');
		if (cr.right > or.right + 0.5) out.push(o.parentElement.dataset.room + ': count outside its button');
		return out;
	})`
	for _, size := range []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		alice.viewport(size.w, size.h, size.mobile)
		if size.mobile {
			alice.wait(`innerWidth === 390`)
			alice.click("#sidebar-toggle")
		}
		alice.wait(`innerWidth === ` + fmt.Sprint(size.w) + ` && document.getAnimations().every((a) => a.playState !== 'running')`)
		if got := eval[[]string](alice, crowded); len(got) > 0 {
			t.Errorf("%s: got %s, want at least 12px between badge and count, both inside the item", size.name, strings.Join(got, "; "))
		}
	}
}

// Avatar colours are told apart: any two of the palette differ by a CIE76
// ΔE of at least 25, and so do the people of a room (the screenshots').
func TestBrowserAvatarColours(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	people := []string{"alex", "priya", "jonas", "maya"}
	for _, n := range people {
		dialUser(t, s.addr, n).join("general")
	}
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.wait(`document.querySelectorAll('#member-list li').length === 5`)
	lab := `const lab = (c) => {
		const p = /rgba?\(([^)]+)\)/.exec(c)[1].split(/[\s,\/]+/).map(Number);
		const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
		const [r, g, b] = p.slice(0, 3).map(f);
		const t = (v) => (v > 0.008856 ? Math.cbrt(v) : 7.787 * v + 16 / 116);
		const x = t((r * 0.4124 + g * 0.3576 + b * 0.1805) / 0.95047), y = t(r * 0.2126 + g * 0.7152 + b * 0.0722), z = t((r * 0.0193 + g * 0.1192 + b * 0.9505) / 1.08883);
		return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
	};
	const close = (named) => {
		const out = [];
		for (let i = 0; i < named.length; i++) for (let j = i + 1; j < named.length; j++) {
			const a = lab(named[i][1]), b = lab(named[j][1]), d = Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
			if (d < 25) out.push(named[i][0] + ' ' + named[i][1] + ' and ' + named[j][0] + ' ' + named[j][1] + ': ΔE ' + d.toFixed(1));
		}
		return out;
	};`
	for _, scheme := range []string{"light", "dark"} {
		alice.colorScheme(scheme)
		alice.wait(`matchMedia('(prefers-color-scheme: ` + scheme + `)').matches`)
		got := eval[[]string](alice, `(() => { `+lab+`
			const classes = new Set();
			for (const sheet of document.styleSheets) for (const r of sheet.cssRules) {
				for (const m of (r.selectorText || '').matchAll(/\.(hue-\d+)\b/g)) classes.add(m[1]);
			}
			const palette = [...classes].map((c) => {
				const s = document.createElement('span');
				s.className = 'avatar ' + c;
				document.body.append(s);
				const bg = getComputedStyle(s).backgroundColor;
				s.remove();
				return [c, bg];
			});
			const members = [...document.querySelectorAll('#member-list li')].map((li) => [li.dataset.user, getComputedStyle(li.querySelector('.avatar')).backgroundColor]);
			return [palette.length < 8 ? 'only ' + palette.length + ' colours' : '', ...close(palette), ...close(members)].filter(Boolean);
		})()`)
		if len(got) > 0 {
			t.Errorf("%s: got %s, want every two avatar colours ΔE ≥ 25 apart", scheme, strings.Join(got, "; "))
		}
	}
}
