package client_test

import (
	"fmt"
	"testing"

	"parley/actors"
	parley "parley/internal/server"
)

// A rename reaches the page as one small event: the room's member list and
// an open conversation's people follow it.
func TestBrowserRenameUpdatesMembers(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	bob := dialUser(t, s.addr, "bob")
	bob.join("general")
	alice.wait(`!!document.querySelector('#member-list li[data-user="bob"]')`)
	alice.click(`#member-list li[data-user="bob"] button`)
	alice.wait(`parley.state().currentDm === 'bob' && !!document.querySelector('#member-list li[data-user="bob"]')`)

	bob.request(map[string]any{"type": "SetUsername", "username": "robert"})
	// The open conversation's people, then the room's members.
	alice.wait(`parley.state().currentDm === 'robert' && !!document.querySelector('#member-list li[data-user="robert"]') &&
		!document.querySelector('#member-list li[data-user="bob"]')`)
	alice.click(`#room-list li[data-room="general"] .room-open`)
	alice.wait(`parley.state().currentRoom === 'general' && !!document.querySelector('#member-list li[data-user="robert"]') &&
		!document.querySelector('#member-list li[data-user="bob"]')`)
}

// A server with more rooms than a list holds sends the busiest: the page
// says how many more there are, and /rooms PREFIX finds them.
func TestBrowserLongRoomList(t *testing.T) {
	needBrowser(t)
	s := startServerConfig(t, "", parley.Config{Hub: actors.Config{Limits: actors.Limits{
		RoomsPerMinute: 1000, ClientRoomsPerMinute: 1000, RatePerSec: 1000, RateBurst: 1000,
	}}})
	// 120 rooms, held open by two members (an empty room that never held
	// a message is forgotten).
	holders := []*wsUser{dialUser(t, s.addr, "holder1"), dialUser(t, s.addr, "holder2")}
	for i := range 120 {
		holders[i%2].join(fmt.Sprintf("room-%03d", i))
	}
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	// 123 rooms with the defaults, 100 listed: 23 more.
	alice.wait(`document.querySelector('#room-list-more')?.hidden === false &&
		document.querySelector('#room-list-more').textContent.startsWith('23 more rooms') &&
		document.querySelectorAll('#room-list li').length === 100`)
	alice.send("/rooms room-11")
	alice.wait(`[...document.querySelectorAll('#message-list .system-line')].some((n) =>
		n.textContent.includes('Rooms starting with “room-11”') && n.textContent.includes('#room-119'))`)
}
