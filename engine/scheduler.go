package engine

import "sync"

// scheduler keeps one FIFO of operation ids per queue (an event and its
// occurrences) and hands out the head of each queue to at most one worker at
// a time, so operations of one queue never overlap while different queues
// run concurrently. It holds ids only: what waits costs a few words each,
// whatever the operation's size (the worker reads the operation when it
// takes it).
//
// It also counts what the engine holds, for the bound on pending work
// (Config.MaxPending): held is the operations queued or running, admitting
// the commands admitted but not yet queued.
type scheduler struct {
	mu        sync.Mutex
	cond      *sync.Cond
	queues    map[uint64][]uint64 // queue id → operation ids, head first
	runnable  []uint64            // queue ids whose head may start
	held      int
	admitting int
	closed    bool
}

func newScheduler() *scheduler {
	s := &scheduler{queues: map[uint64][]uint64{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// enqueue appends an operation to its queue; callers enqueue in id order.
func (s *scheduler) enqueue(queue, op uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queue]
	s.queues[queue] = append(q, op)
	s.held++
	if len(q) == 0 {
		s.runnable = append(s.runnable, queue)
		s.cond.Signal()
	}
}

// next blocks until a queue head is runnable and returns it, or ok=false once
// the scheduler is closed.
func (s *scheduler) next() (queue, op uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.runnable) == 0 && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return 0, 0, false
	}
	queue = s.runnable[0]
	s.runnable = s.runnable[1:]
	return queue, s.queues[queue][0], true
}

// done pops the finished head of queue and makes the next one runnable.
func (s *scheduler) done(queue uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queue][1:]
	s.held--
	if len(q) == 0 {
		delete(s.queues, queue)
		return
	}
	s.queues[queue] = q
	if !s.closed {
		s.runnable = append(s.runnable, queue)
		s.cond.Signal()
	}
}

// remove drops a queued operation that has not started (it is not the head
// of its queue, or its queue is not handed out). It reports whether it did.
func (s *scheduler) remove(queue, op uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queue]
	for i, id := range q {
		if id != op {
			continue
		}
		if i == 0 {
			return false // the head belongs to a worker (or is about to)
		}
		s.queues[queue] = append(q[:i:i], q[i+1:]...)
		s.held--
		return true
	}
	return false
}

// queued reports whether op is in its queue (running or waiting).
func (s *scheduler) queued(queue, op uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.queues[queue] {
		if id == op {
			return true
		}
	}
	return false
}

// queuedBehind reports whether op waits behind another operation of its
// queue, where no worker can have it.
func (s *scheduler) queuedBehind(queue, op uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range s.queues[queue] {
		if id == op {
			return i > 0
		}
	}
	return false
}

// pending is the number of operations queued or running.
func (s *scheduler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// admit reserves room for one operation a command is about to create,
// unless limit (> 0) operations are already held or being admitted; the
// caller calls admitted once the operation is queued or was not created.
// Counting admissions in flight keeps concurrent commands from overshooting
// the bound between their check and their enqueue.
func (s *scheduler) admit(limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit > 0 && s.held+s.admitting >= limit {
		return false
	}
	s.admitting++
	return true
}

// admitted ends an admission.
func (s *scheduler) admitted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admitting--
}

func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cond.Broadcast()
}
