package protocol

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAppendJSONString checks the hand-written encoder against
// encoding/json: it always yields a valid JSON string that decodes to what
// encoding/json's encoding decodes to (the input, with invalid UTF-8 as
// U+FFFD), with no raw control character and no raw <, >, & or line
// separator, so the bytes are safe anywhere.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "hi", `"quoted" \ back`, "<script>&</script>", "line\nbreak\t\r", "\x00\x1f\x7f", "\u2028\u2029", "é✓😀", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var back, want string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s does not decode: %v", got, err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, want %q", s, back, want)
		}
		for _, r := range string(got) {
			if r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' {
				t.Fatalf("appendJSONString(%q) = %s holds a raw %q", s, got, r)
			}
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip: got %q, want %q", back, s)
		}
	})
}

// The Message frame is encoded by hand; it must decode to the fields it was
// built from.
func TestEncodeMessageRoundTrip(t *testing.T) {
	m := Message{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Room: "general", Username: "alice",
		Content: "hi <b>\"there\"</b>\n", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), Nonce: "n-1"}
	var got map[string]string
	if err := json.Unmarshal(EncodeMessage(m), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"type": "Message", "id": m.ID, "room": "general", "username": "alice",
		"content": m.Content, "timestamp": "2026-01-02T03:04:05.006Z", "nonce": "n-1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

// BenchmarkEncodeMessage is the per-message encoding cost, paid once per
// broadcast whatever the room's size; encoding/json is the comparison.
func BenchmarkEncodeMessage(b *testing.B) {
	m := Message{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Room: "general", Username: "alice",
		Content: "Morning all! Standup in ten minutes, I'll share the board <here> & there.", Timestamp: time.Now()}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = EncodeMessage(m)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		type wire struct {
			Type, ID, Room, Username, Content, Timestamp string
		}
		b.ReportAllocs()
		for range b.N {
			_, _ = json.Marshal(wire{"Message", m.ID, m.Room, m.Username, m.Content, FormatTimestamp(m.Timestamp)})
		}
	})
}

