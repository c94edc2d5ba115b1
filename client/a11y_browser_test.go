package client_test

import (
	_ "embed"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// axeSource is axe-core (testdata/axe/README.md).
//
//go:embed testdata/axe/axe.min.js
var axeSource string

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core's rules on the page as it is, and fails the test for
// each serious or critical violation.
func (p *page) axe(screen string) {
	p.t.Helper()
	if !eval[bool](p, `typeof window.axe === 'object'`) {
		// Evaluated through the DevTools protocol: not subject to the page's CSP.
		p.do(chromedp.Evaluate[chromedp.Void](axeSource + "\n;undefined"))
	}
	// Let transitions (a drawer sliding in) end: axe reads colours as shown.
	p.wait(`document.getAnimations().every((a) => a.playState !== 'running')`)
	out := evalAsync[string](p, `axe.run(document, {resultTypes: ['violations']}).then((r) => JSON.stringify(
		r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 6).map((n) => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\s+/g, ' ')),
		}))))`)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		p.fail("axe on %s: %v: %s", screen, err, out)
	}
	for _, v := range vs {
		p.t.Errorf("%s: axe %s (%s): %s\n\t%s", screen, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
}

// Every screen passes axe-core with no serious or critical violation, in
// light and dark: sign-in, create an account, the guest's name, the chat
// (formatted messages, day separators, the New line, an own message's
// menu, a failed send), a private conversation, the account's password
// dialog, and on a phone both drawers open.
func TestBrowserA11yAxe(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")
	bob.say("general", "formatted: **bold** *it* ~~old~~ `code` https://example.com\n> a quote\n```\nfn main() { println!(\"a long line that scrolls sideways, far beyond the width of the message list on any screen\"); }\n```")

	for _, scheme := range []string{"light", "dark"} {
		ann := newPage(t, s.url(), "Ann "+scheme)
		ann.colorScheme(scheme)
		ann.wait(`document.body.dataset.screen === 'signin'`)
		ann.axe(scheme + " sign-in")
		ann.click("#signin-mode")
		ann.wait(`document.querySelector('#signin-title').textContent === 'Create an account'`)
		ann.axe(scheme + " create an account")
		name := "Ann" + scheme
		ann.signIn(name, "correct horse battery")
		ann.wait(accountChat(name))
		ann.wait(`[...document.querySelectorAll('#message-list .msg-body')].some((b) => b.textContent.startsWith('formatted'))`)
		ann.sendOK("my own message, " + scheme)
		ann.wait(shows("my own message, " + scheme))
		ann.axe(scheme + " chat")
		ann.click("#password-button")
		ann.wait(`document.querySelector('#password-dialog').open`)
		ann.axe(scheme + " password dialog")
		ann.click("#password-cancel")
		ann.wait(`!document.querySelector('#password-dialog').open`)

		bob.pm(name, "a private hello, "+scheme)
		ann.click(`#dm-list li[data-user="bob"] .dm-open`)
		ann.wait(`parley.state().currentDm === 'bob' && ` + shows("a private hello, "+scheme))
		ann.axe(scheme + " private conversation")

		ann.phone()
		ann.axe(scheme + " phone chat")
		ann.click("#sidebar-toggle")
		ann.wait(`document.querySelector('#app').classList.contains('sidebar-open')`)
		ann.axe(scheme + " phone rooms drawer")
		ann.do(chromedp.KeyEvent(kb.Escape))
		ann.wait(`!document.querySelector('#app').classList.contains('sidebar-open') && document.getAnimations().every((a) => a.playState !== 'running')`)
		ann.click("#members-toggle")
		ann.wait(`document.querySelector('#app').classList.contains('members-open')`)
		ann.axe(scheme + " phone members drawer")

		guest := newPage(t, s.url(), "guest "+scheme)
		guest.colorScheme(scheme)
		guest.click("#guest-button")
		guest.wait(`document.body.dataset.screen === 'name'`)
		guest.axe(scheme + " guest name")
		guest.guestName("gus" + scheme)
		guest.wait(`parley.state().connected && parley.state().screen === 'chat'`)
		guest.axe(scheme + " guest chat")
	}
}
