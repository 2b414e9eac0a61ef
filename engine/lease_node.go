package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"time"
)

// A node's life under claims by lease: its name, heartbeat and bookkeeping,
// the loss of its lease, and the wake-ups nodes send each other (see
// lease.go and dispatch_lease.go).

// newOwner names one incarnation of this node: host, process and a random
// part, so that an operator can tell whose lease a row is.
func newOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b)
}

func (d *leaseDispatcher) mono() int64 { return int64(time.Since(d.base)) }

// leaseChannel carries the nodes' wake-ups: "cancel" (a cancel request was
// recorded for some node's queue: holders look at once rather than at their
// next heartbeat) and "work" (a queue with work was let go: idle nodes
// claim it at once rather than at their next poll).
const leaseChannel = "eventops_leases"

func (d *leaseDispatcher) listen() {
	defer d.wg.Done()
	l := d.notify.Listen(d.ctx, leaseChannel)
	for n := range l.C {
		switch {
		case n.Resync, n.Payload == "work":
			d.poke()
		case n.Payload == "cancel":
			d.takeCancels(d.currentOwner())
		}
	}
}

// wakeNodes tells the other nodes (best effort: they poll anyway).
func (d *leaseDispatcher) wakeNodes(what string) {
	if d.notify != nil {
		d.notify.Notify(d.ctx, leaseChannel, what)
	}
}

// takeCancels delivers the cancel requests recorded for owner's queues.
func (d *leaseDispatcher) takeCancels(owner string) {
	ids, err := d.ls.CancelAsks(d.ctx, owner)
	if err != nil {
		return
	}
	for _, id := range ids {
		go func() {
			if err := d.cancel(d.ctx, id); err != nil && d.ctx.Err() == nil {
				d.log.Info("cancel asked by another node", "op", id, "err", err)
			}
		}()
	}
}

func (d *leaseDispatcher) currentOwner() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.owner
}

// fresh reports whether the lease may be relied on for an outside call:
// by the monotonic clock (which runs through a SIGSTOP) and by the wall
// clock (which runs through a suspended virtual machine, when the
// monotonic one may not).
func (d *leaseDispatcher) fresh() bool {
	limit := d.opt.Length - d.opt.Margin
	return time.Duration(d.mono()-d.renewed.Load()) < limit &&
		time.Duration(time.Now().UnixNano()-d.renewedWall.Load()) < limit
}

// renewedAt records a heartbeat sent at monotonic reading t and wall
// time wall that succeeded.
func (d *leaseDispatcher) renewedAt(t, wall int64) {
	d.renewed.Store(t)
	d.renewedWall.Store(wall)
}

// heartbeats renews the node's lease, and nothing else, so that no slow
// query delays it; each renewal may take until the lease is no longer
// fresh.
func (d *leaseDispatcher) heartbeats() {
	defer d.wg.Done()
	tick := time.NewTicker(d.opt.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
		}
		owner := d.currentOwner()
		t, wall := d.mono(), time.Now().UnixNano()
		ctx, cancel := context.WithTimeout(d.ctx, d.opt.Length-d.opt.Margin)
		ok, err := d.ls.Heartbeat(ctx, owner, d.opt.Length, false)
		cancel()
		if err != nil {
			if d.ctx.Err() == nil {
				d.log.Warn("lease heartbeat failed", "err", err)
			}
			continue
		}
		if !ok {
			d.lose(owner)
			continue
		}
		d.renewedAt(t, wall)
	}
}

// bookkeeping runs at the heartbeat's pace beside it: it collects cancel
// requests for this node's queues, recounts unfinished operations and live
// nodes, sweeps for queues without a row, and lets go of claims the store
// holds for this node that it does not run (a release that failed).
func (d *leaseDispatcher) bookkeeping() {
	defer d.wg.Done()
	tick := time.NewTicker(d.opt.Heartbeat)
	defer tick.Stop()
	orphans := map[uint64]int64{} // queue → epoch, seen not held at the last round
	for rounds := 1; ; rounds++ {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
		}
		owner := d.currentOwner()
		d.takeCancels(owner)
		if n, err := d.ls.CountActive(d.ctx); err == nil {
			d.mu.Lock()
			d.active = n
			d.mu.Unlock()
		}
		if n, err := d.ls.LiveNodes(d.ctx); err == nil {
			d.nodes.Store(int64(n))
		}
		if rounds%3 == 0 {
			if err := d.ls.SweepQueues(d.ctx); err == nil {
				d.poke()
			}
		}
		if owned, err := d.ls.OwnedQueues(d.ctx, owner); err == nil {
			seen := map[uint64]int64{}
			for _, f := range owned {
				d.mu.Lock()
				h := d.held[f.Queue]
				d.mu.Unlock()
				if h != nil && h.fence.Epoch == f.Epoch {
					continue
				}
				// Not held here: a cancel's brief claim, or a release
				// that failed. Let it go when seen twice.
				if e, ok := orphans[f.Queue]; ok && e == f.Epoch {
					d.log.Info("letting go of a queue claim this node no longer runs", "queue", f.Queue)
					d.release(f, 0)
					continue
				}
				seen[f.Queue] = f.Epoch
			}
			orphans = seen
		}
	}
}

// lose ends every claim of an incarnation whose lease expired (the process
// was frozen, or cut off from the database longer than the lease): another
// node may hold those queues now. Runs see their claims lost and stop; the
// node joins again under a new name and claims afresh.
func (d *leaseDispatcher) lose(old string) {
	t, wall := d.mono(), time.Now().UnixNano()
	d.mu.Lock()
	if d.owner != old {
		d.mu.Unlock()
		return
	}
	d.owner = newOwner()
	owner := d.owner
	lost := len(d.held)
	for q, c := range d.held {
		c.markLost()
		delete(d.held, q)
		delete(d.claims, c.ID)
	}
	for _, c := range d.ready {
		c.End() // never handed to a worker
	}
	d.ready = d.ready[:0]
	clear(d.kept) // others may have moved these on
	d.mu.Unlock()
	d.log.Warn("lease expired: this node's claims are lost; joining again", "claims", lost, "node", owner)
	if _, err := d.ls.Heartbeat(d.ctx, owner, d.opt.Length, true); err == nil {
		d.renewedAt(t, wall)
	}
}
