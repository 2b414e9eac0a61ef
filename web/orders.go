package web

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

type orderJSON struct {
	ID                 uint64             `json:"id"`
	EventID            uint64             `json:"event_id"`
	RegistrationTypeID uint64             `json:"registration_type_id"`
	Quantity           int                `json:"quantity"`
	Amount             moneyJSON          `json:"amount"`
	Status             engine.OrderStatus `json:"status"`
	ShopifyOrderID     *string            `json:"shopify_order_id"`
	CreatedAt          timestamp          `json:"created_at"`
	RefundedAt         *timestamp         `json:"refunded_at"`
	// PresentmentAmount is what a shop buyer paid in their currency;
	// Amount is in the shop's.
	PresentmentAmount *moneyJSON `json:"presentment_amount"`
	// RegistrationTypeName and UnitPrice are the type as sold, kept on
	// the order; Retired marks a shop order recorded after its type or
	// occurrence was gone, and OccurrenceID names a gone occurrence whose
	// order is recorded against its recurring event (EventID).
	RegistrationTypeName *string    `json:"registration_type_name"`
	UnitPrice            *moneyJSON `json:"unit_price"`
	Retired              bool       `json:"retired"`
	OccurrenceID         *uint64    `json:"occurrence_id"`
	// Version counts the order's changes (DESIGN §8).
	Version uint64 `json:"version"`
}

func order(o *engine.Order) orderJSON {
	j := orderJSON{ID: o.ID, EventID: o.EventID, RegistrationTypeID: o.RegistrationTypeID,
		Quantity: o.Quantity, Amount: money(o.Amount), Status: o.Status,
		ShopifyOrderID: nonEmpty(o.ShopifyOrderID), CreatedAt: ts(o.CreatedAt), RefundedAt: tsPtr(o.RefundedAt),
		PresentmentAmount: moneyPtr(o.Presentment), RegistrationTypeName: nonEmpty(o.RegistrationTypeName),
		UnitPrice: moneyPtr(o.UnitPrice), Retired: o.Retired, Version: o.Version}
	if o.OccurrenceID != 0 {
		occ := o.OccurrenceID
		j.OccurrenceID = &occ
	}
	return j
}

func moneyPtr(m *engine.Money) *moneyJSON {
	if m == nil {
		return nil
	}
	j := money(*m)
	return &j
}

// listOrders answers GET /events/{id}/orders in id order. The engine reads
// an event's orders at once, so a page's cost grows with the orders of that
// one event (never with everything stored); the cursor is the last id seen.
func (s *Server) listOrders(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var after uint64
	if p.Cursor != "" {
		if after, err = strconv.ParseUint(p.Cursor, 10, 64); err != nil {
			return httperr.InvalidParam("page[cursor]", "invalid", "is not a cursor of this list (it must come from the same query)")
		}
	}
	orders, err := s.eng.Orders(companyID(c), id)
	if err != nil {
		return err
	}
	out := make([]orderJSON, 0, p.Size)
	next := ""
	for _, o := range orders {
		if o.ID <= after {
			continue
		}
		if len(out) == p.Size {
			next = strconv.FormatUint(out[len(out)-1].ID, 10)
			break
		}
		out = append(out, order(o))
	}
	return s.sendList(c, p, out, len(out), next)
}

// createOrder answers POST /events/{id}/orders {"order":
// {"registration_type_id", "quantity"}} with 201 and the order: a paid
// box-office sale. For a Shopify company the sale starts an inventory save,
// named in X-Event-Operation-ID.
func (s *Server) createOrder(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in engine.OrderInput
	if err := decodeEnvelope(c.Body(), "order", &in); err != nil {
		return err
	}
	o, op, err := s.eng.CreateOrder(c.UserContext(), companyID(c), id, in)
	if err != nil {
		return err
	}
	return s.answer(c, made(engine.WriteResult{Order: o, Operation: op}))
}

// orderAnswer is 201 with the order, and the inventory save it started
// (a Shopify company's) in X-Event-Operation-ID.
func orderAnswer(r engine.WriteResult) (*answer, error) {
	var h []headerField
	if r.Operation != nil {
		h = append(h, operationHeader(r.Operation.ID))
	}
	return jsonAnswer(http.StatusCreated, order(r.Order), h...)
}

func (s *Server) orderOfRecord(c *fiber.Ctx, rec *engine.IdempotencyRecord) (engine.WriteResult, error) {
	orders, err := s.eng.Orders(companyID(c), rec.EventID)
	if err != nil {
		return engine.WriteResult{}, err
	}
	for _, o := range orders {
		if o.ID == rec.ResourceID {
			r := engine.WriteResult{Order: o}
			if rec.OperationID != 0 {
				r.Operation = &engine.Operation{ID: rec.OperationID}
			}
			return r, nil
		}
	}
	return engine.WriteResult{}, engine.NotFound("order %d not found", rec.ResourceID)
}
