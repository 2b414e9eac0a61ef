package sandbox

import (
	"fmt"
	"slices"
)

// FaultRule injects a fault into the next Times calls (default 1) whose
// root fields include Operation ("*" for any call). Faults:
//
//   - throttled: HTTP 200 with a THROTTLED error and a cost report whose
//     currentlyAvailable is 0; nothing applied, nothing charged.
//   - http_429: HTTP 429 with Retry-After: 1; nothing applied.
//   - http_500, http_503: that status; nothing applied.
//   - timeout: the request is held until the client gives up (or
//     Options.TimeoutHold passes) and then answered 504; nothing applied.
//   - apply_then_drop: the call is applied and committed, then the answer
//     is lost: the connection is closed without a response (or, where the
//     server cannot hand over the connection, answered 502).
//   - sell_between: only on inventorySetQuantities: before it applies, a
//     buyer's order sells Units (default 1) of the first quantity's item at
//     its location (available − units, committed + units, orders/create
//     sent), so the caller's changeFromQuantity is stale.
//   - drop_webhooks: not a call fault: Operation names a webhook topic
//     (REST spelling, "orders/create", or "*" for every topic), and the
//     shop gives up on that topic's deliveries for good without sending
//     them (each is marked failed, "dropped"), as Shopify does after its
//     last retry. Times 0 drops every such delivery until ClearFaults;
//     Times n drops the next n.
//
// Rules fire in the order they were added; a rule is used up after Times
// calls. Faults live in memory only.
type FaultRule struct {
	Operation string `json:"operation"`
	Fault     string `json:"fault"`
	Times     int    `json:"times"`
	Units     int    `json:"units,omitempty"`
}

// Fault kinds.
const (
	FaultThrottled     = "throttled"
	FaultHTTP429       = "http_429"
	FaultHTTP500       = "http_500"
	FaultHTTP503       = "http_503"
	FaultTimeout       = "timeout"
	FaultApplyThenDrop = "apply_then_drop"
	FaultSellBetween   = "sell_between"
	FaultDropWebhooks  = "drop_webhooks"
)

var faultKinds = map[string]bool{
	FaultThrottled: true, FaultHTTP429: true, FaultHTTP500: true, FaultHTTP503: true,
	FaultTimeout: true, FaultApplyThenDrop: true, FaultSellBetween: true, FaultDropWebhooks: true,
}

// AddFaults appends fault rules to a shop's.
func (s *Sandbox) AddFaults(shopName string, rules ...FaultRule) error {
	sh, err := s.shop(shopName)
	if err != nil {
		return err
	}
	for i := range rules {
		r := &rules[i]
		if !faultKinds[r.Fault] {
			return fmt.Errorf("%w: unknown fault %q", ErrInvalid, r.Fault)
		}
		if r.Operation == "" {
			return fmt.Errorf("%w: a fault rule needs an operation (a root field name or \"*\")", ErrInvalid)
		}
		if r.Times <= 0 && r.Fault != FaultDropWebhooks {
			r.Times = 1
		}
		if r.Fault == FaultSellBetween && r.Units <= 0 {
			r.Units = 1
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.faults = append(sh.faults, rules...)
	return nil
}

// ClearFaults removes a shop's pending fault rules.
func (s *Sandbox) ClearFaults(shopName string) error {
	sh, err := s.shop(shopName)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.faults = nil
	return nil
}

// Faults lists a shop's pending fault rules with the calls they have left.
func (s *Sandbox) Faults(shopName string) ([]FaultRule, error) {
	sh, err := s.shop(shopName)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]FaultRule{}, sh.faults...), nil
}

// takeFault consumes one use of the first rule matching a call's root
// fields; sh.mu held.
func (sh *shop) takeFault(fields []string) (FaultRule, bool) {
	for i := range sh.faults {
		r := &sh.faults[i]
		if r.Fault == FaultDropWebhooks || (r.Operation != "*" && !slices.Contains(fields, r.Operation)) {
			continue
		}
		if r.Fault == FaultSellBetween && !slices.Contains(fields, "inventorySetQuantities") {
			continue
		}
		fired := *r
		r.Times--
		if r.Times <= 0 {
			sh.faults = append(sh.faults[:i], sh.faults[i+1:]...)
		}
		return fired, true
	}
	return FaultRule{}, false
}

// takeDrop reports whether a drop_webhooks rule drops a delivery of topic
// (using up one of its Times when it has any); sh.mu held.
func (sh *shop) takeDrop(topic string) bool {
	for i := range sh.faults {
		r := &sh.faults[i]
		if r.Fault != FaultDropWebhooks || (r.Operation != "*" && r.Operation != topic) {
			continue
		}
		if r.Times > 0 {
			r.Times--
			if r.Times == 0 {
				sh.faults = append(sh.faults[:i], sh.faults[i+1:]...)
			}
		}
		return true
	}
	return false
}
