package engine

import "time"

// Status of an operation or phase. Only completed and failed are terminal, and
// a terminal node never changes again.
type Status string

const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
)

// Statuses in display order.
var Statuses = []Status{StatusPending, StatusRunning, StatusCompleted, StatusFailed}

// Terminal reports whether s is final.
func (s Status) Terminal() bool { return s == StatusCompleted || s == StatusFailed }

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusRunning, StatusCompleted, StatusFailed:
		return true
	}
	return false
}

// Action of an operation.
type Action string

const (
	ActionSave   Action = "save"
	ActionDelete Action = "delete"
	ActionRefund Action = "refund"
)

// Actions in display order.
var Actions = []Action{ActionSave, ActionDelete, ActionRefund}

// Valid reports whether a is a known action.
func (a Action) Valid() bool {
	return a == ActionSave || a == ActionDelete || a == ActionRefund
}

// Progress is units done over units. For a leaf phase Percent =
// floor(100*Completed/Total), and a Total of 0 is 100 % once done; for an
// aggregate (an operation or a phase with children) Completed and Total
// count leaf phases, and Percent weighs each phase's share so that it never
// decreases while the operation runs (see sharesDone).
type Progress struct {
	Percent   int `json:"percent"`
	Completed int `json:"completed"`
	Total     int `json:"total"`
}

// newProgress is done over total while work goes on: a total of 0 is 0 %
// until the work is done (doneProgress).
func newProgress(done, total int) *Progress {
	p := &Progress{Completed: done, Total: total}
	if total > 0 {
		p.Percent = 100 * done / total
	}
	return p
}

// doneProgress is the progress of finished work of total units: 100 %, also
// for a total of 0.
func doneProgress(total int) *Progress {
	return &Progress{Completed: total, Total: total, Percent: 100}
}

// OpError is the error object of an operation or phase (DESIGN §4). Phase and
// PhaseID name the phase that failed first; both are nil for a refund or a
// cancel. Stack is the goroutine stack of an OPERATION_WORK_PANICKED
// failure (at most MaxStackLen bytes), empty for every other code: a panic
// is a bug, and the stack is what its report needs, kept with the failure
// rather than only in a log that may have rotated.
type OpError struct {
	Code    Code    `json:"code"`
	Message string  `json:"message"`
	Phase   *string `json:"phase"`
	PhaseID *uint64 `json:"phase_id"`
	Stack   string  `json:"stack,omitempty"`
}

// MaxStackLen bounds the stack an OpError keeps; a deeper one keeps its top
// frames (where the panic happened).
const MaxStackLen = 8 << 10

