package actors

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/internal/protocol"
)

// Limits are the bounds a client must stay within. Zero values take the
// defaults from DefaultLimits.
type Limits struct {
	UsernameMax int     // characters of [A-Za-z0-9_-]
	RoomMax     int     // characters of [a-z0-9_-]
	ContentMax  int     // characters (runes) of a message
	RefMax      int     // bytes of a request's ref and a message's nonce
	RatePerSec  float64 // requests per second per connection, sustained
	RateBurst   int     // requests a connection may send at once
	// AbuseBudget is how many rate-limited requests a connection may send,
	// refilled at half of RatePerSec, before it is closed with 1008.
	AbuseBudget     int
	RoomsPerSession int // rooms one connection may be in at once
	// MaxRooms is how many rooms may run at once (have an actor: members,
	// or a member within the last RoomIdle); the default rooms are not
	// counted. A room that holds messages and is idle does not count.
	MaxRooms int
	// RoomsPerMinute is how many new rooms one connection, and one
	// account across its connections, may create a minute (and at once);
	// ClientRoomsPerMinute the same for one client across its connections.
	RoomsPerMinute       int
	ClientRoomsPerMinute int
	// ClientRatePerSec and ClientBurst are the request tokens the
	// connections of one client share (cost.go), beside each one's own;
	// by default what five connections have.
	ClientRatePerSec float64
	ClientBurst      int
	// RenameEvery is how often a connection may change its name, after
	// a first two at once: each rename is announced in every room it is in.
	RenameEvery time.Duration
}

// DefaultLimits are the limits parley runs with unless flags say otherwise.
var DefaultLimits = Limits{
	UsernameMax:          32,
	RoomMax:              64,
	ContentMax:           4000,
	RefMax:               64,
	RatePerSec:           20,
	RateBurst:            40,
	AbuseBudget:          100,
	RoomsPerSession:      100,
	MaxRooms:             10000,
	RoomsPerMinute:       5,
	ClientRoomsPerMinute: 10,
	RenameEvery:          10 * time.Second,
}

// clientShare is how many connections' worth of requests a client's
// connections share by default.
const clientShare = 5

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.UsernameMax > 0 {
		d.UsernameMax = l.UsernameMax
	}
	if l.RoomMax > 0 {
		d.RoomMax = l.RoomMax
	}
	if l.ContentMax > 0 {
		d.ContentMax = l.ContentMax
	}
	if l.RefMax > 0 {
		d.RefMax = l.RefMax
	}
	if l.RatePerSec > 0 {
		d.RatePerSec = l.RatePerSec
	}
	if l.RateBurst > 0 {
		d.RateBurst = l.RateBurst
	}
	if l.AbuseBudget > 0 {
		d.AbuseBudget = l.AbuseBudget
	}
	if l.RoomsPerSession > 0 {
		d.RoomsPerSession = l.RoomsPerSession
	}
	if l.MaxRooms > 0 {
		d.MaxRooms = l.MaxRooms
	}
	if l.RoomsPerMinute > 0 {
		d.RoomsPerMinute = l.RoomsPerMinute
	}
	if l.ClientRoomsPerMinute > 0 {
		d.ClientRoomsPerMinute = l.ClientRoomsPerMinute
	}
	if l.RenameEvery > 0 {
		d.RenameEvery = l.RenameEvery
	}
	d.ClientRatePerSec, d.ClientBurst = clientShare*d.RatePerSec, clientShare*d.RateBurst
	if l.ClientRatePerSec > 0 {
		d.ClientRatePerSec = l.ClientRatePerSec
	}
	if l.ClientBurst > 0 {
		d.ClientBurst = l.ClientBurst
	}
	return d
}

// NormalizeUsername checks a requested username and returns it as displayed
// (unchanged: names keep their case) and case-folded, which is how the
// store matches a sender (names are unique by the stricter Skeleton). ok is false if the name is empty, too long or holds a
// character outside [A-Za-z0-9_-].
func NormalizeUsername(name string, max int) (display, key string, ok bool) {
	if len(name) == 0 || len(name) > max {
		return "", "", false
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return "", "", false
		}
	}
	return name, foldName(name), true
}

// foldName is a name as the store matches it (COLLATE NOCASE): names are
// ASCII, so lower case is the whole folding.
func foldName(name string) string { return strings.ToLower(name) }

// NormalizeRoom checks a room name and returns it lower-cased: room names
// are case-insensitive and shown in lower case. ok is false if the name is
// empty, too long or holds a character outside [A-Za-z0-9_-].
func NormalizeRoom(name string, max int) (string, bool) {
	if len(name) == 0 || len(name) > max {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return "", false
		}
	}
	return strings.ToLower(name), true
}

func nameByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		return true
	}
	return false
}

// CheckContent reports why a message body is unacceptable, as the code of
// the Error to answer with: protocol.CodeEmptyMessage for an empty or blank
// one, protocol.CodeTooLarge for one over max characters,
// protocol.CodeBadRequest for invalid UTF-8; "" if it is fine.
func CheckContent(s string, max int) protocol.ErrorCode {
	if !utf8.ValidString(s) {
		return protocol.CodeBadRequest
	}
	if utf8.RuneCountInString(s) > max {
		return protocol.CodeTooLarge
	}
	if strings.TrimFunc(s, unicode.IsSpace) == "" {
		return protocol.CodeEmptyMessage
	}
	return ""
}

// MaxRequestBytes is the largest legal request under these limits in its
// longest legal encoding (protocol.MaxRequestBytes): the transport's frame
// limit, unless an operator sets one.
func (l Limits) MaxRequestBytes() int64 {
	l = l.withDefaults()
	return protocol.MaxRequestBytes(protocol.FieldLimits{
		Content: l.ContentMax, Username: l.UsernameMax, Room: l.RoomMax, Ref: l.RefMax,
	})
}
