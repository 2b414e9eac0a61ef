package storage

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Reading ahead on PostgreSQL, where every read is a round trip: statements
// queued on a transaction ride with its next round trip (its first read
// carries the begin, see pgKV.read), so reads a typed method knows it will
// make cost one round trip together instead of one each.

// queued is a statement sent with the next round trip of a transaction.
// each reads its rows; an error from each fails the transaction (the read
// that carried it panics with a pgFault). A statement still queued at the
// commit is sent (with the begin) before the writes and checked before the
// COMMIT is sent, so a failed check never commits; a read ahead (opt) is
// dropped instead.
type queued struct {
	sql  string
	args []any
	each func(pgx.Rows) error
	opt  bool // a read ahead, dropped when the commit comes first
}

type wantKey struct {
	bucket string
	k      []byte
}

type scanKey struct {
	bucket             string
	from               string
	hasFrom, fwd, incl bool
}

// queue adds a statement to the prelude of the transaction's next round
// trip (see queued).
//
// A check that must fail one update function only (a fenced commit: this
// queue's lease is no longer ours) records its outcome in each and returns
// nil there; the function calls flushQueued before it returns (a no-op
// when a read of its own carried the statement already) and fails with
// the recorded outcome, so that only its writes are dropped. An error
// returned by each fails the whole batch instead.
func (p *pgKV) queue(q queued) { p.prelude = append(p.prelude, q) }

// flushQueued sends what is queued now, with the begin when the
// transaction is not open yet: one round trip, none when nothing waits.
// Prefetches go too (see takeWant).
func (p *pgKV) flushQueued() error {
	p.takeWant()
	if len(p.prelude) == 0 {
		return nil
	}
	return p.read("", nil, nil)
}

// prefetch asks for k of bucket to be read with the transaction's next
// round trip, unless it is read or written already.
func (p *pgKV) prefetch(bucket string, k []byte) {
	if p.ov != nil {
		if b := p.ov.buckets[bucket]; b != nil {
			if _, ok := b.m[string(k)]; ok {
				return
			}
		}
	}
	if _, ok := p.reads[readKey(bucket, k)]; ok {
		return
	}
	p.want = append(p.want, wantKey{bucket, k})
}

// takeWant turns the keys and pages asked for into one queued statement,
// whatever their number and buckets: a function reading ahead everything it
// will read (see ViewOne) needs no transaction. Each goes by the primary
// key: a lateral subquery with a limit runs once per key (it cannot be
// planned as a join that scans the table, whose predicate lock would make
// every serializable transaction conflict with this one). Its rows are
// numbered: key i as i, page i as -i.
func (p *pgKV) takeWant() {
	if p.reads == nil {
		p.reads = map[string][]byte{}
	}
	var bs []string
	var ks [][]byte
	var rks []string
	for _, w := range p.want {
		rk := readKey(w.bucket, w.k)
		if _, ok := p.reads[rk]; ok {
			continue
		}
		p.reads[rk] = nil // absent unless a row says otherwise
		bs, ks, rks = append(bs, w.bucket), append(ks, w.k), append(rks, rk)
	}
	p.want = p.want[:0]
	sks := p.wantScans
	p.wantScans = nil
	if len(bs) == 0 && len(sks) == 0 {
		return
	}
	var parts []string
	var args []any
	if len(bs) > 0 {
		p.stats.gets.Add(1)
		parts = append(parts, `select w.i, null::bytea, r.v from unnest($1::text[], $2::bytea[]) with ordinality w(b, k, i)
			cross join lateral (select v from kv where bucket = w.b and k = w.k limit 1) r`)
		args = append(args, bs, ks)
	}
	if len(sks) > 0 {
		p.stats.scans.Add(1)
		sbs, froms := make([]string, len(sks)), make([][]byte, len(sks))
		for i, sk := range sks {
			sbs[i], froms[i] = sk.bucket, []byte(sk.from)
		}
		n := len(args)
		parts = append(parts, fmt.Sprintf(`select -w.i, r.k, r.v from unnest($%d::text[], $%d::bytea[]) with ordinality w(b, f, i)
			cross join lateral (select k, v from kv where bucket = w.b and k >= w.f order by k limit %d) r`, n+1, n+2, firstFetch))
		args = append(args, sbs, froms)
	}
	pages := make([][]kvRow, len(sks))
	p.queue(queued{opt: true, sql: strings.Join(parts, " union all "), args: args,
		each: func(rows pgx.Rows) error {
			for rows.Next() {
				var i int64
				var r kvRow
				if err := rows.Scan(&i, &r.k, &r.v); err != nil {
					return err
				}
				if r.v == nil {
					r.v = []byte{} // present and empty, as bbolt answers
				}
				if i > 0 {
					p.reads[rks[i-1]] = r.v
				} else {
					pages[-i-1] = append(pages[-i-1], r)
				}
			}
			if len(sks) > 0 && p.scans == nil {
				p.scans = map[scanKey][]kvRow{}
			}
			for i, sk := range sks {
				// Rows come in key order as planned, which
				// nothing promises: a cursor needs it.
				slices.SortFunc(pages[i], func(a, b kvRow) int { return bytes.Compare(a.k, b.k) })
				p.scans[sk] = pages[i]
			}
			return nil
		}})
}

