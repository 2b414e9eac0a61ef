package engine

import (
	"context"
	"errors"
	"strings"
	"time"
)

// AuditEntry is one staff action in the dashboard: who did what to which
// record, when, from where, and how it ended. Entries are append-only.
type AuditEntry struct {
	ID     uint64    `json:"id"`
	At     time.Time `json:"at"`
	UserID uint64    `json:"user_id"`
	Email  string    `json:"email"`
	Role   Role      `json:"role"`
	// Action is a dotted name such as "operation.cancel", "apikey.revoke".
	Action string `json:"action"`
	// Target names the record acted on, e.g. "operation 42"; "" when none.
	Target string `json:"target"`
	// Detail says what was asked or made (never a secret).
	Detail string `json:"detail,omitempty"`
	// Outcome is "ok" or the error the action ended with.
	Outcome  string `json:"outcome"`
	RemoteIP string `json:"remote_ip"`
}

// AuditQuery lists audit entries newest first: ids below Before (0: from the
// newest), at most Limit (default 25, at most 100).
type AuditQuery struct {
	Before uint64
	Limit  int
}

// SeqAudit numbers audit entries.
const SeqAudit Sequence = "audit"

// AuditTx is what a store's transaction must also implement to keep the
// audit log. It is asserted on the Tx rather than added to Tx itself, so that
// stores without an audit log (test fakes) keep compiling; a store without it
// makes the audit calls fail with ErrNoAuditLog.
type AuditTx interface {
	PutAudit(a *AuditEntry) error
	// AuditEntries returns a page newest first and the id to pass as the
	// next Before (0 when nothing older is left).
	AuditEntries(q AuditQuery) ([]*AuditEntry, uint64, error)
}

// ErrNoAuditLog is returned when the store does not keep an audit log.
var ErrNoAuditLog = errors.New("this store keeps no audit log")

const maxAuditText = 500

// RecordAudit appends an entry, numbering it and stamping it with the
// engine's clock when At is zero. Detail and Outcome are cut to a sane
// length: they come from user input and error messages.
func (e *Engine) RecordAudit(ctx context.Context, a AuditEntry) (*AuditEntry, error) {
	a.Action = strings.TrimSpace(a.Action)
	if a.Action == "" {
		return nil, Invalid(FieldError{Attribute: "action", Code: "blank", Message: "can't be blank"})
	}
	if a.At.IsZero() {
		a.At = e.now()
	}
	a.Detail = truncate(a.Detail, maxAuditText)
	a.Outcome = truncate(a.Outcome, maxAuditText)
	a.Target = truncate(a.Target, maxAuditText)
	err := e.store.Update(ctx, func(tx Tx) error {
		atx, ok := tx.(AuditTx)
		if !ok {
			return ErrNoAuditLog
		}
		var err error
		if a.ID, err = tx.NextID(SeqAudit); err != nil {
			return err
		}
		return atx.PutAudit(&a)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// AuditLog lists audit entries newest first.
func (e *Engine) AuditLog(q AuditQuery) ([]*AuditEntry, uint64, error) {
	var out []*AuditEntry
	var next uint64
	err := e.store.View(func(tx Tx) error {
		atx, ok := tx.(AuditTx)
		if !ok {
			return ErrNoAuditLog
		}
		var err error
		out, next, err = atx.AuditEntries(q)
		return err
	})
	return out, next, err
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
