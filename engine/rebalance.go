package engine

import (
	"context"
	"sync"
)

// Rebalancing: after every recorded sale, refund or cancellation the shop's
// offers of the occurrence are recomputed (Allocate) and pushed by an
// inventory-only save on the event's queue, the one mechanism the engine has
// for shop writes (ordered behind the event's other operations, resumed
// after a crash, retried with backoff, visible in the API).
//
// Coalesced: a burst of sales does not make one save each. While an
// inventory-only save of the occurrence created by this process is queued
// and has not begun, a new sale joins it instead of creating another: that
// save reads the structure when it runs, so it pushes the allocation after
// every sale that joined it. The runner, as it claims such a save, marks it
// begun and waits for the joiners whose commits are still in flight, so a
// joined sale is always in what the save reads. A save claimed by another
// node (a shared store) is not known as begun here; the join then also
// requires the stored operation to be untouched (version 1), and the
// reconciliation timer's Rebalance catches whatever a race left behind.
// Either way the shop never offers more than exists: a sale the save does
// not see yet is one the shop already took off its level, and the
// inventory phase holds such units back (it compares with what it last
// wrote).
type rebalances struct {
	mu   sync.Mutex
	pend map[uint64]*pendingRebalance // by event: a queued save not begun
}

type pendingRebalance struct {
	op      uint64
	started bool
	joiners sync.WaitGroup
}

// joins are the pending saves one write joined; done (after the write's
// commit, whatever its outcome) lets their runs begin. A write whose
// transaction runs twice joins each save once.
type joins struct {
	set map[*pendingRebalance]bool
}

func (j *joins) done() {
	if j == nil {
		return
	}
	for p := range j.set {
		p.joiners.Done()
	}
	j.set = nil
}

// joinRebalance joins a queued inventory-only save of the event that has
// not begun, and reports whether it did (then no new one is needed).
func (e *Engine) joinRebalance(tx Tx, eventID uint64, j *joins) (bool, error) {
	if j == nil {
		return false, nil
	}
	e.rebal.mu.Lock()
	defer e.rebal.mu.Unlock()
	p := e.rebal.pend[eventID]
	if p == nil || p.started {
		return false, nil
	}
	if j.set[p] {
		return true, nil
	}
	op, err := tx.Operation(p.op)
	if err != nil {
		return false, err
	}
	if op == nil || op.Status != StatusPending || op.Version != 1 {
		delete(e.rebal.pend, eventID)
		return false, nil
	}
	if j.set == nil {
		j.set = map[*pendingRebalance]bool{}
	}
	j.set[p] = true
	p.joiners.Add(1)
	return true, nil
}

// notePending remembers the inventory-only saves just committed as
// joinable.
func (e *Engine) notePending(ops []*Operation) {
	e.rebal.mu.Lock()
	defer e.rebal.mu.Unlock()
	for _, op := range ops {
		if op.InventoryOnly && op.Action == ActionSave {
			if e.rebal.pend == nil {
				e.rebal.pend = map[uint64]*pendingRebalance{}
			}
			if p := e.rebal.pend[op.EventID]; p != nil && !p.started {
				continue // the earlier one runs first, and keeps its joiners
			}
			e.rebal.pend[op.EventID] = &pendingRebalance{op: op.ID}
		}
	}
}

// beginRebalance is called as a run claims op: a pending save stops taking
// joiners, and waits for those whose commits are in flight.
func (e *Engine) beginRebalance(op *Operation) {
	if !op.InventoryOnly {
		return
	}
	e.rebal.mu.Lock()
	p := e.rebal.pend[op.EventID]
	if p != nil && p.op == op.ID {
		p.started = true
		delete(e.rebal.pend, op.EventID)
	} else {
		p = nil
	}
	e.rebal.mu.Unlock()
	if p != nil {
		p.joiners.Wait()
	}
}

// Rebalance pushes the shop's allocation of a live event of a Shopify
// company again (for a recurring event, of every occurrence): the
// reconciliation timer calls it, and anything that changed what the shop
// may offer outside the engine's own writes. It starts an inventory-only
// save, or joins one that is queued and has not begun (then nil is
// returned); a company without a shop has nothing to push (nil, nil).
func (e *Engine) Rebalance(ctx context.Context, companyID, eventID uint64) (*Operation, error) {
	queue, err := e.eventQueue(companyID, eventID)
	if err != nil {
		return nil, err
	}
	unlock := e.lockQueue(queue)
	defer unlock()
	j := &joins{}
	defer j.done()
	var op *Operation
	err = e.store.Update(ctx, func(tx Tx) error {
		op = nil
		c, ev, err := liveEvent(tx, companyID, eventID)
		if err != nil || !c.Shopify() {
			return err
		}
		if joined, err := e.joinRebalance(tx, ev.ID, j); err != nil || joined {
			return err
		}
		op, err = newOperation(tx, ActionSave, ev, c, e.now(), true)
		return err
	})
	if err != nil || op == nil {
		return nil, err
	}
	e.launch(ctx, op)
	return op, nil
}

// DriftedOffers lists the company's live date events (occurrences
// included) whose shop offers differ from their allocation: a mirrored
// variant whose offer (ShopOffered: the last written less the shop sales
// recorded since) is not what Allocate gives for what is recorded now. The reconciliation timer rebalances them, so a
// rebalance a crash or a lost race left undone is caught within one
// interval. Variants never written yet and types without a limit are left
// out (a pending save writes the first; the second have nothing to share).
// It reads the store only.
func (e *Engine) DriftedOffers(companyID uint64) ([]uint64, error) {
	var out []uint64
	err := e.store.View(func(tx Tx) error {
		cursor := ""
		for {
			evs, next, err := tx.Events(EventQuery{CompanyID: companyID, Sort: SortID, Cursor: cursor, Limit: 500})
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if ev.Deleted || ev.Type != EventDate {
					continue
				}
				s, err := tx.TicketStructure(ev.ID)
				if err != nil {
					return err
				}
				if s != nil && offersDrifted(s) {
					out = append(out, ev.ID)
				}
			}
			if next == "" || len(evs) == 0 {
				return nil
			}
			cursor = next
		}
	})
	return out, err
}

// offersDrifted reports whether a structure's written offers differ from
// its allocation.
func offersDrifted(s *TicketStructure) bool {
	alloc := StructureAllocation(s, nil)
	for _, p := range s.Products {
		for _, v := range p.Variants {
			if v.ShopifyVariantID == "" || v.ShopOffer == nil {
				continue
			}
			want, ok := alloc[v.RegistrationTypeID]
			if !ok || want == nil {
				continue
			}
			if *s.ShopOffered(v) != *want {
				return true
			}
		}
	}
	return false
}
