package engine

import (
	"context"
	"sync"
)

// Locks are named locks that hold across every node sharing the store
// (Config.Locks): some work must run on one node at a time per unit even
// when any node may do it (retention, a shop's reconciliation, a shop's
// token refresh, the box-office sales of one event). On PostgreSQL they
// are session advisory locks; on bbolt, which one process owns, an
// in-process lock by name (NewLocalLocks).
type Locks interface {
	// TryLock takes the lock named name if it is free (ok false: another
	// holder has it; nothing is held).
	TryLock(ctx context.Context, name string) (l Lock, ok bool, err error)
	// Lock waits for the lock named name, or for ctx to end.
	Lock(ctx context.Context, name string) (Lock, error)
}

// Lock is a held named lock.
type Lock interface {
	// Unlock lets it go; calling it again does nothing.
	Unlock()
	// Lost is closed when the lock was lost without Unlock (PostgreSQL: the
	// connection holding it dropped, and another node may now hold it).
	// Work done under the lock stops when it is closed: see Guard. Nil
	// for a lock that cannot be lost.
	Lost() <-chan struct{}
}

// Guard returns a context that ends with ctx or when l is lost.
func Guard(ctx context.Context, l Lock) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if lost := l.Lost(); lost != nil {
		go func() {
			select {
			case <-lost:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// NewLocalLocks are locks by name within one process: what Config.Locks
// is when nil, and the bbolt store's (one process owns its file).
func NewLocalLocks() *LocalLocks { return &LocalLocks{m: map[string]*localLock{}} }

// LocalLocks are in-process named locks; see NewLocalLocks.
type LocalLocks struct {
	mu sync.Mutex
	m  map[string]*localLock
}

type localLock struct {
	token chan struct{} // holds one value while the lock is held
	refs  int           // holders and waiters
}

func (ls *LocalLocks) ref(name string) *localLock {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.m[name]
	if l == nil {
		l = &localLock{token: make(chan struct{}, 1)}
		ls.m[name] = l
	}
	l.refs++
	return l
}

func (ls *LocalLocks) unref(name string, l *localLock) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(ls.m, name)
	}
}

// TryLock implements Locks.
func (ls *LocalLocks) TryLock(ctx context.Context, name string) (Lock, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	l := ls.ref(name)
	select {
	case l.token <- struct{}{}:
		return ls.held(name, l), true, nil
	default:
		ls.unref(name, l)
		return nil, false, nil
	}
}

// Lock implements Locks.
func (ls *LocalLocks) Lock(ctx context.Context, name string) (Lock, error) {
	l := ls.ref(name)
	select {
	case l.token <- struct{}{}:
		return ls.held(name, l), nil
	case <-ctx.Done():
		ls.unref(name, l)
		return nil, ctx.Err()
	}
}

func (ls *LocalLocks) held(name string, l *localLock) Lock {
	h := &heldLocal{}
	h.unlock = func() {
		h.once.Do(func() {
			<-l.token
			ls.unref(name, l)
		})
	}
	return h
}

type heldLocal struct {
	once   sync.Once
	unlock func()
}

func (h *heldLocal) Unlock()               { h.unlock() }
func (h *heldLocal) Lost() <-chan struct{} { return nil }

// Locks are the engine's named locks (Config.Locks).
func (e *Engine) Locks() Locks { return e.locks }

// Locks are the engine's named locks, for work that must run on one node
// at a time (a shop's set-up, its token refresh).
func (r *PhaseRun) Locks() Locks { return r.engine.locks }
