package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Hostile text in messages (typed in the page, or sent by a client that skips
// the page), in a private message, in a room name and in a name renders as
// text and runs nothing, under the server's CSP.
func TestBrowserXSS(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	victim := newPage(t, s.url(), "victim")
	victim.login("victim")

	// First prove that the page's watcher sees a CSP violation: an image from
	// another origin breaks img-src 'self'.
	victim.expectCSP(1)
	eval[bool](victim, `(() => { const i = new Image(); i.src = 'http://127.0.0.2:9/probe.png'; document.body.append(i); i.remove(); return true; })()`)
	victim.waitCSPSeen()

	mallory := newPage(t, s.url(), "mallory")
	mallory.login("mallory")
	payloads := []string{
		`<img src=x onerror="window.__xss=1">`,
		`<script>window.__xss=1</script>`,
		`javascript:window.__xss=1 or [click](javascript:window.__xss=1)`,
		`see https://example.com/"onmouseover="window.__xss=1" x`,
		`<a href="javascript:window.__xss=1">link</a> &lt;b&gt;not bold&lt;/b&gt; <style>body{display:none}</style>`,
		`<svg/onload=window.__xss=1><iframe srcdoc="<script>parent.__xss=1</script>">`,
	}
	for _, p := range payloads {
		mallory.sendOK(p)
		mallory.wait(shows(p))
	}
	// The same, from a client that is not the page (no composer in between),
	// to the room and privately.
	eve := dialUser(t, s.addr, "eve")
	eve.join("general")
	raw := `<img src=x onerror="window.__xss=2"><b>bold?</b>`
	eve.say("general", raw)
	eve.pm("victim", raw)
	for _, p := range append(payloads, raw) {
		victim.wait(shows(p))
	}
	victim.wait(`document.querySelector('#dm-list li[data-user="eve"] .unread-badge')?.textContent === '1'`)

	// Room names and user names are restricted (by the page, and by the server).
	badRoom := `<img/src=x/onerror=window.__xss=3>`
	victim.send("/join " + badRoom)
	victim.wait(`[...document.querySelectorAll('#message-list .system-line.error')].some((l) => l.textContent.includes(` + js(badRoom) + `))`)
	// A refused command stays in the composer, to be fixed.
	victim.wait(`document.querySelector('#message-input').value === ` + js("/join "+badRoom))
	eval[bool](victim, `(() => { const i = document.querySelector('#message-input'); i.value = ''; i.dispatchEvent(new Event('input')); return true; })()`)
	victim.do(chromedp.SendKeys(chromedp.ID("new-room-input"), `<script>window.__xss=4</script>`), chromedp.Click(chromedp.ID("new-room-submit")))
	// The room box reports it next to itself, as text.
	victim.wait(`document.querySelector('#new-room-error').textContent.includes('<script>window.__xss=4</script>') &&
		!document.querySelector('#new-room-error *')`)
	if r := eve.try(map[string]any{"type": "JoinRoom", "room": badRoom}); r["code"] != "invalid_room" {
		t.Errorf("the server let a client join %q: %v", badRoom, r)
	}
	if r := eve.try(map[string]any{"type": "SetUsername", "username": `<b>eve</b>`}); r["code"] != "invalid_username" {
		t.Errorf("the server let a client take the name <b>eve</b>: %v", r)
	}

	checkInert := func(p *page) {
		t.Helper()
		// Give anything that might run (an image error, a load event) time to do so.
		time.Sleep(300 * time.Millisecond)
		bad := eval[string](p, `(() => {
			if (window.__xss !== undefined || parent.__xss !== undefined) return 'window.__xss = ' + window.__xss;
			const list = document.querySelector('#message-list');
			const el = list.querySelector('.msg-body img, .msg-body script, .msg-body svg, .msg-body iframe, .msg-body style, .msg-body b, .system-line *');
			if (el) return 'an element was made from user text: ' + el.outerHTML;
			for (const e of document.querySelectorAll('#app *')) {
				for (const a of e.attributes) if (/^on/i.test(a.name)) return 'event handler attribute ' + a.name + ' on ' + e.tagName;
			}
			for (const a of list.querySelectorAll('a')) {
				if (!a.classList.contains('msg-link') || !/^https?:$/.test(new URL(a.href).protocol)) return 'unexpected link ' + a.outerHTML;
			}
			const links = [...list.querySelectorAll('a.msg-link')].map((a) => a.href);
			if (links.length !== 1 || links[0] !== 'https://example.com/') return 'links: ' + JSON.stringify(links);
			return getComputedStyle(document.body).display === 'none' ? 'a style was applied' : '';
		})()`)
		if bad != "" {
			p.fail("%s", bad)
		}
	}
	checkInert(victim)
	checkInert(mallory)
	// Visible, literally, on screen.
	for _, p := range payloads {
		victim.wait(`[...document.querySelectorAll('#message-list .message .msg-body')].some((b) => b.textContent === ` + js(p) + ` && b.getClientRects().length > 0)`)
	}
	victim.click(`#dm-list li[data-user="eve"] .dm-open`)
	victim.wait(`parley.state().currentDm === 'eve' && ` + shows(raw))
	if got := eval[string](victim, `document.querySelector('#message-list .message .msg-body').innerHTML`); !strings.HasPrefix(got, "&lt;img") {
		t.Errorf("the private message's body is %q, want escaped text", got)
	}
	checkInertDM := eval[string](victim, `window.__xss === undefined && !document.querySelector('#message-list .msg-body *') ? '' : 'private message made elements'`)
	if checkInertDM != "" {
		victim.fail("%s", checkInertDM)
	}
}

// expectCSP says that the test is about to cause n CSP violations on purpose.
func (p *page) expectCSP(n int) {
	p.mu.Lock()
	p.expectedCSP += n
	p.mu.Unlock()
}

// waitCSPSeen waits until the page's watcher has seen the violations expectCSP announced.
func (p *page) waitCSPSeen() {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		p.mu.Lock()
		n := p.expectedCSP
		p.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.fail("the CSP violation caused on purpose was not reported: the console watcher is blind")
		}
		time.Sleep(pollEvery)
	}
}
