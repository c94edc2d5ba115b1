package main

// The search scenario: a store filled with -messages messages of made-up
// text, written straight through the persistence writer (the same batches
// and the same triggers that index a message sent over a WebSocket, without
// the sockets), then Search timed for a few shapes of query. The latency
// is the store's (the SQL, the index, the rows read back), which is what a
// big history makes slow; the actor adds a snippet per result and a
// frame.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"parley/actors"
	"parley/internal/textsearch"
	"parley/persistence"
)

type searchConfig struct {
	Messages int
	Queries  int    // per shape
	DB       string // an existing database to search (filled by an earlier run); "" to fill a new one
	Keep     string // keep the filled database at this path
}

type searchShape struct {
	Name    string  `json:"name"`
	Example string  `json:"example"` // one of its queries
	Matches int     `json:"matches"` // messages the example matches in the shape's scope
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	Results float64 `json:"avg_results"`
}

type searchResult struct {
	Messages    int     `json:"messages"`
	FillSeconds float64 `json:"fill_seconds"` // 0 when -search-db was given
	FillPerSec  float64 `json:"fill_msgs_per_sec"`
	// IndexLagSeconds is how long after the fill's last commit the
	// search index (which follows the commits) held every message.
	IndexLagSeconds float64 `json:"index_lag_seconds"`
	// IndexWaitSeconds is how long the search store's Open waited for
	// the index to catch up (a database of an older schema, or a
	// missing index file, is indexed anew).
	IndexWaitSeconds float64       `json:"index_wait_seconds"`
	DBBytes          int64         `json:"db_bytes"`
	IndexBytes       int64         `json:"index_bytes"`
	Queries          int           `json:"queries_per_shape"`
	Shapes           []searchShape `json:"shapes"`
}

// vocabulary is the made-up words of the bench's text, the most frequent
// first: word i is used with a Zipf frequency, as words are.
const vocabularySize = 20000

