package protocol

import (
	"strings"
	"testing"
)

func TestValidEmoji(t *testing.T) {
	for _, ok := range []string{
		"👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅", // the picker's
		"👍🏽", "🧑🏽‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "1️⃣", "#⃣", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", "©️", "🫠",
	} {
		if !ValidEmoji(ok) {
			t.Errorf("ValidEmoji(%q): got false, want true", ok)
		}
	}
	for _, bad := range []string{
		"", "a", "ab", "1", "👍👍", "👍 ", " 👍", "👍\u200d", "\u200d👍", "🇫", "🇫🇷🇫", "🏽", "\ufe0f", "<script>",
		"👍\x00", "🏴\U000E0067", "\xff", strings.Repeat("👍\u200d", 9) + "👍",
	} {
		if ValidEmoji(bad) {
			t.Errorf("ValidEmoji(%q): got true, want false", bad)
		}
	}
}

func TestEncodeReactions(t *testing.T) {
	counts := []ReactionCount{{Emoji: "🎉", Count: 2, Mine: true}, {Emoji: "👍", Count: 1}}
	got := string(EncodeReactions("general", "01ARZ3NDEKTSV4RRFFQ69G5FAV", counts, &ReactionChange{By: "bob", Emoji: "👍", On: true}))
	want := `{"type":"Reactions","room":"general","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","counts":{"🎉":2,"👍":1},"by":"bob","emoji":"👍","on":true}`
	if got != want {
		t.Errorf("broadcast: got %s, want %s", got, want)
	}
	got = string(EncodeReactions("general", "01ARZ3NDEKTSV4RRFFQ69G5FAV", counts, nil))
	want = `{"type":"Reactions","room":"general","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","counts":{"🎉":2,"👍":1},"reacted":["🎉"]}`
	if got != want {
		t.Errorf("one reader's: got %s, want %s", got, want)
	}
	m := Message{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Room: "general", Username: "a", Content: "hi @b", Mentions: []string{"b"}, Reactions: counts}
	if got := string(EncodeMessage(m)); !strings.HasSuffix(got, `,"mentions":["b"],"reactions":{"🎉":2,"👍":1},"reacted":["🎉"]}`) {
		t.Errorf("message: got %s, want mentions and reactions at its end", got)
	}
	if got := string(EncodeUserTyping("", "bob")); got != `{"type":"UserTyping","with":"bob","username":"bob"}` {
		t.Errorf("private typing: got %s", got)
	}
}
