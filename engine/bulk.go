package engine

import (
	"context"
	"slices"
)

// Bulk retry and cancel: one command acting on every operation a filter
// selects ("retry every SHOPIFY_AUTH_REJECTED of company 3 since 10:00"),
// for the API (a key's own company) and the dashboard (admins, any
// company). Each operation is retried or canceled exactly as the single
// commands do it, one commit each: a crash part-way leaves the ones done
// done, and calling again carries on, because a failure already retried
// and an operation already asked to cancel are skipped, never repeated.

// MaxBulk is the most operations one bulk call acts on.
const MaxBulk = 1000

// bulkExamine bounds the operations one bulk call reads (acted on or
// skipped), so that a filter matching a long history of skipped ones
// answers in bounded time; More and Next then say where to go on
// (Config.BulkExamine changes it).
const bulkExamine = 10 * MaxBulk

func (e *Engine) bulkExamine() int {
	if e.examine > 0 {
		return e.examine
	}
	return bulkExamine
}

// BulkResult is what a bulk retry or cancel did.
type BulkResult struct {
	// Operations are the new operations (retry) or the canceled ones
	// (cancel), in the order acted on (newest selected first).
	Operations []*Operation
	// Skipped counts selected operations left alone: failures already
	// retried, operations already asked to cancel.
	Skipped int
	// More is set when more operations may be eligible than the call
	// acted on (its limit was reached, or it read as many as it may):
	// call again with OperationQuery.Before set to Next to go on.
	More bool
	// Next, when More is set, is where the next call goes on: the id above
	// the first operation this one did not handle, for
	// OperationQuery.Before. A call from the top again would work too,
	// but would read the skipped ones again and, when they fill a call's
	// reading, never get further.
	Next uint64
}

// BulkPreview is what a bulk call would do now, for a confirmation.
type BulkPreview struct {
	// Eligible is how many operations the call would act on (at most
	// Limit; More says whether there are more).
	Eligible int
	Skipped  int
	More     bool
	// Next is BulkResult.Next: where to look further when More is set.
	Next uint64
	// Sample is the first few eligible operations.
	Sample []*Operation
	// Before bounds a confirmation to what this preview read: passed as
	// OperationQuery.Before, operations created after the preview are
	// left out (the newest read plus one; the query's own Before when
	// nothing was read).
	Before uint64
}

// bulkScan walks the operations q selects with a status the action takes
// (failed for a retry; pending and running for a cancel), newest first,
// calling visit with each and whether it is eligible, until visit returns
// false or nothing is left. The status filter, when q has one, must be
// one the action takes, else the request is invalid.
func (e *Engine) bulkScan(action string, q OperationQuery, idx *retriedIndex, visit func(op *Operation, eligible bool) (bool, error)) error {
	var statuses []Status
	switch action {
	case "retry":
		statuses = []Status{StatusFailed}
	case "cancel":
		statuses = []Status{StatusRunning, StatusPending}
	}
	if q.Status != "" {
		if !slices.Contains(statuses, q.Status) {
			return Invalid(FieldError{Attribute: "filter[status]", Code: "invalid",
				Message: "a bulk " + action + " takes operations that are " + joinStatuses(statuses) + ", not " + string(q.Status)})
		}
		statuses = []Status{q.Status}
	}
	if !q.CreatedFrom.IsZero() && !q.CreatedTo.IsZero() && !q.CreatedFrom.Before(q.CreatedTo) {
		return Invalid(FieldError{Attribute: "filter[created_at][to]", Code: "invalid",
			Message: "must be after filter[created_at][from]"})
	}
	// One cursor per status, merged newest first so that the order does
	// not depend on how the statuses are stored.
	type cursor struct {
		q    OperationQuery
		buf  []*Operation
		done bool
	}
	curs := make([]*cursor, len(statuses))
	for i, st := range statuses {
		cq := q
		cq.Status, cq.Limit = st, 100 // q.Before, when set, bounds the scan
		curs[i] = &cursor{q: cq}
	}
	fill := func(c *cursor) error {
		for len(c.buf) == 0 && !c.done {
			ops, next, err := e.Operations(c.q)
			if err != nil {
				return err
			}
			c.buf = ops
			c.done = next == 0
			c.q.Before = next
		}
		return nil
	}
	for {
		var best *cursor
		for _, c := range curs {
			if err := fill(c); err != nil {
				return err
			}
			if len(c.buf) > 0 && (best == nil || c.buf[0].ID > best.buf[0].ID) {
				best = c
			}
		}
		if best == nil {
			return nil
		}
		op := best.buf[0]
		best.buf = best.buf[1:]
		eligible, err := e.bulkEligible(action, op, idx)
		if err != nil {
			return err
		}
		if more, err := visit(op, eligible); err != nil || !more {
			return err
		}
	}
}

func (e *Engine) bulkEligible(action string, op *Operation, idx *retriedIndex) (bool, error) {
	if action == "cancel" {
		return !op.Status.Terminal() && !op.CancelAsked, nil
	}
	if op.Status != StatusFailed {
		return false, nil
	}
	retried, err := idx.retried(e, op)
	return !retried, err
}

// retriedIndex knows, per event, which of its operations were retried (the
// RetryOf of its operations) as of the newest one read, so that a bulk
// retry reads each event's history once, not once per failure of it
// (RetriesOf per failure decoded every newer operation of the event each
// time: a cost growing with the square of an event's history). Asked
// again, it reads only the event's operations newer than it has seen:
// under the queue lock, that check sees any retry made meanwhile.
type retriedIndex struct {
	events map[uint64]*eventRetries
}

