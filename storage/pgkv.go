package storage

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgKV is kvTx on one PostgreSQL transaction. Reads go to the database
// (point reads are remembered for the rest of the transaction, whose
// snapshot does not move); writes go to the overlay, which reads and
// cursors see, and reach the database in one round trip at flush.
type pgKV struct {
	ctx  context.Context
	conn *pgxpool.Conn
	// begin opens the transaction; it rides with the first query (one
	// round trip for both) and is "" once sent.
	begin string
	ov    *overlay // nil in a read-only transaction
	reads map[string][]byte
	stats *pgCounters

	// prelude are statements queued to ride with the next round trip
	// (the begin, a read, or the commit), sent before its own query.
	prelude []queued
	// want are keys to read with the next round trip (prefetch), into
	// reads: a typed method that knows what it will read next queues it.
	want []wantKey
	// wantScans are first pages to read with the next round trip.
	wantScans []scanKey
	// scans remembers the first page of each range read (its snapshot
	// does not move, and the overlay is merged in by the cursor), so that
	// the writer's batch of update functions asking the same question
	// (does this company have webhook endpoints?) asks the database once.
	scans map[scanKey][]kvRow
	// fresh are keys taken absent without reading them: records keyed by
	// an id NextID has just handed out (see assumeFresh). The commit
	// inserts them without ON CONFLICT, so that a row there after all
	// fails the transaction, which runs again reading them.
	fresh  map[string]bool
	assume bool // NextID may mark fresh keys (the writer, first attempt)
	// single: no transaction (viewOne); a second round trip stops the
	// function with errSecondRead.
	single, sent bool
}

// errSecondRead stops a function run by viewOne that reads twice.
var errSecondRead = errors.New("storage: a second read outside a transaction")

// pgCounters count the round trips of reads, for Stats.
type pgCounters struct {
	gets, scans atomic.Uint64
	// round trips of every transaction, and of the writer's alone
	trips, writerTrips atomic.Uint64
}

// trip counts one round trip.
func (p *pgKV) trip() {
	p.stats.trips.Add(1)
	if p.ov != nil {
		p.stats.writerTrips.Add(1)
	}
}

type pgBucket struct {
	kv   *pgKV
	name string
	ob   *ovBucket // nil: nothing written to this bucket yet (read-only)
}

func (p *pgKV) bucket(name []byte, write, create bool) (kvBucket, error) {
	b := &pgBucket{kv: p, name: string(name)}
	if p.ov != nil {
		b.ob = p.ov.bucket(b.name)
	} else if write {
		return nil, errors.New("storage: write in a read-only transaction")
	}
	return b, nil
}

