package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ShopSale is an order placed in the shop, read by engine/shopify from the
// shop's orders/create delivery.
type ShopSale struct {
	OrderID string // the shop's order id
	Lines   []ShopSaleLine
}

// ShopSaleLine is one line item of a shop order. The line sells one of our
// registration types when EventID and RegistrationTypeID name one (the
// variant's SKU, set by the catalog phase, says so), or, failing that, when
// VariantID is a variant of one of the company's ticket structures (the
// merchant changed the SKU); any other line (a t-shirt) is not ours.
type ShopSaleLine struct {
	LineID             string // the shop's line item id
	EventID            uint64 // the occurrence; 0: not known from the SKU
	RegistrationTypeID uint64
	VariantID          string // the shop's variant id; "": none
	Quantity           int
	// Title is what the shop calls the line (its variant's title, else its
	// product's): the name an order keeps when its registration type is
	// gone from our store.
	Title string
	// UnitPrice is what the buyer paid for one, in the shop's currency;
	// its Currency "" is the company's shop currency (the type's price's
	// when that is not known yet).
	UnitPrice ShopMoney
	// Presented is the same in the buyer's currency, when the shop says
	// (Currency "": it does not).
	Presented ShopMoney
}

// ShopMoney is an amount as a shop writes it: a decimal string, zero-padded
// ("5000.00" yen), read by ParseShopDecimal.
type ShopMoney struct {
	Amount   string
	Currency string
}

// soldLine is a line item of a shop order that sells one of our
// registration types.
type soldLine struct {
	lineID string // the shop's line item id
	// eventID is the event the order is recorded against: the occurrence
	// (date event) that sold it, or its recurring event when the
	// occurrence is gone (occurrenceID then names it).
	eventID      uint64
	occurrenceID uint64
	queueID      uint64
	rtID         uint64
	quantity     int
	amount       *Money // what the buyer paid for the line; nil: the type's price
	// presented is the same in the buyer's currency, when the shop says.
	presented *Money
	// name and unit are the registration type's name and price as sold
	// (unit nil: not known).
	name string
	unit *Money
	// retired: the registration type or the occurrence was gone when the
	// sale was resolved (the buyer paid while the shop still offered it).
	retired bool
}

// lineMoney is what the buyer paid for a line item: in the shop's currency
// (the line's, else shopCurrency: the currency of the company's shop, or of
// the type's price when unknown), and in the presentment currency when the
// shop says. Amounts are read by the engine's codec; one that cannot be
// read exactly is left out (nil), never rounded.
func lineMoney(li *ShopSaleLine, shopCurrency string) (paid, presented *Money) {
	times := func(unit Money) *Money {
		if unit.Amount < 0 || (li.Quantity > 0 && unit.Amount > MaxAmount/int64(li.Quantity)) {
			return nil
		}
		unit.Amount *= int64(li.Quantity)
		return &unit
	}
	cur := li.UnitPrice.Currency
	if cur == "" {
		cur = shopCurrency
	}
	if unit, err := ParseShopDecimal(strings.TrimSpace(li.UnitPrice.Amount), cur); err == nil {
		paid = times(unit)
	}
	if pm := li.Presented; pm.Currency != "" {
		if unit, err := ParseShopDecimal(strings.TrimSpace(pm.Amount), pm.Currency); err == nil {
			presented = times(unit)
		}
	}
	return paid, presented
}

// resolveLines maps a shop order's line items to our occurrences and
// registration types: by the ids the SKU gave, else by variant id through
// the company's ticket structures (read only when a line needs it).
// shopCurrency is the company's shop currency ("" when not known yet).
//
// A paid line is resolved whatever happened to what it sold (DESIGN §8):
// a registration type removed from its occurrence keeps the line, marked
// retired, with the name and price the occurrence's structure (or else
// the shop's line) gives; an occurrence dropped from its recurrence
// (deleted while its recurring event lives) puts the line on the
// recurring event, where it is listed, counted and refunded. Only a SKU
// naming no date event of the company is not ours.
func resolveLines(tx Tx, companyID uint64, shopCurrency string, sale *ShopSale) ([]soldLine, error) {
	var byVariant map[string][2]uint64
	var out []soldLine
	for i := range sale.Lines {
		li := &sale.Lines[i]
		if li.Quantity <= 0 {
			continue
		}
		occ, rt, ok := li.EventID, li.RegistrationTypeID, li.EventID != 0 && li.RegistrationTypeID != 0
		if !ok && li.VariantID != "" {
			if byVariant == nil {
				var err error
				if byVariant, err = companyVariants(tx, companyID); err != nil {
					return nil, err
				}
			}
			k, found := byVariant[li.VariantID]
			occ, rt, ok = k[0], k[1], found
		}
		if !ok {
			continue
		}
		ev, err := tx.Event(occ)
		if err != nil {
			return nil, err
		}
		if ev == nil || ev.CompanyID != companyID || ev.Type != EventDate {
			continue
		}
		l := soldLine{lineID: li.LineID, eventID: ev.ID, queueID: ev.QueueID(), rtID: rt, quantity: li.Quantity}
		// A deleted event is gone too: its sale is retired, and recorded
		// on the recurring event when only the occurrence is gone.
		l.retired = ev.Deleted
		if ev.Deleted && ev.ParentID != 0 {
			parent, err := tx.Event(ev.ParentID)
			if err != nil {
				return nil, err
			}
			if parent != nil && !parent.Deleted {
				l.eventID, l.occurrenceID = parent.ID, ev.ID
			}
		}
		if t := regType(ev, rt); t != nil {
			l.name, l.unit = t.Name, &Money{Amount: t.Price.Amount, Currency: t.Price.Currency}
		} else {
			l.retired = true
			if err := retiredType(tx, ev.ID, rt, li, &l); err != nil {
				return nil, err
			}
		}
		cur := shopCurrency
		if cur == "" && l.unit != nil {
			cur = l.unit.Currency
		}
		l.amount, l.presented = lineMoney(li, cur)
		if l.unit == nil && l.amount != nil && li.Quantity > 0 {
			l.unit = &Money{Amount: l.amount.Amount / int64(li.Quantity), Currency: l.amount.Currency}
		}
		out = append(out, l)
	}
	return out, nil
}

