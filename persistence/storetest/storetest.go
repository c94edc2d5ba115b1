// Package storetest is the conformance suite of parley's stores: one table
// of cases, each a promise of actors.Store or accounts.Store, that every
// engine must pass. Package persistence runs it against SQLite and package
// pgstore against PostgreSQL, so that each promise is written once and
// holds for both; what only one engine promises (SQLite's WAL, pragmas and
// storage faults, PostgreSQL's schema versions) stays in that engine's own
// tests.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/accounts"
)

// Store is what an engine must implement: everything the actors and the
// accounts service need, and Close.
type Store interface {
	actors.Store
	accounts.Store
	Close() error
}

// Options are the queue's knobs that the cases set; an engine maps them to
// its own options. Zero fields ask for the engine's defaults.
type Options struct {
	QueueMessages int
	QueueBytes    int64
	BatchMax      int
	BatchDelay    time.Duration
}

// Engine is one store implementation under test.
type Engine struct {
	// NewDB makes an empty database for t and returns how to open a store
	// on it. Each call of open opens another Store on that same database
	// (a case closes one and opens the next to check what survives), to be
	// closed at t's cleanup; a case may close it first.
	NewDB func(t *testing.T) (open func(t *testing.T, o Options) Store)
	// ErrClosed is the error (by errors.Is) of Sync, CreateRoom and the
	// account writes once the store is closed.
	ErrClosed error
	// MessageSize is what a message is charged against QueueBytes.
	MessageSize func(*actors.StoredMessage) int64
}

// testDeadline bounds every wait in these cases.
const testDeadline = 10 * time.Second

// BaseTime is the time of a test's message 0.
var BaseTime = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

// Run runs every case against e, each on a database of its own.
func Run(t *testing.T, e Engine) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, e.NewDB(t), e)
		})
	}
}

// Opener opens a store on a case's database.
type Opener = func(t *testing.T, o Options) Store

var cases = []struct {
	name string
	run  func(t *testing.T, open Opener, e Engine)
}{
	{"AppendCommitsAndSurvivesReopen", testAppendCommitsAndSurvivesReopen},
	{"History", testHistory},
	{"IDsSortAsBytes", testIDsSortAsBytes},
	{"FindNonce", testFindNonce},
	{"BadRowsFailAlone", testBadRowsFailAlone},
	{"DuplicatesWithinOneBatch", testDuplicatesWithinOneBatch},
	{"CreateRoomIsIdempotent", testCreateRoomIsIdempotent},
	{"AppendRefusedWhenQueueFull", testAppendRefusedWhenQueueFull},
	{"Sync", testSync},
	{"CloseWhileAppending", testCloseWhileAppending},
	{"DeleteRoom", testDeleteRoom},
	{"Conversations", testConversations},
	{"ConversationKeepsOnlyPrivateMessages", testConversationKeepsOnlyPrivateMessages},
	{"AccountRooms", testAccountRooms},
	{"ReadMarkers", testReadMarkers},
	{"PagesStopAtTheirByteBudget", testPagesStopAtTheirByteBudget},
	{"AccountsAndSessionsRoundTripAndSurviveReopen", testAccountsAndSessionsRoundTripAndSurviveReopen},
	{"AccountWritesInterleaveWithBatches", testAccountWritesInterleaveWithBatches},
	{"AccountWritesAfterCloseFail", testAccountWritesAfterCloseFail},
	{"EditAndDelete", testEditAndDelete},
	{"Changes", testChanges},
	{"EditAndDeletePrivate", testEditAndDeletePrivate},
	{"ConversationChanges", testConversationChanges},
	{"Reactions", testReactions},
	{"ReactionChanges", testReactionChanges},
	{"Mentions", testMentions},
	{"Search", testSearch},
	{"SearchFollowsEditsAndDeletions", testSearchFollowsEditsAndDeletions},
	{"SearchRanksTheNewestMatchesOfACommonWord", testSearchRanksTheNewestMatchesOfACommonWord},
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

// RoomMsg is the i-th message of a test, in room from user.
func RoomMsg(id, room, user string, i int) *actors.StoredMessage {
	return &actors.StoredMessage{
		ID:        id,
		Room:      room,
		Username:  user,
		Content:   fmt.Sprintf("message %d from %s", i, user),
		Timestamp: BaseTime.Add(time.Duration(i) * time.Millisecond),
	}
}

// PrivMsg is the i-th private message of a test, from one user to another.
func PrivMsg(id, from, to string, i int) *actors.StoredMessage {
	return &actors.StoredMessage{
		ID:        id,
		Username:  from,
		Recipient: to,
		Content:   fmt.Sprintf("private %d from %s", i, from),
		Timestamp: BaseTime.Add(time.Duration(i) * time.Millisecond),
		Private:   true,
	}
}

type result struct {
	id  string
	err error
}

// Results collects done outcomes. Its channel is buffered for every message
// a test appends, so a done callback never blocks the writer.
type Results struct{ ch chan result }

// NewResults collects the outcomes of n messages.
func NewResults(n int) *Results { return &Results{ch: make(chan result, n)} }

// Called is how many done callbacks have run and are not yet waited for.
func (r *Results) Called() int { return len(r.ch) }

// Done is the done callback of the message id.
func (r *Results) Done(id string) func(error) {
	return func(err error) { r.ch <- result{id, err} }
}

// Wait returns the outcome of n messages by id, failing on a timeout or on a
// done called twice for one id.
func (r *Results) Wait(t testing.TB, n int) map[string]error {
	t.Helper()
	got := make(map[string]error, n)
	deadline := time.NewTimer(testDeadline)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case res := <-r.ch:
			if _, dup := got[res.id]; dup {
				t.Fatalf("done called twice for %s", res.id)
			}
			got[res.id] = res.err
		case <-deadline.C:
			t.Fatalf("after %v, %d of %d done callbacks called", testDeadline, len(got), n)
		}
	}
	return got
}

