package client_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// mdOnly is a JS function body's check over one message body b: it holds
// only the elements the Markdown subset makes, links only to http(s) or
// mailto, and no attribute that could run script. Returns "" or the fault.
const mdOnly = `((b) => {
	const allowed = new Set(['CODE', 'PRE', 'STRONG', 'EM', 'DEL', 'BLOCKQUOTE', 'A']);
	for (const e of b.querySelectorAll('*')) {
		if (!allowed.has(e.tagName)) return 'element ' + e.tagName;
		for (const a of e.attributes) if (/^on/i.test(a.name) || a.name === 'style' || a.name === 'src') return 'attribute ' + a.name + ' on ' + e.tagName;
		if (e.tagName === 'A' && !/^(https?:\/\/|mailto:)/.test(e.getAttribute('href') || '')) return 'link to ' + e.getAttribute('href');
	}
	return '';
})`

// bodyOf is a JS expression: the .msg-body of the message whose text
// content starts with prefix (the rendered text, markers gone).
func bodyOf(prefix string) string {
	return `[...document.querySelectorAll('#message-list .message .msg-body')].find((b) => b.textContent.startsWith(` + js(prefix) + `))`
}

// Messages from someone else are shown with the Markdown subset: code,
// fenced blocks that scroll sideways, bold, italic, strike, quotes, links.
// Hostile text stays text: markup, script, javascript: and data: links,
// unbalanced and crossed markers.
func TestBrowserMarkdown(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")

	long := strings.Repeat("0123456789", 40)
	cases := []struct {
		name, content, text string // text: the body's textContent once rendered
		check               string // a JS condition over b, the body
	}{
		{"inline", "mix **bold** *it* ~~gone~~ `x<y> **no**` https://example.com/a_(b). mailto:me@example.com",
			"mix bold it gone x<y> **no** https://example.com/a_(b). mailto:me@example.com",
			`b.querySelector('strong.md-strong').textContent === 'bold' && b.querySelector('em.md-em').textContent === 'it' &&
			 b.querySelector('del.md-del').textContent === 'gone' && b.querySelector('code.md-code').textContent === 'x<y> **no**' &&
			 b.querySelectorAll('a').length === 2 && b.querySelector('a').href === 'https://example.com/a_(b)' &&
			 b.querySelectorAll('a')[1].href === 'mailto:me@example.com' && b.querySelector('a').rel === 'noopener noreferrer'`},
		{"fence", "fence:\n```js\nlet x = '<script>alert(1)</script>' + " + long + "\n  indented *not italic*\n```\nafter",
			"fence:let x = '<script>alert(1)</script>' + " + long + "\n  indented *not italic*after",
			`b.querySelector('pre.md-pre > code').textContent === "let x = '<script>alert(1)</script>' + ` + long + `\n  indented *not italic*" &&
			 b.querySelector('pre').scrollWidth > b.querySelector('pre').clientWidth && getComputedStyle(b.querySelector('pre')).overflowX === 'auto' &&
			 /mono/i.test(getComputedStyle(b.querySelector('pre')).fontFamily) && b.querySelector('pre').tabIndex === 0 &&
			 b.closest('.message').scrollWidth <= document.querySelector('#message-list').clientWidth`},
		{"quote", "> quoted **b**\n> two\nnot quoted", "quoted b\ntwonot quoted",
			`b.querySelector('blockquote.md-quote').textContent === 'quoted b\ntwo' && !!b.querySelector('blockquote strong')`},
		{"nested", "nest **bold *both* ~~all~~** ***x***", "nest bold both all x",
			`!!b.querySelector('strong > em') && !!b.querySelector('strong > del') && (!!b.querySelector('strong > em') || !!b.querySelector('em > strong'))`},
		{"hostile", `<img src=x onerror=alert(1)> <script>alert(2)</script> javascript:alert(3) [x](javascript:alert(4)) data:text/html,<b>5</b> <a href="javascript:alert(6)">six</a>`,
			`<img src=x onerror=alert(1)> <script>alert(2)</script> javascript:alert(3) [x](javascript:alert(4)) data:text/html,<b>5</b> <a href="javascript:alert(6)">six</a>`,
			`b.children.length === 0`},
		{"unbalanced", "unbalanced **not closed *also ~~no `tick ** * ~~ ``` x", "unbalanced **not closed *also ~~no `tick ** * ~~ ``` x",
			`b.children.length === 0`},
		{"crossed", "crossed **a *b** c* ~~d **e~~ f**", "crossed a *b c* d **e f**",
			`b.querySelectorAll('strong').length === 1 && b.querySelectorAll('del').length === 1 && b.querySelectorAll('em').length === 0`},
		{"escapes", "`<b>` `` a`b `` ``unclosed", "<b> a`b ``unclosed",
			`b.querySelectorAll('code').length === 2 && b.querySelectorAll('code')[1].textContent === 'a\x60b'`},
		{"emails", "mailto:javascript:alert(1) mailto:x@y@z https://ok.example/x", "mailto:javascript:alert(1) mailto:x@y@z https://ok.example/x",
			`b.querySelectorAll('a').length === 1 && b.querySelector('a').href === 'https://ok.example/x'`},
	}
	for _, c := range cases {
		bob.say("general", c.content)
		alice.wait(`!!` + bodyOf(strings.SplitN(c.text, " ", 2)[0]))
		got := eval[string](alice, `(() => { const b = `+bodyOf(strings.SplitN(c.text, " ", 2)[0])+`; return b.textContent; })()`)
		if got != c.text {
			t.Errorf("%s: got text %q, want %q", c.name, got, c.text)
		}
		if fault := eval[string](alice, `(`+mdOnly+`)(`+bodyOf(strings.SplitN(c.text, " ", 2)[0])+`)`); fault != "" {
			t.Errorf("%s: the body holds %s", c.name, fault)
		}
		if !eval[bool](alice, `(() => { const b = `+bodyOf(strings.SplitN(c.text, " ", 2)[0])+`; return !!(`+c.check+`); })()`) {
			html := eval[string](alice, bodyOf(strings.SplitN(c.text, " ", 2)[0])+`.innerHTML`)
			t.Errorf("%s: rendered as %s", c.name, html)
		}
	}
	if n := eval[int](alice, `document.querySelectorAll('#message-list script, #message-list img, #message-list iframe, #message-list [onerror]').length`); n != 0 {
		t.Errorf("got %d script, img, iframe or onerror elements in the list, want 0", n)
	}
	alice.axe("formatted messages")
	alice.screenshot("markdown.png")
}

