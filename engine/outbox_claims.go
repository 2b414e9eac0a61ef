package engine

import (
	"fmt"
	"slices"
	"time"
)

// Endpoint claims: the nodes sharing a store send the deliveries of one
// endpoint from one node at a time, so that the endpoint's order (due
// order, at most MaxEndpointSends in flight) and the cap hold across the
// nodes and no two nodes send one delivery at once. A node sends an
// endpoint's deliveries only while it holds the endpoint's lock
// (Config.Locks, "webhook-endpoint:{id}"; on PostgreSQL a session
// advisory lock, taken with a try: a node skips the endpoints another
// holds, as SKIP LOCKED skips rows). It takes the lock when due deliveries
// of the endpoint are read and lets it go once none of them is due or in
// flight here; a node that dies (its database session with it) lets every
// lock it held go, and another node takes the endpoint over at its next
// read. A lock lost while a send is in flight (the lock's connection
// dropped) can mean one delivery sent by two nodes: deliveries are at least
// once, and receivers deduplicate on webhook-id.

// claimRetry is how long a node leaves an endpoint another node holds
// before trying its lock again.
const claimRetry = time.Second

func endpointLockName(id uint64) string { return fmt.Sprintf("webhook-endpoint:%d", id) }

// claimEndpoints keeps of cands the deliveries of endpoints this node
// holds, taking the locks of the endpoints it does not hold yet, and lets
// go the endpoints it holds that have nothing due or in flight here.
func (e *Engine) claimEndpoints(cands []dueCandidate, now time.Time) []dueCandidate {
	o := e.outbox
	want := map[uint64]bool{}
	for _, c := range cands {
		if c.endpoint != 0 {
			want[c.endpoint] = true
		}
	}
	o.mu.Lock()
	var missing []uint64
	for ep := range want {
		if _, ok := o.owned[ep]; !ok && !now.Before(o.refused[ep]) {
			missing = append(missing, ep)
		}
	}
	o.mu.Unlock()
	slices.Sort(missing)
	for _, ep := range missing {
		l, ok, err := e.locks.TryLock(e.ctx, endpointLockName(ep))
		o.mu.Lock()
		switch {
		case err != nil:
			o.refused[ep] = now.Add(claimRetry)
			if e.ctx.Err() == nil {
				e.log.Warn("webhooks: take an endpoint's lock", "endpoint", ep, "err", err)
			}
		case !ok:
			o.refused[ep] = now.Add(claimRetry) // another node sends them
		default:
			delete(o.refused, ep)
			o.owned[ep] = l
		}
		o.mu.Unlock()
	}
	o.mu.Lock()
	var release []Lock
	for ep, l := range o.owned {
		lost := false
		select {
		case <-l.Lost():
			lost = true
		default:
		}
		if lost || (!want[ep] && o.sends[ep] == 0) {
			delete(o.owned, ep)
			release = append(release, l)
		}
	}
	for ep, until := range o.refused {
		if !now.Before(until) && !want[ep] {
			delete(o.refused, ep)
		}
	}
	// A delivery whose endpoint could not be read goes on: deliver reads
	// it again, and sends it only if this node holds its endpoint.
	out := make([]dueCandidate, 0, len(cands))
	for _, c := range cands {
		if _, ok := o.owned[c.endpoint]; ok || c.endpoint == 0 {
			out = append(out, c)
		}
	}
	o.mu.Unlock()
	for _, l := range release {
		l.Unlock()
	}
	return out
}

// owns reports whether this node holds the endpoint's lock.
func (o *outbox) owns(endpoint uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.owned[endpoint]
	return ok
}

// releaseEndpoints lets go every endpoint lock the node holds (the
// worker's end, once its sends have ended).
func (o *outbox) releaseEndpoints() {
	o.mu.Lock()
	owned := o.owned
	o.owned = map[uint64]Lock{}
	o.mu.Unlock()
	for _, l := range owned {
		l.Unlock()
	}
}
