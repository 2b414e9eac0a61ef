package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Live updates across nodes. A node that commits a transition publishes it
// to its own broker and announces it on OpsChannel (send after commit,
// outside the transaction); every other node's listener reads the
// operation from the shared store and publishes it to its broker, unless
// that broker already published that version or a newer one. The payload
// is a list of "node-id:op-id:version" entries separated by spaces (never
// the operation: PostgreSQL caps a payload under 8,000 bytes), or
// "node-id:resync" when the node lost announcements (its queue overflowed
// or a NOTIFY failed): the other nodes then resync their brokers, as they
// do after their own listener's connection was lost.

// OpsChannel is the notification channel of committed transitions.
const OpsChannel = "eventops_ops"

// NotificationObserver is an Observer that is also told how long a
// transition committed on another node took to reach this one (from the
// operation's UpdatedAt, stamped just before its commit, to its publish
// here). Optional: found by a type assertion.
type NotificationObserver interface {
	NotificationLag(d time.Duration)
}

const (
	// announceBuffer bounds the announcements waiting for a NOTIFY;
	// past it they are replaced by one resync.
	announceBuffer = 8192
	// maxAnnounceBytes keeps a payload well under PostgreSQL's limit.
	maxAnnounceBytes = 4000
	// listenBatch bounds the announcements read from the store at once.
	listenBatch = 256
)

type announcement struct{ id, version uint64 }

// announcer holds what the cross-node announcements need.
type announcer struct {
	n        Notifier // nil: one node, nothing to announce
	node     string
	c        chan announcement
	lost     atomic.Bool // an announcement could not be sent
	ready    chan struct{}
	done     chan struct{}
	received atomic.Uint64 // remote transitions published here
	running  atomic.Bool   // started: done will be closed
}

func newAnnouncer(n Notifier, node string) *announcer {
	if node == "" {
		b := make([]byte, 6)
		rand.Read(b)
		node = hex.EncodeToString(b)
	}
	a := &announcer{n: n, node: node, c: make(chan announcement, announceBuffer),
		ready: make(chan struct{}), done: make(chan struct{})}
	if n == nil {
		close(a.ready)
		close(a.done)
	}
	return a
}

// announce makes a committed state visible: published to this node's
// broker, and queued to be announced to the others.
func (e *Engine) announce(op *Operation) {
	e.broker.publish(op)
	a := e.ann
	if a.n == nil {
		return
	}
	select {
	case a.c <- announcement{op.ID, op.Version}:
	default:
		a.lost.Store(true)
	}
}

// Listening is closed once this node listens to the others'
// announcements (at once without a Notifier).
func (e *Engine) Listening() <-chan struct{} { return e.ann.ready }

// RemoteTransitions counts the transitions committed on other nodes that
// this node's broker published.
func (e *Engine) RemoteTransitions() uint64 { return e.ann.received.Load() }

// startAnnouncing starts the sender and the listener; both end with e.ctx
// (Stop's end), the sender after one last send.
func (e *Engine) startAnnouncing() {
	a := e.ann
	if a.n == nil {
		return
	}
	a.running.Store(true)
	l := a.n.Listen(e.ctx, OpsChannel)
	sent := make(chan struct{})
	go func() { defer close(sent); e.sendAnnouncements() }()
	go func() {
		defer close(a.done)
		e.receiveAnnouncements(l)
		<-sent
	}()
}

func (e *Engine) sendAnnouncements() {
	a := e.ann
	var batch []announcement
	for {
		select {
		case x := <-a.c:
			batch = append(batch[:0], x)
		case <-e.ctx.Done():
			batch = batch[:0]
			drainAnnouncements(a.c, &batch)
			e.sendBatch(batch)
			return
		}
		drainAnnouncements(a.c, &batch)
		e.sendBatch(batch)
	}
}

func drainAnnouncements(c chan announcement, batch *[]announcement) {
	for len(*batch) < announceBuffer {
		select {
		case x := <-c:
			*batch = append(*batch, x)
		default:
			return
		}
	}
}

