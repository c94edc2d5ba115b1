package migratecmd

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"parley/internal/protocol"
)

// kind is how a column is stored in SQLite and what PostgreSQL takes for
// it: SQLite keeps times as text in protocol's layout and booleans as 0/1,
// PostgreSQL as timestamptz and boolean.
type kind uint8

const (
	text     kind = iota // TEXT NOT NULL
	nullText             // TEXT, NULL allowed
	ts                   // TEXT in protocol.TimestampLayout -> timestamptz
	nullTS               // the same, NULL allowed
	boolean              // 0/1 -> boolean
	integer              // INTEGER -> bigint
	blob                 // BLOB -> bytea
)

type column struct {
	name string
	kind kind
}

// table is one table to copy: the same name and columns on both sides
// (pgstore's schema is persistence's, with PostgreSQL's types). key is its
// primary key, the order it is copied in and the cursor a run resumes
// after. after, if set, runs on the target once the table is copied, in
// every run (it must be idempotent).
type table struct {
	name  string
	cols  []column
	key   []string
	after string
}

// sqliteVersion is the SQLite schema version (persistence.SchemaVersion)
// whose tables are listed below. A build with a newer schema must list
// what it added here and raise this: TestTablesCoverTheSchema fails until
// it does, and a source with a table or column not listed is refused at
// run time rather than copied in part.
const sqliteVersion = 9

// tables are copied in this order: accounts before sessions, which
// reference them (the only foreign key); the rest have none.
var tables = []table{
	{name: "rooms", key: []string{"name"}, cols: []column{
		{"name", text}, {"created_at", ts},
	}},
	{name: "messages", key: []string{"id"}, cols: []column{
		{"id", text}, {"room", text}, {"username", text}, {"content", text},
		{"timestamp", ts}, {"is_private", boolean}, {"recipient", nullText},
		{"nonce", nullText}, {"edited_at", nullTS}, {"deleted", boolean},
	}},
	{name: "accounts", key: []string{"id"}, cols: []column{
		{"id", integer}, {"username", text}, {"skeleton", text},
		{"password_hash", text}, {"role", text}, {"created_at", ts},
	},
		// The ids are copied as they are (sessions refer to them), past
		// the identity's sequence: move it beyond them, or the next
		// account registered on PostgreSQL would collide with one.
		after: `SELECT setval(pg_get_serial_sequence('accounts', 'id'), max(id)) FROM accounts HAVING max(id) IS NOT NULL`,
	},
	{name: "sessions", key: []string{"token_hash"}, cols: []column{
		{"token_hash", blob}, {"account_id", integer}, {"created_at", ts},
		{"expires_at", ts}, {"last_seen", ts},
	}},
	{name: "conversation_messages", key: []string{"owner", "peer", "id"}, cols: []column{
		{"owner", text}, {"peer", text}, {"id", text}, {"edited_at", nullTS},
	}},
	{name: "account_rooms", key: []string{"owner", "room"}, cols: []column{
		{"owner", text}, {"room", text}, {"joined_at", ts},
	}},
	{name: "read_markers", key: []string{"owner", "kind", "target"}, cols: []column{
		{"owner", text}, {"kind", text}, {"target", text}, {"id", text},
	}},
	{name: "reactions", key: []string{"id", "emoji", "reactor"}, cols: []column{
		{"id", text}, {"emoji", text}, {"reactor", text}, {"name", text}, {"at", ts},
	}},
	{name: "reaction_changes", key: []string{"id"}, cols: []column{
		{"id", text}, {"room", text}, {"at", ts},
	}},
	{name: "mentions", key: []string{"who", "room", "id"}, cols: []column{
		{"who", text}, {"room", text}, {"id", text}, {"pos", integer}, {"name", text},
	}},
}

// derived reports whether a source table is SQLite's full-text index or
// its bookkeeping: made from messages, and not copied, since PostgreSQL
// indexes its own copy of the messages (an expression index). Version 7
// kept the index in the database (search_docs, and messages_fts with
// FTS5's shadow tables); version 9 keeps it in a file of its own and
// only the indexer's feed and the database's identity here.
func derived(name string) bool {
	return name == "search_docs" || name == "messages_fts" || strings.HasPrefix(name, "messages_fts_") ||
		name == "search_feed" || name == "search_identity"
}

func (t table) colNames() []string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	return names
}