// TestEncodeFrames pins every outbound frame byte for byte: the clients and
// docs/protocol.md read these shapes.
func TestEncodeFrames(t *testing.T) {
	ts := time.Date(2026, 11, 25, 21, 41, 8, 250_400_000, time.UTC)
	room := Message{ID: "01KB0Z6B1D2F3G4H5J6K7M8N9P", Room: "general", Username: "alice", Content: "a<b>&\"c\"\n", Timestamp: ts}
	pm := Message{ID: "01KB0Z6K0A1B2C3D4E5F6G7H8J", Username: "alice", Recipient: "bob", Content: "psst", Timestamp: ts, Nonce: "n1"}
	withNonce := room
	withNonce.Nonce = "n2"
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"Message", EncodeMessage(room),
			`{"type":"Message","id":"01KB0Z6B1D2F3G4H5J6K7M8N9P","room":"general","username":"alice","content":"a\u003cb\u003e\u0026\"c\"\n","timestamp":"2026-11-25T21:41:08.250Z"}`},
		{"Message with nonce", EncodeMessage(withNonce),
			`{"type":"Message","id":"01KB0Z6B1D2F3G4H5J6K7M8N9P","room":"general","username":"alice","content":"a\u003cb\u003e\u0026\"c\"\n","timestamp":"2026-11-25T21:41:08.250Z","nonce":"n2"}`},
		{"PrivateMessage", EncodePrivate(pm),
			`{"type":"PrivateMessage","id":"01KB0Z6K0A1B2C3D4E5F6G7H8J","from":"alice","to":"bob","content":"psst","timestamp":"2026-11-25T21:41:08.250Z","nonce":"n1"}`},
		{"Ack of a message", EncodeAckMessage("4", pm.ID, ts),
			`{"type":"Ack","ref":"4","id":"01KB0Z6K0A1B2C3D4E5F6G7H8J","timestamp":"2026-11-25T21:41:08.250Z"}`},
		{"History", EncodeHistory("2", "general", []Message{room, withNonce}, true),
			`{"type":"History","ref":"2","room":"general","messages":[` + string(EncodeMessage(room)) + `,` + string(EncodeMessage(withNonce)) + `],"truncated":true}`},
		{"History, empty, no ref", EncodeHistory("", "general", nil, false),
			`{"type":"History","room":"general","messages":[],"truncated":false}`},
		{"Error", EncodeError("5", CodeBadRequest, "field type appears twice"),
			`{"type":"Error","ref":"5","code":"bad_request","message":"field type appears twice"}`},
		{"Error, no ref", EncodeError("", CodeEmptyMessage, "message is empty"),
			`{"type":"Error","code":"empty_message","message":"message is empty"}`},
		{"Ack of a name", EncodeAck("1", "alice", ""), `{"type":"Ack","ref":"1","username":"alice"}`},
		{"Ack of a room", EncodeAck("2", "", "general"), `{"type":"Ack","ref":"2","room":"general"}`},
		{"SystemMessage", EncodeSystem("general", "alice is now known as alicia"),
			`{"type":"SystemMessage","room":"general","content":"alice is now known as alicia"}`},
		{"UserJoined", EncodeUserJoined("alice", "general"), `{"type":"UserJoined","username":"alice","room":"general"}`},
		{"UserLeft", EncodeUserLeft("alice", "general"), `{"type":"UserLeft","username":"alice","room":"general"}`},
		{"UserRenamed", EncodeUserRenamed("general", "alice", "alicia"), `{"type":"UserRenamed","room":"general","old":"alice","new":"alicia"}`},
		{"Members", EncodeMembers("general", []string{"alice", "bob"}), `{"type":"Members","room":"general","usernames":["alice","bob"]}`},
		{"Members, none", EncodeMembers("general", nil), `{"type":"Members","room":"general","usernames":[]}`},
		{"Welcome of a guest", EncodeWelcome("guest-48213", false), `{"type":"Welcome","username":"guest-48213","account":false}`},
		{"Welcome of an account", EncodeWelcome("alice", true), `{"type":"Welcome","username":"alice","account":true}`},
		{"RoomList", EncodeRoomList("5", []RoomInfo{{"general", 2}, {"random", 0}}, 7, true),
			`{"type":"RoomList","ref":"5","rooms":[{"name":"general","members":2},{"name":"random","members":0}],"total":7,"truncated":true}`},
		{"RoomList, none", EncodeRoomList("", nil, 0, false), `{"type":"RoomList","rooms":[],"total":0,"truncated":false}`},
		{"History of a conversation", EncodeConversationHistory("h", "bob", []Message{pm}, false),
			`{"type":"History","ref":"h","with":"bob","messages":[` + string(EncodePrivate(pm)) + `],"truncated":false}`},
		{"History of a conversation, empty", EncodeConversationHistory("h", "bob", nil, true),
			`{"type":"History","ref":"h","with":"bob","messages":[],"truncated":true}`},
		{"Conversations", EncodeConversations("c", []Conversation{{With: "bob", Last: pm, Read: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Unread: 3}}, false),
			`{"type":"Conversations","ref":"c","conversations":[{"with":"bob","last":` + string(EncodePrivate(pm)) + `,"read":"01ARZ3NDEKTSV4RRFFQ69G5FAV","unread":3}],"truncated":false}`},
		{"Joined", EncodeJoined([]string{"general", "tech"}), `{"type":"Joined","rooms":["general","tech"]}`},
		{"Joined, none", EncodeJoined(nil), `{"type":"Joined","rooms":[]}`},
		{"Left", EncodeLeft("tech"), `{"type":"Left","room":"tech"}`},
		{"Unread", EncodeUnread([]ReadState{{Room: "general", Unread: 2}}, []ReadState{{With: "bob", Read: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Unread: 100}}),
			`{"type":"Unread","rooms":[{"room":"general","read":"","unread":2}],"conversations":[{"with":"bob","read":"01ARZ3NDEKTSV4RRFFQ69G5FAV","unread":100}]}`},
		{"Unread, none", EncodeUnread(nil, nil), `{"type":"Unread","rooms":[],"conversations":[]}`},
		{"ReadMarker of a room", EncodeReadMarker(ReadState{Room: "general", Read: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
			`{"type":"ReadMarker","room":"general","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","unread":0}`},
		{"ReadMarker of a conversation", EncodeReadMarker(ReadState{With: "bob", Read: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Unread: 1}),
			`{"type":"ReadMarker","with":"bob","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","unread":1}`},
		{"Conversations, none", EncodeConversations("c", nil, false),
			`{"type":"Conversations","ref":"c","conversations":[],"truncated":false}`},
		{"MessageEdited of a private message", EncodePrivateEdited("bob", pm.ID, "fixed", ts),
			`{"type":"MessageEdited","with":"bob","id":"01KB0Z6K0A1B2C3D4E5F6G7H8J","content":"fixed","edited_at":"2026-11-25T21:41:08.250Z"}`},
		{"MessageDeleted of a private message", EncodePrivateDeleted("bob", pm.ID, ts),
			`{"type":"MessageDeleted","with":"bob","id":"01KB0Z6K0A1B2C3D4E5F6G7H8J","edited_at":"2026-11-25T21:41:08.250Z"}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}