// retiredType fills the name and price of a registration type no longer in
// its occurrence: from the occurrence's structure while it still holds the
// type's variant (the save that removes it has not rebuilt it yet), else
// the name the shop gave the line (the price is then what the buyer paid).
func retiredType(tx Tx, occ, rt uint64, li *ShopSaleLine, l *soldLine) error {
	s, err := tx.TicketStructure(occ)
	if err != nil {
		return err
	}
	if s != nil {
		for _, p := range s.Products {
			for _, v := range p.Variants {
				if v.RegistrationTypeID == rt {
					l.name, l.unit = v.Title, &Money{Amount: v.Price.Amount, Currency: v.Price.Currency}
					return nil
				}
			}
		}
	}
	l.name = li.Title
	return nil
}

// companyVariants maps the shop variant ids of every live occurrence's
// ticket structure to (occurrence, registration type). Its cost grows with
// the company's events: it serves only line items whose SKU was changed in
// the shop.
func companyVariants(tx Tx, companyID uint64) (map[string][2]uint64, error) {
	out := map[string][2]uint64{}
	q := EventQuery{CompanyID: companyID, Sort: SortID, Limit: 100}
	for {
		evs, next, err := tx.Events(q)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Type != EventDate {
				continue
			}
			s, err := tx.TicketStructure(ev.ID)
			if err != nil {
				return nil, err
			}
			if s == nil {
				continue
			}
			for _, p := range s.Products {
				for _, v := range p.Variants {
					if v.ShopifyVariantID != "" {
						out[v.ShopifyVariantID] = [2]uint64{ev.ID, v.RegistrationTypeID}
					}
				}
			}
		}
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

func regType(ev *Event, id uint64) *RegistrationType {
	for i := range ev.RegistrationTypes {
		if ev.RegistrationTypes[i].ID == id {
			return &ev.RegistrationTypes[i]
		}
	}
	return nil
}

// RecordShopSale records the lines of a shop order that sell our tickets,
// for the company's delivery d: each becomes a paid Order (quantity, the
// amount the buyer paid, the shop's order and line item ids); what is left
// to sell is recomputed, and an inventory-only save is started for each
// occurrence sold, on every shop sale and not only when other variants
// share a capacity: an inventory write racing the sale may have read the
// shop after the sale but our store before it, and so put the sold units
// back on sale; the save after the order is recorded corrects that. A sale
// is recorded even when it exceeds what we had left (the buyer has paid; a
// warning is logged) and even on a deleted event (no save is started for
// it: its products are being withdrawn). A shop order already recorded,
// or without a line of ours, is ignored (and the delivery remembered).
func (e *Engine) RecordShopSale(ctx context.Context, companyID uint64, d ShopDelivery, sale ShopSale) (*WebhookOutcome, error) {
	if err := checkDelivery(d, "order_id", sale.OrderID); err != nil {
		return nil, err
	}
	// Resolved here to know the queues to lock, and again in the commit:
	// a save may have removed a type or dropped an occurrence meanwhile.
	resolve := func(tx Tx) ([]soldLine, error) {
		c, err := tx.Company(companyID)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, NotFound("company %d not found", companyID)
		}
		shopCurrency := ""
		if c.Shopify() {
			shopCurrency = c.Shop.Currency
		}
		return resolveLines(tx, companyID, shopCurrency, &sale)
	}
	var lines []soldLine
	if err := e.store.View(func(tx Tx) (err error) {
		lines, err = resolve(tx)
		return err
	}); err != nil {
		return nil, err
	}
	queues := make([]uint64, len(lines))
	for i, l := range lines {
		queues[i] = l.queueID
	}
	// A line resolved again in the commit may sell on a queue the read
	// above did not see (a save committed meanwhile): the transaction
	// then answers errQueuesChanged, and runs again with that queue
	// locked too.
	record := func(queues []uint64) (*WebhookOutcome, error) {
		unlock := e.lockQueues(queues)
		defer unlock()
		shopOrderID := sale.OrderID
		var out *WebhookOutcome
		j := &joins{}
		defer j.done()
		err := e.store.Update(ctx, func(tx Tx) error {
			out = &WebhookOutcome{CompanyID: companyID, joins: j}
			rec, cur, err := e.claimSale(tx, companyID, d, out)
			if err != nil || rec == nil {
				return err
			}
			if lines, err = resolve(tx); err != nil {
				return err
			}
			existing, err := tx.ShopOrders(companyID, shopOrderID)
			if err != nil {
				return err
			}
			switch {
			case len(existing) > 0:
				out.Ignored, out.Outcome = true, "shop order "+shopOrderID+" is already recorded"
			case len(lines) == 0:
				out.Ignored, out.Outcome = true, "no line item of shop order "+shopOrderID+" sells our tickets"
			}
			if out.Ignored {
				rec.Outcome = out.Outcome
				return tx.PutWebhook(rec)
			}
			now := e.now()
			var touched []uint64
			for _, l := range lines {
				ev, err := tx.Event(l.eventID)
				if err != nil {
					return err
				}
				if ev == nil {
					return fmt.Errorf("record shop order %s: event %d vanished", shopOrderID, l.eventID)
				}
				if l.retired {
					e.log.Warn("shop sale of a registration type or occurrence gone meanwhile: recorded as retired (the buyer paid)",
						"company", companyID, "shop_order", shopOrderID, "event", ev.ID, "occurrence", l.occurrenceID,
						"registration_type", l.rtID)
				} else if rt := regType(ev, l.rtID); rt != nil {
					sold, err := soldCounts(tx, ev)
					if err != nil {
						return err
					}
					if ev.Capacity != nil {
						before := max(sold[0]-*ev.Capacity, 0)
						out.oversold += max(sold[0]+l.quantity-*ev.Capacity, 0) - before
					}
					if left := Available(rt.Quantity, sold[rt.ID], ev.Capacity, sold[0]); left != nil && *left < l.quantity {
						e.log.Warn("shop sale exceeds what was left to sell: recorded all the same (the buyer paid)",
							"company", companyID, "shop_order", shopOrderID, "event", ev.ID, "registration_type", rt.ID,
							"quantity", l.quantity, "left", *left)
					}
				}
				if ev.Deleted {
					e.log.Warn("shop sale of a deleted event: recorded for its refund",
						"company", companyID, "shop_order", shopOrderID, "event", ev.ID)
				}
				var amount Money
				switch {
				case l.amount != nil:
					amount = *l.amount
				case l.unit != nil:
					amount = Money{Amount: timesQuantity(l.unit.Amount, l.quantity), Currency: l.unit.Currency}
				default:
					// Neither the type nor the shop's price is readable: the
					// order is recorded all the same (the buyer paid), at 0.
					e.log.Error("shop sale without a readable price: recorded at 0",
						"company", companyID, "shop_order", shopOrderID, "line_item", l.lineID)
					if cur.Shopify() {
						amount.Currency = cur.Shop.Currency
					}
				}
				o := &Order{CompanyID: companyID, EventID: ev.ID, RegistrationTypeID: l.rtID, Quantity: l.quantity,
					Amount: amount, Presentment: l.presented, Status: OrderPaid, ShopifyOrderID: shopOrderID,
					ShopifyLineItemID: l.lineID, CreatedAt: now, RegistrationTypeName: l.name, UnitPrice: l.unit,
					Retired: l.retired, OccurrenceID: l.occurrenceID}
				if o.ID, err = tx.NextID(SeqOrder); err != nil {
					return err
				}
				if err := putOrder(tx, o); err != nil {
					return err
				}
				if err := tx.IndexShopOrder(o); err != nil {
					return err
				}
				out.Orders = append(out.Orders, o)
				// A gone occurrence's sale has nothing left to follow: its
				// product is being withdrawn from the shop.
				if l.occurrenceID == 0 && !slices.Contains(touched, ev.ID) {
					touched = append(touched, ev.ID)
				}
			}
			if err := e.followSales(tx, cur, touched, now, out, queues); err != nil {
				return err
			}
			// Its ticket lines are to be fulfilled in the shop (shop_fulfil.go).
			if err := queueFulfilment(tx, companyID, shopOrderID); err != nil {
				return err
			}
			out.Outcome = fmt.Sprintf("recorded %d order(s) of shop order %s", len(out.Orders), shopOrderID)
			return e.finishWebhook(tx, rec, out)
		})
		if err != nil {
			return nil, err
		}
		e.observeOversold(out.oversold)
		e.launchAll(ctx, out.Operations)
		return out, nil
	}
	for {
		out, err := record(queues)
		var qc *errQueuesChanged
		if errors.As(err, &qc) {
			queues = append(queues, qc.queue)
			continue
		}
		return out, err
	}
}