// read runs one query, opening the transaction first when it is not yet,
// and hands its rows to each (rows are closed afterwards). The begin and
// the queued statements ride in the same round trip.
func (p *pgKV) read(sql string, args []any, each func(pgx.Rows) error) error {
	p.takeWant()
	if p.single {
		n := len(p.prelude)
		if sql != "" {
			n++
		}
		if p.sent || n > 1 { // more than one statement: one snapshot needs a transaction
			fail(errSecondRead)
		}
		p.sent = true
	}
	p.trip()
	if p.begin == "" && len(p.prelude) == 0 {
		rows, err := p.conn.Query(p.ctx, sql, args...)
		if err != nil {
			return err
		}
		return consume(rows, each)
	}
	b := &pgx.Batch{}
	began := p.begin != ""
	if began {
		b.Queue(p.begin)
		p.begin = ""
	}
	pre := p.prelude
	p.prelude = nil
	for _, q := range pre {
		b.Queue(q.sql, q.args...)
	}
	if sql != "" {
		b.Queue(sql, args...)
	}
	br := p.conn.SendBatch(p.ctx, b)
	defer br.Close()
	if began {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	for _, q := range pre {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if err := consume(rows, q.each); err != nil {
			return err
		}
	}
	if sql != "" {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if err := consume(rows, each); err != nil {
			return err
		}
	}
	return br.Close()
}

// consume hands rows to each (nil: drop them) and closes them.
func consume(rows pgx.Rows, each func(pgx.Rows) error) error {
	defer rows.Close()
	if each != nil {
		if err := each(rows); err != nil {
			return err
		}
	}
	rows.Close()
	return rows.Err()
}

// fail hands a database error to catch (see pgFault).
func fail(err error) { panic(pgFault{err}) }

func readKey(bucket string, k []byte) string { return bucket + "\x00" + string(k) }

func (b *pgBucket) Get(k []byte) []byte {
	if b.ob != nil {
		if e, ok := b.ob.m[string(k)]; ok {
			if e.del {
				return nil
			}
			return e.v
		}
	}
	rk := readKey(b.name, k)
	if v, ok := b.kv.reads[rk]; ok {
		return v
	}
	if len(b.kv.want) > 0 || len(b.kv.wantScans) > 0 || len(b.kv.prelude) > 0 {
		// One multi-key read for this key and the prefetched ones.
		b.kv.want = append(b.kv.want, wantKey{b.name, k})
		if err := b.kv.read("", nil, nil); err != nil {
			fail(err)
		}
		return b.kv.reads[rk]
	}
	var v []byte
	b.kv.stats.gets.Add(1)
	err := b.kv.read(`select v from kv where bucket = $1 and k = $2`, []any{b.name, k}, func(rows pgx.Rows) error {
		if !rows.Next() {
			return nil
		}
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if v == nil {
			v = []byte{} // present and empty, as bbolt answers
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
	if b.kv.reads == nil {
		b.kv.reads = map[string][]byte{}
	}
	b.kv.reads[rk] = v
	return v
}

func (b *pgBucket) Put(k, v []byte) error {
	if b.ob == nil {
		return errors.New("storage: write in a read-only transaction")
	}
	if v == nil {
		v = []byte{}
	}
	b.kv.ov.set(b.ob, string(k), ovVal{v: v})
	return nil
}

func (b *pgBucket) Delete(k []byte) error {
	if b.ob == nil {
		return errors.New("storage: write in a read-only transaction")
	}
	b.kv.ov.set(b.ob, string(k), ovVal{del: true})
	return nil
}

func (b *pgBucket) Cursor() kvCursor { return &pgCursor{b: b} }

// ---- the overlay: writes buffered until the flush ----

type ovVal struct {
	v   []byte
	del bool
}

type ovBucket struct {
	m      map[string]ovVal
	sorted []string // every key written, in order (some may be gone from m after an undo)
	tail   []string // keys written since sorted was last merged
}

type undoRec struct {
	b    *ovBucket
	k    string
	prev ovVal
	had  bool
}

type overlay struct {
	buckets map[string]*ovBucket
	undoLog []undoRec
}

func newOverlay() *overlay { return &overlay{buckets: map[string]*ovBucket{}} }

func (o *overlay) bucket(name string) *ovBucket {
	b := o.buckets[name]
	if b == nil {
		b = &ovBucket{m: map[string]ovVal{}}
		o.buckets[name] = b
	}
	return b
}

// mark starts the undo log of the next update function.
func (o *overlay) mark() { o.undoLog = o.undoLog[:0] }

// undo drops the writes made since mark.
func (o *overlay) undo() {
	for i := len(o.undoLog) - 1; i >= 0; i-- {
		u := o.undoLog[i]
		if u.had {
			u.b.m[u.k] = u.prev
		} else {
			delete(u.b.m, u.k)
		}
	}
	o.undoLog = o.undoLog[:0]
}

func (o *overlay) set(b *ovBucket, k string, v ovVal) {
	prev, had := b.m[k]
	o.undoLog = append(o.undoLog, undoRec{b: b, k: k, prev: prev, had: had})
	if !had {
		b.tail = append(b.tail, k)
	}
	b.m[k] = v
}

// settle merges the keys written since the last cursor into sorted.
func (b *ovBucket) settle() {
	if len(b.tail) == 0 {
		return
	}
	slices.Sort(b.tail)
	merged := make([]string, 0, len(b.sorted)+len(b.tail))
	i, j := 0, 0
	for i < len(b.sorted) || j < len(b.tail) {
		switch {
		case j == len(b.tail) || (i < len(b.sorted) && b.sorted[i] < b.tail[j]):
			merged = append(merged, b.sorted[i])
			i++
		case i == len(b.sorted) || b.tail[j] < b.sorted[i]:
			merged = append(merged, b.tail[j])
			j++
		default:
			merged = append(merged, b.sorted[i])
			i, j = i+1, j+1
		}
	}
	b.sorted = slices.Compact(merged)
	b.tail = b.tail[:0]
}

// commit sends every buffered write and the commit in one round trip (with
// the transaction's begin, when nothing was read).
func (p *pgKV) commit() error {
	var ub []string
	var uk, uv [][]byte
	var db []string
	var dk [][]byte
	var fb []string
	var fk, fv [][]byte
	for name, b := range p.ov.buckets {
		for k, e := range b.m {
			if p.fresh[readKey(name, []byte(k))] {
				// Inserted, even when deleted since: the insert
				// checks that the key was absent.
				fb, fk, fv = append(fb, name), append(fk, []byte(k)), append(fv, e.v)
				if !e.del {
					continue
				}
			}
			if e.del {
				db, dk = append(db, name), append(dk, []byte(k))
			} else {
				ub, uk, uv = append(ub, name), append(uk, []byte(k)), append(uv, e.v)
			}
		}
	}
	p.want, p.wantScans = nil, nil // prefetches nobody read
	p.prelude = slices.DeleteFunc(p.prelude, func(q queued) bool { return q.opt })
	if len(p.prelude) > 0 {
		// Checked before the COMMIT is sent: a failed check must not
		// commit.
		if err := p.read("", nil, nil); err != nil {
			return err
		}
	}
	if len(ub)+len(db)+len(fb) == 0 && p.begin != "" {
		return nil // nothing read, nothing written: no transaction
	}
	batch := &pgx.Batch{}
	if p.begin != "" {
		batch.Queue(p.begin)
		p.begin = ""
	}
	if len(ub) > 0 {
		batch.Queue(`insert into kv (bucket, k, v) select * from unnest($1::text[], $2::bytea[], $3::bytea[])
			on conflict (bucket, k) do update set v = excluded.v`, ub, uk, uv)
	}
	if len(fb) > 0 {
		batch.Queue(`insert into kv (bucket, k, v) select * from unnest($1::text[], $2::bytea[], $3::bytea[])`, fb, fk, fv)
	}
	if len(db) > 0 {
		batch.Queue(`delete from kv where (bucket, k) in (select * from unnest($1::text[], $2::bytea[]))`, db, dk)
	}
	batch.Queue(`commit`)
	p.trip()
	return p.conn.SendBatch(p.ctx, batch).Close()
}

// ---- cursors: ordered range queries, fetched in growing batches ----

type kvRow struct{ k, v []byte }

type pgCursor struct {
	b   *pgBucket
	fwd bool
	cur []byte // the key the cursor is on; nil: off either end

	// the database side: rows fetched past cur in the walk's direction
	rows   []kvRow
	pos    int
	done   bool   // no further rows in the database
	from   []byte // bound of the next fetch (nil: the bucket's end)
	incl   bool   // the bound itself is included
	limit  int
	ovFrom []byte // the overlay side's bound, as from/incl
	ovIncl bool
}

const (
	firstFetch = 8
	maxFetch   = 512
)

func (c *pgCursor) reset(fwd bool, from []byte, incl bool) ([]byte, []byte) {
	c.fwd, c.rows, c.pos, c.done, c.limit = fwd, nil, 0, false, firstFetch
	c.from, c.incl = from, incl
	c.ovFrom, c.ovIncl = from, incl
	return c.step()
}

func (c *pgCursor) First() ([]byte, []byte)        { return c.reset(true, nil, true) }
func (c *pgCursor) Last() ([]byte, []byte)         { return c.reset(false, nil, true) }
func (c *pgCursor) Seek(k []byte) ([]byte, []byte) { return c.reset(true, bytes.Clone(k), true) }

func (c *pgCursor) Next() ([]byte, []byte) {
	switch {
	case c.cur == nil:
		return nil, nil
	case c.fwd:
		return c.step()
	}
	return c.reset(true, c.cur, false)
}

func (c *pgCursor) Prev() ([]byte, []byte) {
	switch {
	case c.cur == nil:
		return nil, nil
	case !c.fwd:
		return c.step()
	}
	return c.reset(false, c.cur, false)
}

// before reports whether a comes before b in the walk's direction.
func (c *pgCursor) before(a, b []byte) bool {
	if c.fwd {
		return bytes.Compare(a, b) < 0
	}
	return bytes.Compare(a, b) > 0
}

// step lands on the next key in the walk's direction, merging the database's
// rows with the overlay (whose writes win, and whose deletes hide rows).
func (c *pgCursor) step() ([]byte, []byte) {
	ob := c.b.ob
	for {
		dbRow := c.peekDB()
		ovKey, ovOK := c.peekOV()
		var k, v []byte
		switch {
		case dbRow == nil && !ovOK:
			c.cur = nil
			return nil, nil
		case dbRow != nil && (!ovOK || c.before(dbRow.k, ovKey)):
			c.pos++
			k, v = dbRow.k, dbRow.v
			if ob != nil {
				if e, ok := ob.m[string(k)]; ok {
					if e.del {
						c.ovFrom, c.ovIncl, c.cur = k, false, k
						continue
					}
					v = e.v
				}
			}
		default:
			if dbRow != nil && bytes.Equal(dbRow.k, ovKey) {
				c.pos++
			}
			e := ob.m[string(ovKey)]
			if e.del {
				c.ovFrom, c.ovIncl, c.cur = ovKey, false, ovKey
				continue
			}
			k, v = ovKey, e.v
		}
		c.ovFrom, c.ovIncl, c.cur = k, false, k
		return k, v
	}
}

// peekDB returns the next database row past cur, fetching when needed.
func (c *pgCursor) peekDB() *kvRow {
	if c.pos < len(c.rows) {
		return &c.rows[c.pos]
	}
	if c.done {
		return nil
	}
	c.fetch()
	if c.pos < len(c.rows) {
		return &c.rows[c.pos]
	}
	return nil
}

func (c *pgCursor) fetch() {
	sql, args := scanSQL(c.b.name, c.fwd, c.from, c.incl, c.limit)
	kv := c.b.kv
	sk := scanKey{bucket: c.b.name, from: string(c.from), hasFrom: c.from != nil, fwd: c.fwd, incl: c.incl}
	if c.limit == firstFetch && slices.Contains(kv.wantScans, sk) {
		if err := kv.read("", nil, nil); err != nil { // the page asked for, with what else waits
			fail(err)
		}
	}
	if rows, ok := kv.scans[sk]; ok && c.limit == firstFetch {
		c.rows, c.pos = rows, 0
		c.fetched()
		return
	}
	kv.stats.scans.Add(1)
	c.rows, c.pos = nil, 0 // a new slice: a remembered page is shared
	err := kv.read(sql, args, func(rows pgx.Rows) (err error) {
		c.rows, err = scanRows(rows)
		return err
	})
	if err != nil {
		fail(err)
	}
	if c.limit == firstFetch { // only first pages: a long walk keeps no memory
		if kv.scans == nil {
			kv.scans = map[scanKey][]kvRow{}
		}
		kv.scans[sk] = c.rows
	}
	c.fetched()
}

// fetched moves the bound of the next fetch past the rows just fetched.
func (c *pgCursor) fetched() {
	if len(c.rows) < c.limit {
		c.done = true
	} else {
		c.from, c.incl = c.rows[len(c.rows)-1].k, false
	}
	c.limit = min(c.limit*2, maxFetch)
}

// peekOV returns the overlay's next key past its bound that is still
// written (undone keys stay in sorted but not in m).
func (c *pgCursor) peekOV() ([]byte, bool) {
	ob := c.b.ob
	if ob == nil || len(ob.m) == 0 {
		return nil, false
	}
	ob.settle()
	s := ob.sorted
	if c.fwd {
		i := 0
		if c.ovFrom != nil {
			from := string(c.ovFrom)
			i = sort.SearchStrings(s, from)
			if !c.ovIncl && i < len(s) && s[i] == from {
				i++
			}
		}
		for ; i < len(s); i++ {
			if _, ok := ob.m[s[i]]; ok {
				return []byte(s[i]), true
			}
		}
		return nil, false
	}
	i := len(s) - 1
	if c.ovFrom != nil {
		from := string(c.ovFrom)
		j := sort.SearchStrings(s, from) // first >= from
		if c.ovIncl && j < len(s) && s[j] == from {
			i = j
		} else {
			i = j - 1
		}
	}
	for ; i >= 0; i-- {
		if _, ok := ob.m[s[i]]; ok {
			return []byte(s[i]), true
		}
	}
	return nil, false
}