// sendBatch sends batch in as few NOTIFYs as fit its entries, or one
// resync in their place when announcements were lost before.
func (e *Engine) sendBatch(batch []announcement) {
	a := e.ann
	var payloads []string
	if a.lost.Swap(false) {
		payloads = []string{a.node + ":resync"}
	} else {
		var b strings.Builder
		for _, x := range batch {
			if b.Len() > maxAnnounceBytes {
				payloads = append(payloads, b.String())
				b.Reset()
			}
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(a.node)
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(x.id, 10))
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(x.version, 10))
		}
		if b.Len() > 0 {
			payloads = append(payloads, b.String())
		}
	}
	for _, p := range payloads {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.n.Notify(ctx, OpsChannel, p)
		cancel()
		if err != nil {
			// The other nodes miss these: they resync once a
			// notification gets through again.
			a.lost.Store(true)
			e.log.Warn("announce transitions to the other nodes", "err", err)
			return
		}
	}
}

// receiveAnnouncements publishes what other nodes announce, until l ends.
func (e *Engine) receiveAnnouncements(l *Listener) {
	a := e.ann
	go func() {
		select {
		case <-l.Ready:
			close(a.ready)
		case <-e.ctx.Done():
		}
	}()
	for n := range l.C {
		wanted := map[uint64]uint64{}
		resync := e.takeAnnouncements(n, wanted)
	drain:
		for len(wanted) < listenBatch {
			select {
			case n, ok := <-l.C:
				if !ok {
					break drain
				}
				resync = e.takeAnnouncements(n, wanted) || resync
			default:
				break drain
			}
		}
		// Another node committed: deliveries it queued may be this
		// node's to send, and the feed's long-polls look again.
		e.outbox.kick()
		if resync {
			e.log.Info("notifications from other nodes were lost; resyncing live views")
			e.broker.resync()
			continue
		}
		e.publishRemote(wanted)
	}
}

// takeAnnouncements adds to wanted the other nodes' announcements in n
// that this broker has not published yet, and reports whether n asks for a
// resync.
func (e *Engine) takeAnnouncements(n Notification, wanted map[uint64]uint64) (resync bool) {
	if n.Resync {
		return true
	}
	for _, entry := range strings.Fields(n.Payload) {
		node, rest, ok := strings.Cut(entry, ":")
		if !ok || node == e.ann.node {
			continue
		}
		if rest == "resync" {
			resync = true
			continue
		}
		ids, vers, ok := strings.Cut(rest, ":")
		id, err1 := strconv.ParseUint(ids, 10, 64)
		v, err2 := strconv.ParseUint(vers, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue // not ours to understand
		}
		if have, ok := e.broker.published(id); ok && have >= v {
			continue
		}
		if v > wanted[id] {
			wanted[id] = v
		}
	}
	return resync
}

// publishRemote reads the announced operations in one view and publishes
// those newer than what this broker published.
func (e *Engine) publishRemote(wanted map[uint64]uint64) {
	if len(wanted) == 0 {
		return
	}
	ops := make([]*Operation, 0, len(wanted))
	err := e.store.View(func(tx Tx) error {
		ops = ops[:0]
		for id := range wanted {
			op, err := tx.Operation(id)
			if err != nil {
				return err
			}
			if op != nil {
				ops = append(ops, op)
			}
		}
		return nil
	})
	if err != nil {
		// The store is away: what was missed is unknown.
		e.log.Warn("read operations announced by other nodes", "err", err)
		e.broker.resync()
		return
	}
	lagObs, _ := e.obs.(NotificationObserver)
	now := time.Now()
	for _, op := range ops {
		if e.broker.publishNewer(op) {
			e.ann.received.Add(1)
			if lagObs != nil {
				lagObs.NotificationLag(max(now.Sub(op.UpdatedAt), 0))
			}
		}
	}
}