func vocabulary() []string {
	// Syllables give pronounceable, distinct, mostly 2-4 syllable words.
	syl := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fu", "go", "hi", "jo", "pe", "qu", "ze", "wa", "xi", "yo"}
	words := make([]string, 0, vocabularySize)
	seen := map[string]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for len(words) < vocabularySize {
		n := 2 + r.IntN(3)
		var b strings.Builder
		for range n {
			b.WriteString(syl[r.IntN(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// contentOf makes message i's text: 4 to 30 words drawn by Zipf.
func contentOf(r *rand.Rand, z *rand.Zipf, words []string) string {
	n := 4 + r.IntN(27)
	var b strings.Builder
	for j := range n {
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[z.Uint64()])
	}
	return b.String()
}

func runSearch(ctx context.Context, cfg searchConfig, prog *progress) (*searchResult, error) {
	res := &searchResult{Messages: cfg.Messages, Queries: cfg.Queries}
	words := vocabulary()
	path := cfg.DB
	if path == "" {
		dir, err := os.MkdirTemp("", "parley-bench-search-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "search.db")
		if cfg.Keep != "" {
			path = cfg.Keep
		}
		if err := fillSearchDB(ctx, path, cfg.Messages, words, prog, res); err != nil {
			return nil, err
		}
	}
	store, err := persistence.Open(ctx, path, persistence.Options{})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	prog.set(func() (float64, string) { return -1, "search: waiting for the search index to catch up" })
	t0 := time.Now()
	if err := store.WaitIndexed(ctx); err != nil {
		return nil, err
	}
	res.IndexWaitSeconds = time.Since(t0).Seconds()
	if fi, err := os.Stat(path); err == nil {
		res.DBBytes = fi.Size()
	}
	if fi, err := os.Stat(path + ".search"); err == nil {
		res.IndexBytes = fi.Size()
	}
	rooms := make([]string, 10)
	for i := range rooms {
		rooms[i] = "bench-" + strconv.Itoa(i)
	}
	// The "before" of a search that pages on into older messages.
	mid, err := midID(ctx, store, cfg.Messages)
	if err != nil {
		return nil, err
	}
	// Bands of the vocabulary by frequency rank. With Zipf s=1.1 over
	// 20,000 words and ~17 words a message: a top word is in about one
	// message in five, a rank-100 word in 1-2%, a rank-5000 one in a few
	// hundred of a million.
	band := func(lo, hi int) func(i int) string {
		return func(i int) string { return words[lo+i%(hi-lo)] }
	}
	common, mid100, rare := band(0, 10), band(100, 200), band(5000, 6000)
	shapes := []struct {
		name  string
		query func(i int) string
		q     actors.SearchQuery
	}{
		{"one common word (top 10), 10 rooms", common, actors.SearchQuery{Rooms: rooms}},
		{"one word of rank 100-200, 10 rooms", mid100, actors.SearchQuery{Rooms: rooms}},
		{"one rare word (rank 5000-6000), 10 rooms", rare, actors.SearchQuery{Rooms: rooms}},
		{"two words: common AND rank 100-200", func(i int) string { return common(i) + " " + mid100(i) }, actors.SearchQuery{Rooms: rooms}},
		{"a 3-letter prefix (abc*), 10 rooms", func(i int) string { return words[i%50][:3] + "*" }, actors.SearchQuery{Rooms: rooms}},
		{"one word of rank 100-200, 1 room", mid100, actors.SearchQuery{Rooms: rooms[:1]}},
		{"rank 100-200, 10 rooms, before the middle", mid100, actors.SearchQuery{Rooms: rooms, Before: mid}},
	}
	total := len(shapes) * cfg.Queries
	var done atomic.Int64
	prog.set(func() (float64, string) {
		d := done.Load()
		return float64(d) / float64(total), fmt.Sprintf("search: %d/%d queries", d, total)
	})
	for _, sh := range shapes {
		lat := make([]time.Duration, 0, cfg.Queries)
		results := 0
		for i := range cfg.Queries {
			terms, err := textsearch.Parse(sh.query(i))
			if err != nil {
				return nil, fmt.Errorf("search %q: %w", sh.query(i), err)
			}
			q := sh.q
			q.Terms, q.Limit = terms, 20
			start := time.Now()
			msgs, _, err := store.Search(ctx, q)
			lat = append(lat, time.Since(start))
			if err != nil {
				return nil, fmt.Errorf("search %q: %w", sh.query(i), err)
			}
			results += len(msgs)
			done.Add(1)
		}
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		terms, _ := textsearch.Parse(sh.query(0))
		n, err := countMatches(ctx, store, terms, sh.q)
		if err != nil {
			return nil, err
		}
		res.Shapes = append(res.Shapes, searchShape{
			Name: sh.name, Example: sh.query(0), Matches: n,
			P50: ms(lat[len(lat)/2]), P99: ms(lat[min(len(lat)-1, len(lat)*99/100)]), Max: ms(lat[len(lat)-1]),
			Results: float64(results) / float64(cfg.Queries),
		})
	}
	return res, store.Close()
}

// midID is an id from the middle of the fill: the fill writes a message a
// millisecond, so half of them are older than the last one's time less
// messages/2 ms.
func midID(ctx context.Context, store *persistence.Store, messages int) (string, error) {
	last, err := store.LastID(ctx, "bench-0")
	if err != nil || last == "" {
		return "", fmt.Errorf("search: no message in bench-0 (%v)", err)
	}
	hi, err := ulid.ParseStrict(last)
	if err != nil {
		return "", err
	}
	var m ulid.ULID
	if err := m.SetTime(hi.Time() - uint64(messages/2)); err != nil {
		return "", err
	}
	return m.String(), nil
}

// countMatches counts the messages in q's scope that hold every term, by
// a Search with no limit to speak of.
func countMatches(ctx context.Context, store *persistence.Store, terms []textsearch.Term, q actors.SearchQuery) (int, error) {
	q.Terms, q.Limit = terms, 1<<30
	msgs, _, err := store.Search(ctx, q)
	return len(msgs), err
}

// fillSearchDB writes n messages into a new store at path through the
// persistence writer, 10 rooms round robin, a millisecond apart.
func fillSearchDB(ctx context.Context, path string, n int, words []string, prog *progress, res *searchResult) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("search: %s exists: pass it with -search-db to search it, or remove it", path)
	}
	store, err := persistence.Open(ctx, path, persistence.Options{Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	z := rand.NewZipf(r, 1.1, 1, vocabularySize-1)
	start := time.Now().Add(-time.Duration(n) * time.Millisecond).UTC().Truncate(time.Millisecond)
	var done, failed atomic.Int64
	allDone := make(chan struct{})
	cb := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		if done.Add(1) == int64(n) {
			close(allDone)
		}
	}
	prog.set(func() (float64, string) {
		d := done.Load()
		return float64(d) / float64(n), fmt.Sprintf("search: filling, %d/%d committed", d, n)
	})
	t0 := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * time.Millisecond)
		m := &actors.StoredMessage{
			ID:        ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(),
			Room:      "bench-" + strconv.Itoa(i%10),
			Username:  "user" + strconv.Itoa(r.IntN(500)),
			Content:   contentOf(r, z, words),
			Timestamp: at,
		}
		for !store.Append(m, cb) {
			if ctx.Err() != nil {
				store.Close()
				return ctx.Err()
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if n > 0 {
		select {
		case <-allDone:
		case <-ctx.Done():
			store.Close()
			return ctx.Err()
		}
	}
	res.FillSeconds = time.Since(t0).Seconds()
	res.FillPerSec = float64(n) / res.FillSeconds
	prog.set(func() (float64, string) { return -1, "search: waiting for the search index to catch up" })
	t1 := time.Now()
	if err := store.WaitIndexed(ctx); err != nil {
		store.Close()
		return err
	}
	res.IndexLagSeconds = time.Since(t1).Seconds()
	if f := failed.Load(); f > 0 {
		store.Close()
		return fmt.Errorf("search: %d of %d messages failed to be stored", f, n)
	}
	if err := store.Close(); err != nil {
		return errors.Join(errors.New("search: close the filled store"), err)
	}
	return nil
}