// AppendAll appends msgs, failing if any is refused, and waits for all of
// them, failing unless every one was committed.
func AppendAll(t testing.TB, w Store, msgs []*actors.StoredMessage) {
	t.Helper()
	r := NewResults(len(msgs))
	for _, m := range msgs {
		if !w.Append(m, r.Done(m.ID)) {
			t.Fatalf("Append(%s) = false, want true", m.ID)
		}
	}
	for id, err := range r.Wait(t, len(msgs)) {
		if err != nil {
			t.Fatalf("done(%s) = %v, want nil", id, err)
		}
	}
}

// WaitClosed fails unless ch is closed within the deadline.
func WaitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testDeadline):
		t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
	}
}

// waitGroupDone fails unless wg is done within the deadline.
func waitGroupDone(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	ch := make(chan struct{})
	go func() { // closes ch when wg is done; exits with the test binary at worst
		wg.Wait()
		close(ch)
	}()
	WaitClosed(t, ch, what)
}

// BlockWriter appends a message whose done blocks the writer's goroutine
// until the returned release is called (also called at cleanup), and
// returns once the writer is blocked there: from then on nothing reads the
// queue. Nothing else may be appended before it returns, so that the
// blocker is written alone (at once with BatchMax 1, else after BatchDelay).
func BlockWriter(t testing.TB, w Store) (release func()) {
	t.Helper()
	entered := make(chan struct{})
	unblock := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release) // runs before the Close registered by open
	if !w.Append(RoomMsg("blocker", "general", "alice", 0), func(error) {
		close(entered)
		<-unblock
	}) {
		t.Fatal("Append(blocker) = false, want true")
	}
	WaitClosed(t, entered, "the writer to call the blocking done")
	return release
}

// HistoryIDs is the ids of msgs, in order.
func HistoryIDs(msgs []actors.StoredMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// allIDs is every public message of room, in order.
func allIDs(t testing.TB, w Store, room string) []string {
	t.Helper()
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: room, Limit: 1 << 20})
	if err != nil {
		t.Fatalf("History(%s): %v", room, err)
	}
	return HistoryIDs(msgs)
}