// scanSQL is the query of one page of a range read: the rows of bucket past
// from (at or past it when incl; from the bucket's end when nil) in the
// walk's direction, at most limit.
func scanSQL(bucket string, fwd bool, from []byte, incl bool, limit int) (string, []any) {
	args := []any{bucket, limit}
	order := "k"
	if !fwd {
		order = "k desc"
	}
	if from == nil {
		return `select k, v from kv where bucket = $1 order by ` + order + ` limit $2`, args
	}
	op := map[[2]bool]string{{true, true}: ">=", {true, false}: ">", {false, true}: "<=", {false, false}: "<"}[[2]bool{fwd, incl}]
	return fmt.Sprintf(`select k, v from kv where bucket = $1 and k %s $3 order by %s limit $2`, op, order), append(args, from)
}

// scanRows reads the rows of a page.
func scanRows(rows pgx.Rows) ([]kvRow, error) {
	var out []kvRow
	for rows.Next() {
		var r kvRow
		if err := rows.Scan(&r.k, &r.v); err != nil {
			return nil, err
		}
		if r.v == nil {
			r.v = []byte{}
		}
		out = append(out, r)
	}
	return out, nil
}

// prefetchScan asks for the first page of a forward walk of bucket from
// prefix (a cursor's Seek(prefix)) to ride with the next round trip; the
// cursor that then seeks there finds it among the remembered pages.
func (p *pgKV) prefetchScan(bucket string, prefix []byte) {
	sk := scanKey{bucket: bucket, from: string(prefix), hasFrom: true, fwd: true, incl: true}
	if _, ok := p.scans[sk]; ok || slices.Contains(p.wantScans, sk) {
		return
	}
	p.wantScans = append(p.wantScans, sk)
}

// assumeFresh takes k of bucket as absent without reading it: k is the key
// of the id NextID has just handed out, and every record of bucket is keyed
// by an id its sequence handed out before. The commit checks it (see
// pgKV.fresh).
func (p *pgKV) assumeFresh(bucket string, k []byte) {
	if !p.assume || p.ov == nil {
		p.prefetch(bucket, k)
		return
	}
	rk := readKey(bucket, k)
	if _, ok := p.reads[rk]; ok {
		return // read already: the commit need not check it
	}
	if p.reads == nil {
		p.reads = map[string][]byte{}
	}
	if p.fresh == nil {
		p.fresh = map[string]bool{}
	}
	p.reads[rk] = nil
	p.fresh[rk] = true
}

// follow reads a unique index entry and the record it names in one query
// (lookup would read them one after the other), into reads. Nothing is
// read when the entry is written or read already in this transaction.
func (p *pgKV) follow(index string, k []byte, table string) {
	if p.ov != nil {
		if b := p.ov.buckets[index]; b != nil {
			if _, ok := b.m[string(k)]; ok {
				return
			}
		}
	}
	ik := readKey(index, k)
	if _, ok := p.reads[ik]; ok {
		return
	}
	p.stats.gets.Add(1)
	err := p.read(`select i.v, r.v, r.k is not null from kv i left join kv r on r.bucket = $3 and r.k = i.v
		where i.bucket = $1 and i.k = $2`, []any{index, k, table}, func(rows pgx.Rows) error {
		if p.reads == nil {
			p.reads = map[string][]byte{}
		}
		p.reads[ik] = nil
		if !rows.Next() {
			return nil
		}
		var pk, v []byte
		var present bool
		if err := rows.Scan(&pk, &v, &present); err != nil {
			return err
		}
		if pk == nil {
			pk = []byte{}
		}
		p.reads[ik] = pk
		rk := readKey(table, pk)
		if _, ok := p.reads[rk]; !ok {
			if present && v == nil {
				v = []byte{}
			}
			p.reads[rk] = v
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
}
