package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
)

// Notifications between nodes (PostgreSQL LISTEN/NOTIFY). A Listener holds
// one connection of its own, outside the pool (a LISTEN belongs to its
// session, and WaitForNotification holds the connection), and comes back
// by itself after the connection is lost, saying so with a Resync
// notification: notifications sent while it was away are not kept for it.

type (
	// Notification is a message received by a Listener (engine.Notification).
	Notification = engine.Notification
	// Listener delivers notifications (engine.Listener).
	Listener = engine.Listener
)

// MaxNotifyPayload is the longest payload Notify sends: PostgreSQL refuses
// 8,000 bytes and more.
const MaxNotifyPayload = 7999

// ErrPayloadTooLong refuses a payload PostgreSQL would refuse.
var ErrPayloadTooLong = errors.New("notification payload longer than 7,999 bytes")

// ListenerApplicationName is the application_name of a listener's
// connection, by which an operator (or a test) finds it in
// pg_stat_activity.
const ListenerApplicationName = "eventops listener"

// Notify sends payload on channel (pg_notify, outside any transaction); a
// no-op returning nil on bbolt, where one process owns the file.
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	if len(payload) > MaxNotifyPayload {
		return ErrPayloadTooLong
	}
	if db.pg == nil {
		return nil
	}
	if _, err := db.pg.pool.Exec(ctx, `select pg_notify($1, $2)`, channel, payload); err != nil {
		return db.pg.closedOr(fmt.Errorf("notify %s: %w", channel, err))
	}
	return nil
}

// Listen listens on channels on a dedicated connection until ctx ends or
// the DB is closed, when C is closed. After the connection is lost it
// connects again with a capped backoff and, once listening again, delivers
// a Notification{Resync: true}. On bbolt nothing is ever delivered.
// Deliveries block: a consumer that stops reading holds the connection's
// notifications in PostgreSQL's queue, not in this process.
func (db *DB) Listen(ctx context.Context, channels ...string) *Listener {
	c := make(chan Notification, 64)
	ready := make(chan struct{})
	l := &Listener{C: c, Ready: ready}
	if db.pg == nil {
		close(ready)
		go func() { <-ctx.Done(); close(c) }()
		return l
	}
	go db.pg.listen(ctx, channels, c, ready)
	return l
}

// Backoff between attempts to connect a listener again.
const (
	listenBackoffMin = 50 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

func (p *pgStore) listen(ctx context.Context, channels []string, c chan<- Notification, ready chan struct{}) {
	defer close(c)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the DB's close ends the listener too
		select {
		case <-p.ctx.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := listenBackoffMin
	first, lost := true, false
	for ctx.Err() == nil {
		conn, err := p.listenConn(ctx, channels)
		if err != nil {
			lost = true
			if !sleepCtx(ctx, jittered(backoff)) {
				return
			}
			backoff = min(2*backoff, listenBackoffMax)
			continue
		}
		backoff = listenBackoffMin
		if first {
			first = false
			close(ready)
		}
		if lost && !deliver(ctx, c, Notification{Resync: true}) {
			conn.Close(context.Background())
			return
		}
		lost = true // whatever ends the loop below loses notifications
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			if !deliver(ctx, c, Notification{Channel: n.Channel, Payload: n.Payload}) {
				break
			}
		}
		closeCtx, done := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		done()
	}
}

// listenConn connects and listens on channels.
func (p *pgStore) listenConn(ctx context.Context, channels []string) (*pgx.Conn, error) {
	cfg := p.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, err
		}
	}
	return conn, nil
}

func deliver(ctx context.Context, c chan<- Notification, n Notification) bool {
	select {
	case c <- n:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jittered is d give or take a fifth, so that the nodes of a restarted
// database do not all come back at the same instant.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
