package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// BoxOfficeTake is a box-office sale in flight on an occurrence: the seats
// it took (or is taking) off the shop's offer and has not committed yet.
// It is stored on the occurrence's ticket structure before the sale's shop
// step and removed in the sale's commit (or when the sale is refused), so
// that the inventory phase of any node counts its seats as sold: a
// rebalance that reads the shop between a take and its commit never
// raises the shop above what is left once the sale commits. A take left by
// a crash counts for boxOfficeTakeLife at most (the sale's shop step is
// cut off at half of it); its lowering is then an unanswered write like
// any other (the lost-answer rules: the next rebalance takes it for its
// own and gives the seats back).
type BoxOfficeTake struct {
	ID                 string    `json:"id"`
	RegistrationTypeID uint64    `json:"registration_type_id"`
	Quantity           int       `json:"quantity"`
	At                 time.Time `json:"at"`
}

// boxOfficeTakeLife is how long a stored take counts.
const boxOfficeTakeLife = 10 * time.Minute

// TakesInFlight answers the units by registration type of the box-office
// sales in flight on the occurrence at now (nil: none).
func (s *TicketStructure) TakesInFlight(now time.Time) map[uint64]int {
	var out map[uint64]int
	for _, t := range s.Takes {
		if now.Sub(t.At) >= boxOfficeTakeLife || t.Quantity <= 0 {
			continue
		}
		if out == nil {
			out = map[uint64]int{}
		}
		out[t.RegistrationTypeID] += t.Quantity
	}
	return out
}

// changeTakes adds add (when its ID is set) to the occurrence's takes and
// removes the take drop and every expired one.
func changeTakes(tx Tx, eventID uint64, add BoxOfficeTake, drop string, now time.Time) error {
	s, err := tx.TicketStructure(eventID)
	if err != nil || s == nil {
		return err
	}
	n := len(s.Takes)
	s.Takes = slices.DeleteFunc(s.Takes, func(t BoxOfficeTake) bool {
		return t.ID == drop || now.Sub(t.At) >= boxOfficeTakeLife
	})
	if add.ID != "" {
		s.Takes = append(s.Takes, add)
	} else if len(s.Takes) == n {
		return nil // nothing changed
	}
	if len(s.Takes) == 0 {
		s.Takes = nil
	}
	return tx.PutTicketStructure(s)
}

// holdTake stores a take of quantity units of rt on the occurrence before
// the sale's shop step and answers its id: the sale's commit removes it
// (changeTakes), or releaseTake when the sale is refused.
func (e *Engine) holdTake(ctx context.Context, eventID, rt uint64, quantity int) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("draw a box-office take id: %w", err)
	}
	t := BoxOfficeTake{ID: hex.EncodeToString(b[:]), RegistrationTypeID: rt, Quantity: quantity, At: e.now()}
	err := e.store.Update(ctx, func(tx Tx) error { return changeTakes(tx, eventID, t, "", e.now()) })
	if err != nil {
		return "", err
	}
	return t.ID, nil
}

// releaseTake removes a take whose sale did not commit. A failure is
// logged: the take then counts until it expires, holding seats back from
// the shop meanwhile, never selling more than is left.
func (e *Engine) releaseTake(eventID uint64, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.store.Update(ctx, func(tx Tx) error { return changeTakes(tx, eventID, BoxOfficeTake{}, id, e.now()) }); err != nil {
		e.log.Warn("box-office take not removed: it holds its seats back from the shop until it expires",
			"event", eventID, "err", err)
	}
}

// seatLockName names the lock that serializes the box-office sales of an
// event across the nodes (see CreateOrder).
func seatLockName(eventID uint64) string { return fmt.Sprintf("seats:%d", eventID) }