// keyIndex is the position in cols of each key column.
func (t table) keyIndex() []int {
	idx := make([]int, len(t.key))
	for i, k := range t.key {
		idx[i] = -1
		for j, c := range t.cols {
			if c.name == k {
				idx[i] = j
			}
		}
	}
	return idx
}

// selectSQL reads the next batch from SQLite: limit rows after the cursor
// (a row value over the key; all rows from the start without one), in key
// order, which the primary key's b-tree serves without a sort.
func (t table) selectSQL(resume bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM %s", strings.Join(t.colNames(), ", "), t.name)
	if resume {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(t.key)), ", ")
		fmt.Fprintf(&b, " WHERE (%s) > (%s)", strings.Join(t.key, ", "), marks)
	}
	fmt.Fprintf(&b, " ORDER BY %s LIMIT ?", strings.Join(t.key, ", "))
	return b.String()
}

// insertSQL writes rows rows into PostgreSQL; a row already there (by any
// unique key: the primary key, an account's skeleton, a message's nonce)
// is left as it is and counted as skipped.
func (t table) insertSQL(rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", t.name, strings.Join(t.colNames(), ", "))
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range t.cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(n))
			n++
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	return b.String()
}

// maxParams is PostgreSQL's limit of bound parameters per statement.
const maxParams = 65535

// rowsPerInsert is how many rows one INSERT of t carries: a batch is
// written in several when its parameters would pass PostgreSQL's limit.
func (t table) rowsPerInsert() int { return min(1000, maxParams/len(t.cols)) }

// convert turns a row as SQLite returned it into PostgreSQL's arguments.
func (t table) convert(row []any) ([]any, error) {
	out := make([]any, len(row))
	for i, c := range t.cols {
		v, err := convertValue(c.kind, row[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
		out[i] = v
	}
	return out, nil
}

func convertValue(k kind, v any) (any, error) {
	if v == nil {
		if k == nullText || k == nullTS {
			return nil, nil
		}
		return nil, fmt.Errorf("NULL in a NOT NULL column")
	}
	switch k {
	case text, nullText:
		switch v := v.(type) {
		case string:
			return v, nil
		case []byte:
			return string(v), nil
		}
	case ts, nullTS:
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		case time.Time: // a driver that parsed it already
			return v.UTC(), nil
		default:
			return nil, fmt.Errorf("got %T, want a timestamp", v)
		}
		return protocol.ParseTimestamp(s)
	case boolean:
		switch v := v.(type) {
		case bool:
			return v, nil
		case int64:
			return v != 0, nil
		}
	case integer:
		if v, ok := v.(int64); ok {
			return v, nil
		}
	case blob:
		switch v := v.(type) {
		case []byte:
			return v, nil
		case string:
			return []byte(v), nil
		}
	}
	return nil, fmt.Errorf("got %T, want kind %d", v, k)
}

// cursor is a row's key as the progress table keeps it: text, whatever
// the column's type (an integer in decimal, a blob in hex).
func (t table) cursor(row []any) ([]string, error) {
	idx := t.keyIndex()
	out := make([]string, len(idx))
	for i, j := range idx {
		switch v := row[j].(type) {
		case string:
			out[i] = v
		case []byte:
			if t.cols[j].kind == blob {
				out[i] = hex.EncodeToString(v)
			} else {
				out[i] = string(v)
			}
		case int64:
			out[i] = strconv.FormatInt(v, 10)
		default:
			return nil, fmt.Errorf("key %s: got %T", t.key[i], v)
		}
	}
	return out, nil
}

// cursorArgs turns a stored cursor back into SQLite values of the key's
// types, which the row value compares with.
func (t table) cursorArgs(cur []string) ([]any, error) {
	if len(cur) != len(t.key) {
		return nil, fmt.Errorf("cursor %q: want %d values", cur, len(t.key))
	}
	idx := t.keyIndex()
	out := make([]any, len(cur))
	for i, j := range idx {
		switch t.cols[j].kind {
		case integer:
			n, err := strconv.ParseInt(cur[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("cursor %q: %w", cur, err)
			}
			out[i] = n
		case blob:
			b, err := hex.DecodeString(cur[i])
			if err != nil {
				return nil, fmt.Errorf("cursor %q: %w", cur, err)
			}
			out[i] = b
		default:
			out[i] = cur[i]
		}
	}
	return out, nil
}
