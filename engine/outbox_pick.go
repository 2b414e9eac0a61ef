package engine

import (
	"slices"
	"time"
)

// How the delivery worker picks what to send: due deliveries not already
// in flight, not held back after a store failure, and not of an endpoint
// that has MaxEndpointSends in flight, so that one company's slow receiver
// cannot take every send slot.

// MaxEndpointSends bounds the sends in flight to one endpoint.
const MaxEndpointSends = 4

// deepScanEvery spaces the reads past the soonest due deliveries.
const deepScanEvery = 50 * time.Millisecond

// readyPerEndpoint bounds the deliveries of one endpoint that a deep read
// keeps for the next picks, so that an endpoint behind another's backlog
// is fed between deep reads.
const readyPerEndpoint = 16

// maxDueScan bounds how far past the soonest due deliveries the worker
// reads when those are all in flight, held or capped.
const maxDueScan = 1 << 16

// hold keeps a delivery out of the worker's picks until a time: its last
// try failed where no attempt could be recorded (the store failed to read
// it or to commit the attempt's end), so the delivery is still pending and
// due. Without it the worker would pick it again at once, in a tight loop.
type hold struct {
	until time.Time
	n     int // failures in a row
}

// holdFor is how long a delivery is held after n failures in a row: 1 s,
// doubling, at most a minute (not scaled: store failures are not receiver
// failures and the retry schedule does not apply).
func holdFor(n int) time.Duration {
	if n > 6 {
		return time.Minute
	}
	return min(time.Second<<(n-1), time.Minute)
}

// dueCandidate is a due delivery that could be picked, with its endpoint
// (0 when it could not be read: the send reads it again and fails there).
type dueCandidate struct {
	id, endpoint uint64
}

// dueDeliveries reads up to limit due deliveries, soonest first, and
// returns those neither in flight nor held, with their endpoints; next is
// when the next one after them is due, and n how many were read (limit:
// more may be due).
func (e *Engine) dueDeliveries(now time.Time, limit int) (out []dueCandidate, next time.Time, n int, err error) {
	o := e.outbox
	err = e.store.View(func(tx Tx) error {
		wtx, ok := tx.(WebhookTx)
		if !ok {
			return nil
		}
		ids, nx, err := wtx.DueDeliveries(now, limit)
		if err != nil {
			return err
		}
		next, n = nx, len(ids)
		o.mu.Lock()
		for _, id := range ids {
			if _, busy := o.inflight[id]; busy {
				continue
			}
			if h, ok := o.held[id]; ok && now.Before(h.until) {
				continue
			}
			out = append(out, dueCandidate{id: id, endpoint: o.epOf[id]})
		}
		o.mu.Unlock()
		for i := range out {
			if out[i].endpoint != 0 {
				continue
			}
			if d, err := wtx.Delivery(out[i].id); err == nil && d != nil {
				out[i].endpoint = d.EndpointID
			}
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	o.mu.Lock()
	for _, c := range out {
		if c.endpoint != 0 {
			o.epOf[c.id] = c.endpoint
		}
	}
	o.mu.Unlock()
	return out, next, n, nil
}

// pick marks in flight the candidates to send now: as many as there are
// free slots, at most MaxEndpointSends in flight per endpoint.
func (o *outbox) pick(cands []dueCandidate, now time.Time) []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	free := o.workers - len(o.inflight)
	var out []uint64
	for _, c := range cands {
		if len(out) >= free {
			break
		}
		if _, busy := o.inflight[c.id]; busy {
			continue
		}
		if h, ok := o.held[c.id]; ok && now.Before(h.until) {
			continue
		}
		if c.endpoint != 0 && o.sends[c.endpoint] >= MaxEndpointSends {
			continue
		}
		o.inflight[c.id] = c.endpoint
		if c.endpoint != 0 {
			o.sends[c.endpoint]++
		}
		out = append(out, c.id)
	}
	return out
}

// free is the number of send slots not in use.
func (o *outbox) free() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.workers - len(o.inflight)
}

// settle ends a try of delivery id: held again if it failed without a
// recorded attempt, released otherwise.
func (o *outbox) settle(id uint64, failed bool, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ep, ok := o.inflight[id]; ok {
		delete(o.inflight, id)
		if ep != 0 {
			if o.sends[ep]--; o.sends[ep] <= 0 {
				delete(o.sends, ep)
			}
		}
	}
	if !failed {
		delete(o.held, id)
		delete(o.epOf, id)
		return
	}
	h := o.held[id]
	h.n++
	h.until = now.Add(holdFor(h.n))
	o.held[id] = h
}

// sending lists the deliveries being sent, for Stop's log.
func (o *outbox) sending() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]uint64, 0, len(o.inflight))
	for id := range o.inflight {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// keepReady is what a deep read found and did not send: at most
// readyPerEndpoint per endpoint, max in all, kept for the next picks (the
// send checks again that each is still due).
func keepReady(cands []dueCandidate, picks []uint64, max int) []dueCandidate {
	picked := make(map[uint64]bool, len(picks))
	for _, id := range picks {
		picked[id] = true
	}
	per := map[uint64]int{}
	var out []dueCandidate
	for _, c := range cands {
		if len(out) >= max {
			break
		}
		if picked[c.id] || per[c.endpoint] >= readyPerEndpoint {
			continue
		}
		per[c.endpoint]++
		out = append(out, c)
	}
	return out
}

// dropPicked removes the picked deliveries from ready.
func dropPicked(ready []dueCandidate, picks []uint64) []dueCandidate {
	if len(picks) == 0 {
		return ready
	}
	return slices.DeleteFunc(ready, func(c dueCandidate) bool { return slices.Contains(picks, c.id) })
}
