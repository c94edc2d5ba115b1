package actors_test

import (
	"errors"
	"slices"
	"testing"

	"parley/actors"
	"parley/internal/protocol"
)

// An operator deletes a room: its members are told and are out of it, it is
// no longer listed, its messages are gone, and an account's next
// connection is not put back in it. Default and unknown rooms are refused.
func TestDeleteRoom(t *testing.T) {
	f := newFixture(t, actors.Config{})
	guest := f.connect()
	ann := f.connectAccount("ann")
	for _, c := range []*client{guest, ann} {
		c.join("spam")
	}
	guest.do(protocol.Request{Type: "SendMessage", Room: "spam", Content: "buy now", Ref: "s"})
	guest.waitFor("Ack", nil)

	if err := f.hub.DeleteRoom(f.ctx, "SPAM"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	for _, c := range []*client{guest, ann} {
		c.waitFor("SystemMessage", func(fr frame) bool { return fr.str("room") == "spam" })
		if l := c.expect("Left"); l.str("room") != "spam" {
			t.Fatalf("%s: got %v, want Left spam", c.s.Username(), l)
		}
	}
	guest.do(protocol.Request{Type: "SendMessage", Room: "spam", Content: "again", Ref: "s2"})
	if e := guest.expect("Error"); e.str("code") != "not_in_room" {
		t.Errorf("a send to the deleted room: got %v, want not_in_room", e)
	}
	guest.do(protocol.Request{Type: "ListRooms", Ref: "l"})
	for _, r := range guest.expect("RoomList")["rooms"].([]any) {
		if r.(map[string]any)["name"] == "spam" {
			t.Errorf("room list after the delete: got spam in it")
		}
	}
	if rooms := anyStrings(f.connectAccount("ann").resumeFrames[0]["rooms"]); slices.Contains(rooms, "spam") {
		t.Errorf("ann's next connection: got Joined %v, want no spam", rooms)
	}
	if h := guest.join("spam"); len(h["messages"].([]any)) != 0 {
		t.Errorf("a new room of the same name: got history %v, want none", h["messages"])
	}
	for name, want := range map[string]error{"general": actors.ErrDefaultRoom, "nowhere": actors.ErrNoRoom} {
		if err := f.hub.DeleteRoom(f.ctx, name); !errors.Is(err, want) {
			t.Errorf("DeleteRoom(%s): got %v, want %v", name, err, want)
		}
	}
}
