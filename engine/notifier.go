package engine

import "context"

// Notifier carries short messages between the nodes sharing a store
// (PostgreSQL's LISTEN/NOTIFY; storage.DB implements it, a no-op on bbolt).
// The engine uses it to announce committed transitions to the other nodes'
// brokers (see announce.go).
type Notifier interface {
	// Notify sends payload on channel to every listener, this node's
	// included. It is not part of any transaction: callers send after
	// their commit.
	Notify(ctx context.Context, channel, payload string) error
	// Listen listens on channels until ctx ends (Listener.C is closed
	// then).
	Listen(ctx context.Context, channels ...string) *Listener
}

// Notification is one message received by a Listener. Resync (with no
// channel or payload) says that the listener's connection was lost and is
// back: whatever was sent meanwhile is lost, and the consumer must reload
// what it shows.
type Notification struct {
	Channel string
	Payload string
	Resync  bool
}

// Listener delivers notifications on C, in the order the senders'
// statements committed. Ready is closed once the listener first listens:
// what is sent after that is delivered.
type Listener struct {
	C     <-chan Notification
	Ready <-chan struct{}
}