type eventRetries struct {
	retried map[uint64]bool // ids of the event's operations that were retried
	top     uint64          // the newest operation id of the event read
}

func newRetriedIndex() *retriedIndex {
	return &retriedIndex{events: map[uint64]*eventRetries{}}
}

// retried reads the operations of op's event newer than the index has
// seen and reports whether op was retried.
func (x *retriedIndex) retried(e *Engine, op *Operation) (bool, error) {
	ev := x.events[op.EventID]
	if ev == nil {
		ev = &eventRetries{retried: map[uint64]bool{}}
		x.events[op.EventID] = ev
	}
	// Pages newest first; once the event was read, the first page is one
	// operation (usually one already seen, which ends the read), growing
	// while new ones keep coming.
	q := OperationQuery{EventID: op.EventID, Limit: 100}
	if ev.top != 0 {
		q.Limit = 1
	}
	top := ev.top
	for {
		ops, next, err := e.Operations(q)
		if err != nil {
			return false, err
		}
		for _, o := range ops {
			if o.ID <= ev.top { // newest first: the rest were read before
				next = 0
				break
			}
			top = max(top, o.ID)
			if o.RetryOf != 0 {
				ev.retried[o.RetryOf] = true
			}
		}
		if next == 0 || next <= ev.top+1 {
			break
		}
		q.Before, q.Limit = next, min(100, q.Limit*10)
	}
	ev.top = top
	return ev.retried[op.ID], nil
}

func joinStatuses(ss []Status) string {
	out := ""
	for i, s := range ss {
		switch {
		case i == 0:
		case i == len(ss)-1:
			out += " or "
		default:
			out += ", "
		}
		out += string(s)
	}
	return out
}

// bulkLimit is the call's limit: MaxBulk unless q.Limit is smaller.
func bulkLimit(q OperationQuery) int {
	if q.Limit > 0 && q.Limit < MaxBulk {
		return q.Limit
	}
	return MaxBulk
}

// PreviewBulk counts what BulkRetry ("retry") or BulkCancel ("cancel")
// would act on now, without changing anything.
func (e *Engine) PreviewBulk(action string, q OperationQuery) (BulkPreview, error) {
	var p BulkPreview
	if action != "retry" && action != "cancel" {
		return p, Invalid(FieldError{Attribute: "action", Code: "invalid", Message: "must be retry or cancel"})
	}
	limit := bulkLimit(q)
	seen := 0
	p.Before = q.Before
	err := e.bulkScan(action, q, newRetriedIndex(), func(op *Operation, eligible bool) (bool, error) {
		if seen == 0 {
			p.Before = op.ID + 1
		}
		if seen++; seen > e.bulkExamine() || eligible && p.Eligible == limit {
			p.More, p.Next = true, op.ID+1
			return false, nil
		}
		if !eligible {
			p.Skipped++
			return true, nil
		}
		p.Eligible++
		if len(p.Sample) < 10 {
			p.Sample = append(p.Sample, op)
		}
		return true, nil
	})
	return p, err
}

// BulkRetry retries every failed operation q selects that was not retried
// yet, at most MaxBulk (or q.Limit) of them; q.CompanyID scopes it to one
// company (0: every company, for staff). Each retry is RetryOperation's.
// An operation that cannot be retried any more (its event deleted, say)
// is counted as skipped.
func (e *Engine) BulkRetry(ctx context.Context, q OperationQuery) (BulkResult, error) {
	idx := newRetriedIndex()
	return e.bulk(ctx, "retry", q, idx, func(ctx context.Context, op *Operation) (*Operation, error) {
		return e.retryOperation(ctx, op.CompanyID, op.ID, func(old *Operation) error {
			// Under the queue lock: reads only what the event gained
			// since the scan looked.
			if retried, err := idx.retried(e, old); err != nil || !retried {
				return err
			}
			return Conflict("operation %d was already retried", old.ID)
		})
	})
}

// BulkCancel asks every pending or running operation q selects to cancel,
// as CancelOperation does, at most MaxBulk (or q.Limit) of them. One that
// ended meanwhile is counted as skipped.
func (e *Engine) BulkCancel(ctx context.Context, q OperationQuery) (BulkResult, error) {
	return e.bulk(ctx, "cancel", q, nil, func(ctx context.Context, op *Operation) (*Operation, error) {
		return e.CancelOperation(ctx, op.CompanyID, op.ID)
	})
}

func (e *Engine) bulk(ctx context.Context, action string, q OperationQuery, idx *retriedIndex, act func(context.Context, *Operation) (*Operation, error)) (BulkResult, error) {
	var res BulkResult
	limit := bulkLimit(q)
	// Each operation is its own command: an idempotency key of the whole
	// call must not be claimed by the first of them.
	ctx = WithoutIdempotency(ctx)
	seen := 0
	err := e.bulkScan(action, q, idx, func(op *Operation, eligible bool) (bool, error) {
		if seen++; seen > e.bulkExamine() || eligible && len(res.Operations) == limit {
			res.More, res.Next = true, op.ID+1
			return false, nil
		}
		if !eligible {
			res.Skipped++
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			// Out of time: what was done stays done; Next says where
			// to go on.
			res.More, res.Next = true, op.ID+1
			return false, err
		}
		done, err := act(ctx, op)
		if err == nil {
			res.Operations = append(res.Operations, done)
			return true, nil
		}
		switch ErrorKind(err) {
		case KindConflict, KindNotFound:
			res.Skipped++ // it changed since it was read
			return true, nil
		}
		if ctx.Err() != nil {
			// Out of time within this one: the next call looks at it
			// again (a retry made after all is skipped then).
			res.More, res.Next = true, op.ID+1
		}
		return false, err
	})
	return res, err
}
