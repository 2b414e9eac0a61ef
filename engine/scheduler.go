package engine

import "sync"

// scheduler keeps one FIFO of operation ids per queue (an event and its
// occurrences) and hands out the head of each queue to at most one worker at
// a time, so operations of one queue never overlap while different queues
// run concurrently.
type scheduler struct {
	mu       sync.Mutex
	cond     *sync.Cond
	queues   map[uint64][]uint64 // queue id → operation ids, head first
	runnable []uint64            // queue ids whose head may start
	closed   bool
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
	n := 0
	for _, q := range s.queues {
		n += len(q)
	}
	return n
}

func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cond.Broadcast()
}