// The parser's time grows with the input's length, not its square: each
// pathological input of 200 000 characters (a quadratic parser would take
// minutes on any of them) renders within one browser action's limit, and
// keeps every character.
func TestBrowserMarkdownHugeInput(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	inputs := map[string]string{
		"openers":          `'*a '.repeat(50000)`,
		"bold openers":     `'**a '.repeat(50000)`,
		"mixed nesting":    `'**a *b ~~c '.repeat(20000)`,
		"closers":          `'a* '.repeat(66000)`,
		"backtick runs":    `Array.from({length: 600}, (_, i) => '\x60'.repeat(i + 1) + ' x ').join('').slice(0, 200000)`,
		"one backticks":    `'\x60a '.repeat(66000)`,
		"urls":             `'https://e.x/**a '.repeat(12000)`,
		"quotes":           `'> *q\n'.repeat(50000)`,
		"fences":           `'\x60\x60\x60\n'.repeat(50000)`,
		"alternating":      `'*~'.repeat(100000)`,
		"tildes and stars": `'~~*'.repeat(66000)`,
	}
	for name, expr := range inputs {
		fault := evalAsync[string](alice, `import('/js/markdown.js').then((m) => {
			const text = `+expr+`;
			const d = document.createElement('div');
			m.renderMarkdown(d, text);
			const want = text.replace(/[*~\x60>\n ]/g, '').length;
			const got = d.textContent.replace(/[*~\x60>\n ]/g, '').length;
			return got === want ? '' : 'kept ' + got + ' of ' + want + ' characters';
		})`)
		if fault != "" {
			t.Errorf("%s: %s", name, fault)
		}
	}
}

// evalAsync evaluates a JavaScript expression whose value is a promise, and
// decodes what it resolves to into T.
func evalAsync[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("eval %s: %v", js, err)
	}
	return v
}

// Editing a formatted message starts from its text as written, markers
// and all, and the saved edit is formatted again.
func TestBrowserMarkdownEdit(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.sendOK("make it **bold**")
	alice.wait(`!!document.querySelector('#message-list .message.own[data-id] .msg-body strong')`)
	alice.act(`#message-list .message.own[data-id]`, "edit")
	alice.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input') && document.activeElement.value === 'make it **bold**'`)
	alice.do(chromedp.SetValue(chromedp.CSS(`.msg-edit-input`), "make it *italic* instead"), chromedp.Focus(chromedp.CSS(`.msg-edit-input`)), chromedp.KeyEvent("\r"))
	alice.wait(`!document.querySelector('.msg-editor') && document.querySelector('#message-list .message.own .msg-body em')?.textContent === 'italic' &&
		!document.querySelector('#message-list .message.own .msg-body strong')`)
	alice.act(`#message-list .message.own[data-id]`, "edit")
	alice.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input') && document.activeElement.value === 'make it *italic* instead'`)
}
