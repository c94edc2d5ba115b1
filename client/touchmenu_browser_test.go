package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// touch presses a finger on the middle of the element sel (scrolled into
// view) for hold, and lifts it: a tap, or with a long hold a long-press.
func (p *page) touch(sel string, hold time.Duration) {
	p.t.Helper()
	// The finger lands on the element itself, not on a panel still sliding
	// away above it (the drawers move when the viewport changes).
	at := `(() => {
		const e = document.querySelector(` + js(sel) + `);
		if (!e) return null;
		e.scrollIntoView({ block: 'nearest' });
		const r = e.getBoundingClientRect();
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		return document.getAnimations().every((a) => a.playState !== 'running') && e.contains(document.elementFromPoint(x, y)) ? [x, y] : null;
	})()`
	p.wait(at + ` !== null`)
	pt := eval[[]float64](p, at)
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{
			Type: input.DispatchTouchEventTypeTouchStart, TouchPoints: []*input.TouchPoint{{X: pt[0], Y: pt[1]}},
		}); err != nil {
			return err
		}
		select {
		case <-time.After(hold):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{
			Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{},
		})
		return err
	}))
}

// tap taps the element sel.
func (p *page) tap(sel string) { p.t.Helper(); p.touch(sel, 0) }

// shownActions is a JS expression: the ids of the messages whose actions
// are visible.
const shownActions = `[...document.querySelectorAll('#message-list .message')].filter((m) => {
	const a = m.querySelector(':scope > .msg-actions');
	return a && getComputedStyle(a).visibility === 'visible' && getComputedStyle(a).display !== 'none';
}).map((m) => m.dataset.id)`

// On a phone (touch, no hover) no message shows its actions until it is
// tapped; a tap on another message moves them there, a tap elsewhere, a
// second tap or Esc hides them; a long-press shows them too; keyboard focus
// in a message still shows them; an action tapped works.
func TestBrowserTouchMessageActions(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)
	bob.sendOK("first from bob")
	alice.sendOK("second from alice")
	alice.wait(shows("first from bob") + ` && ` + shows("second from alice"))
	alice.phone()
	alice.wait(`matchMedia('(hover: none)').matches`)
	idOf := func(text string) string {
		return eval[string](alice, `[...document.querySelectorAll('#message-list .message')].find((m) => m.querySelector('.msg-body').textContent === `+js(text)+`).dataset.id`)
	}
	bobs, alices := idOf("first from bob"), idOf("second from alice")
	bobMsg, aliceMsg := `#message-list .message[data-id="`+bobs+`"]`, `#message-list .message[data-id="`+alices+`"]`
	shown := func(ids ...string) string {
		want := "[]"
		if len(ids) > 0 {
			want = `["` + ids[0] + `"]`
		}
		return `JSON.stringify(` + shownActions + `) === ` + js(want)
	}

	if got := eval[[]string](alice, shownActions); len(got) != 0 {
		t.Errorf("on a phone before any tap: got actions shown on %v, want none", got)
	}
	alice.tap(bobMsg + ` .msg-body`)
	alice.wait(shown(bobs))
	alice.tap(aliceMsg + ` .msg-body`)
	alice.wait(shown(alices) + ` && !!document.querySelector(` + js(aliceMsg+` .msg-actions button[data-action="edit"]`) + `)`)
	alice.tap(aliceMsg + ` .msg-body`) // a second tap
	alice.wait(shown())
	alice.tap(bobMsg + ` .msg-body`)
	alice.wait(shown(bobs))
	alice.tap(`#conv-title`) // elsewhere
	alice.wait(shown())
	alice.tap(bobMsg + ` .msg-body`)
	alice.wait(shown(bobs))
	alice.do(chromedp.KeyEvent(kb.Escape))
	alice.wait(shown())

	// A long-press.
	alice.touch(aliceMsg+` .msg-body`, 800*time.Millisecond)
	alice.wait(shown(alices))
	alice.tap(`#conv-title`)
	alice.wait(shown())

	// Keyboard focus in a message (its link) shows them without a tap.
	bob.sendOK("docs: https://example.com/x")
	alice.wait(`!!document.querySelector('#message-list .message a.msg-link')`)
	links := `#message-list .message[data-id="` + eval[string](alice, `document.querySelector('#message-list .message a.msg-link').closest('.message').dataset.id`) + `"]`
	alice.do(chromedp.Focus(chromedp.CSS(links + ` a.msg-link`)))
	alice.wait(`JSON.stringify(` + shownActions + `) === JSON.stringify([document.querySelector(` + js(links) + `).dataset.id])`)
	alice.do(chromedp.Blur(chromedp.CSS(links + ` a.msg-link`)))
	alice.wait(shown())

	// An action tapped once shown does what it says.
	alice.tap(bobMsg + ` .msg-body`)
	alice.wait(shown(bobs))
	alice.tap(bobMsg + ` .msg-actions button[data-action="quote"]`)
	alice.wait(`document.querySelector('#message-input').value === '> first from bob\n@bob '`)
	alice.tap(aliceMsg + ` .msg-body`)
	alice.tap(aliceMsg + ` .msg-actions button[data-action="edit"]`)
	alice.wait(`!!document.querySelector(` + js(aliceMsg+` .msg-editor`) + `)`)
}

// act clicks a message's action button, once reveal has shown it.
func (p *page) act(msg, action string) {
	p.t.Helper()
	p.reveal(msg, action)
	p.click(msg + ` .msg-actions button[data-action="` + action + `"]`)
}

// reveal shows a message's actions (its action button among them). Where
// nothing hovers (a touch screen, and the headless browser: its
// (hover: none) matches, phone or not) they are hidden until the message
// is tapped, so it clicks the message's text, as its user would, unless
// they are shown.
func (p *page) reveal(msg, action string) {
	p.t.Helper()
	btn := msg + ` .msg-actions button[data-action="` + action + `"]`
	visible := `getComputedStyle(document.querySelector(` + js(btn) + `)).visibility === 'visible'`
	p.wait(`!!document.querySelector(` + js(btn) + `)`)
	if !eval[bool](p, visible) {
		p.click(msg + ` > .msg-body`)
		p.wait(visible)
	}
}
