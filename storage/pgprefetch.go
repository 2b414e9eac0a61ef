package storage

import (
	"fmt"

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
// COMMIT is sent, so a failed check never commits.
type queued struct {
	sql  string
	args []any
	each func(pgx.Rows) error
	scan scanKey // a prefetched page (see prefetchScan)
}

// optional reports a prefetch, dropped when the commit comes first.
func (q queued) optional() bool { return q.scan != (scanKey{}) }

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

// takeWant turns the wanted keys into queued point reads (one statement
// each, on the primary key: a multi-key query could be planned as a scan,
// whose predicate lock on the whole table would make every serializable
// transaction conflict with this one).
func (p *pgKV) takeWant() {
	if len(p.want) == 0 {
		return
	}
	if p.reads == nil {
		p.reads = map[string][]byte{}
	}
	for _, w := range p.want {
		rk := readKey(w.bucket, w.k)
		if _, ok := p.reads[rk]; ok {
			continue
		}
		p.reads[rk] = nil // absent unless the row says otherwise
		p.stats.gets.Add(1)
		p.queue(queued{
			sql:  `select v from kv where bucket = $1 and k = $2`,
			args: []any{w.bucket, w.k},
			each: func(rows pgx.Rows) error {
				if !rows.Next() {
					return nil
				}
				var v []byte
				if err := rows.Scan(&v); err != nil {
					return err
				}
				if v == nil {
					v = []byte{}
				}
				p.reads[rk] = v
				return nil
			},
		})
	}
	p.want = p.want[:0]
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
	if _, ok := p.scans[sk]; ok {
		return
	}
	for _, q := range p.prelude {
		if q.scan == sk {
			return
		}
	}
	sql, args := scanSQL(bucket, true, prefix, true, firstFetch)
	p.stats.scans.Add(1)
	p.queue(queued{sql: sql, args: args, scan: sk, each: func(rows pgx.Rows) error {
		page, err := scanRows(rows)
		if err != nil {
			return err
		}
		if p.scans == nil {
			p.scans = map[scanKey][]kvRow{}
		}
		p.scans[sk] = page
		return nil
	}})
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