// Phase is a node of an operation's phase tree. A phase with children is an
// aggregate of them and does no work itself.
type Phase struct {
	ID         uint64     `json:"id"`
	Name       string     `json:"name"`
	Subject    uint64     `json:"subject,omitempty"` // e.g. the occurrence a child phase works on
	Status     Status     `json:"status"`
	Progress   *Progress  `json:"progress"`
	Error      *OpError   `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Attempts   int        `json:"attempts"`
	LastError  *OpError   `json:"last_error"`
	// Failures are the failed attempts that were retried, oldest first
	// (at most MaxPhaseFailures: the first ones and the latest); the
	// attempt that ended the phase is Error.
	Failures []AttemptFailure `json:"failures,omitempty"`
	Phases   []*Phase         `json:"phases"`
	// DependsOn names sibling phases that must complete before this one
	// starts. Children of one parent never depend on each other.
	DependsOn []string `json:"depends_on,omitempty"`
	// failSeq orders failures within the operation: the smallest is the
	// root cause.
	FailSeq uint64 `json:"fail_seq,omitempty"`
}

// AttemptFailure is one failed attempt of a phase that was retried.
type AttemptFailure struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Code    Code      `json:"code"`
	Message string    `json:"message"`
}

// MaxPhaseFailures bounds the failures a phase keeps: the first half and
// the latest.
const MaxPhaseFailures = 20

// addFailure records a retried attempt's failure, keeping the first ones
// and the latest within MaxPhaseFailures.
func (p *Phase) addFailure(f AttemptFailure) {
	if len(p.Failures) >= MaxPhaseFailures {
		half := MaxPhaseFailures / 2
		p.Failures = append(p.Failures[:half], p.Failures[half+1:]...)
	}
	p.Failures = append(p.Failures, f)
}

// Leaf reports whether the phase does work itself.
func (p *Phase) Leaf() bool { return len(p.Phases) == 0 }

// Operation is the background work started by a save, delete or refund.
type Operation struct {
	ID          uint64     `json:"id"`
	Action      Action     `json:"action"`
	EventID     uint64     `json:"event_id"`
	CompanyID   uint64     `json:"company_id"`
	QueueID     uint64     `json:"queue_id"` // operations with one QueueID run in id order
	Status      Status     `json:"status"`
	Progress    *Progress  `json:"progress"`
	Error       *OpError   `json:"error"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Phases      []*Phase   `json:"phases"`
	RetryOf     uint64     `json:"retry_of,omitempty"`
	CancelAsked bool       `json:"cancel_requested,omitempty"`
	// InventoryOnly marks an engine-started save after a sale.
	InventoryOnly bool `json:"inventory_only,omitempty"`
	// Version counts persisted transitions; it makes ETags and change
	// detection exact.
	Version uint64 `json:"version"`
}

// Leaf reports whether the operation itself does the work (refund).
func (o *Operation) Leaf() bool { return o.Action == ActionRefund }

// Clone returns a deep copy, so that a transition can be prepared on a copy
// and swapped in only once it is persisted.
func (o *Operation) Clone() *Operation {
	c := *o
	c.Progress = cloneProgress(o.Progress)
	c.Error = cloneOpError(o.Error)
	c.StartedAt = cloneTime(o.StartedAt)
	c.FinishedAt = cloneTime(o.FinishedAt)
	c.Phases = clonePhases(o.Phases)
	return &c
}

func clonePhases(in []*Phase) []*Phase {
	if in == nil {
		return nil
	}
	out := make([]*Phase, len(in))
	for i, p := range in {
		c := *p
		c.Progress = cloneProgress(p.Progress)
		c.Error = cloneOpError(p.Error)
		c.LastError = cloneOpError(p.LastError)
		c.Failures = append([]AttemptFailure(nil), p.Failures...)
		c.StartedAt = cloneTime(p.StartedAt)
		c.FinishedAt = cloneTime(p.FinishedAt)
		c.Phases = clonePhases(p.Phases)
		c.DependsOn = append([]string(nil), p.DependsOn...)
		out[i] = &c
	}
	return out
}

func cloneProgress(p *Progress) *Progress {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func cloneOpError(e *OpError) *OpError {
	if e == nil {
		return nil
	}
	c := *e
	if e.Phase != nil {
		s := *e.Phase
		c.Phase = &s
	}
	if e.PhaseID != nil {
		id := *e.PhaseID
		c.PhaseID = &id
	}
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// FindPhase returns the phase with id anywhere in the tree, or nil.
func (o *Operation) FindPhase(id uint64) *Phase { return findPhase(o.Phases, id) }

func findPhase(ps []*Phase, id uint64) *Phase {
	for _, p := range ps {
		if p.ID == id {
			return p
		}
		if f := findPhase(p.Phases, id); f != nil {
			return f
		}
	}
	return nil
}

// WalkPhases calls fn for every phase, parents before children.
func (o *Operation) WalkPhases(fn func(p *Phase)) { walkPhases(o.Phases, fn) }

func walkPhases(ps []*Phase, fn func(p *Phase)) {
	for _, p := range ps {
		fn(p)
		walkPhases(p.Phases, fn)
	}
}
