package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// eventJSON is an event as the API shows it. Beside the stored attributes:
//   - start/end: the times in the venue's zone {tz, local, utc}; local is
//     RFC 3339 with the zone's offset at that instant.
//   - sold/available (event-wide and per registration type): paid tickets,
//     and what is left to sell (DESIGN §2); available is null when no limit
//     applies. Both are null on a recurring template: limits apply per
//     occurrence, listed with filter[parent_event_id].
//   - oversold: on a date event (an occurrence), the seats sold beyond its
//     capacity (sold − capacity, 0 when not positive): shop sales that
//     landed while a save was lowering the shop; null on a recurring
//     template.
//   - shop_available (per registration type): what the shop currently
//     offers of the type: the allocation eventops last wrote there less
//     the shop sales recorded since (see static/docs/shopify.md, "What the
//     shop offers"); null for a company
//     without a shop, on a recurring template, and until first written.
//   - deletable: false while the event has paid orders (refund first).
//   - kept_occurrence_ids: on a recurring event, the occurrences its rule no
//     longer yields that stay because they were sold after the change was
//     checked (DESIGN §4.1); empty otherwise.
//   - shopify_product_ids, and per registration type shopify_product_id and
//     shopify_variant_id: the mirrored ids, null (or empty) until the
//     catalog phase has mirrored them.
type eventJSON struct {
	ID                uint64                 `json:"id"`
	Type              engine.EventType       `json:"type"`
	ParentEventID     *uint64                `json:"parent_event_id"`
	Name              string                 `json:"name"`
	Slug              string                 `json:"slug"`
	VenueID           uint64                 `json:"venue_id"`
	StartsAt          timestamp              `json:"starts_at"`
	EndsAt            timestamp              `json:"ends_at"`
	Start             zonedTime              `json:"start"`
	End               zonedTime              `json:"end"`
	PublishedAt       *timestamp             `json:"published_at"`
	Capacity          *int                   `json:"capacity"`
	Sold              *int                   `json:"sold"`
	Available         *int                   `json:"available"`
	Oversold          *int                   `json:"oversold"`
	SplitProducts     bool                   `json:"split_products"`
	Recurrence        *recurrenceJSON        `json:"recurrence"`
	RegistrationTypes []registrationTypeJSON `json:"registration_types"`
	KeptOccurrenceIDs []uint64               `json:"kept_occurrence_ids"`
	Deletable         bool                   `json:"deletable"`
	ShopifyProductIDs []string               `json:"shopify_product_ids"`
	CreatedAt         timestamp              `json:"created_at"`
	UpdatedAt         timestamp              `json:"updated_at"`
}

type zonedTime struct {
	TZ    string `json:"tz"`
	Local string `json:"local"`
	UTC   string `json:"utc"`
}

type recurrenceJSON struct {
	Frequency string   `json:"frequency"`
	Interval  int      `json:"interval"`
	ByDay     []string `json:"by_day"`
	Count     *int     `json:"count"`
	Until     *string  `json:"until"`
}

type registrationTypeJSON struct {
	ID               uint64    `json:"id"`
	Name             string    `json:"name"`
	TicketTypeID     uint64    `json:"ticket_type_id"`
	Price            moneyJSON `json:"price"`
	Quantity         *int      `json:"quantity"`
	Sold             *int      `json:"sold"`
	Available        *int      `json:"available"`
	ShopAvailable    *int      `json:"shop_available"`
	ShopifyProductID *string   `json:"shopify_product_id"`
	ShopifyVariantID *string   `json:"shopify_variant_id"`
}

func zoned(t time.Time, tz string) zonedTime {
	return zonedTime{TZ: tz, Local: t.In(engine.LoadLocation(tz)).Format(time.RFC3339), UTC: t.UTC().Format(time.RFC3339)}
}

func event(v *engine.EventView) eventJSON {
	ev := v.Event
	tz := "UTC"
	if v.Venue != nil && v.Venue.TimeZone != "" {
		tz = v.Venue.TimeZone
	}
	out := eventJSON{
		ID: ev.ID, Type: ev.Type, Name: ev.Name, Slug: ev.Slug, VenueID: ev.VenueID,
		StartsAt: ts(ev.StartsAt), EndsAt: ts(ev.EndsAt),
		Start: zoned(ev.StartsAt, tz), End: zoned(ev.EndsAt, tz),
		PublishedAt: tsPtr(ev.PublishedAt), Capacity: ev.Capacity, SplitProducts: ev.SplitProducts,
		Deletable: v.Deletable, ShopifyProductIDs: []string{},
		KeptOccurrenceIDs: append([]uint64{}, ev.KeptOccurrenceIDs...),
		RegistrationTypes: make([]registrationTypeJSON, 0, len(ev.RegistrationTypes)),
		CreatedAt:         ts(ev.CreatedAt), UpdatedAt: ts(ev.UpdatedAt),
	}
	if ev.ParentID != 0 {
		p := ev.ParentID
		out.ParentEventID = &p
	}
	if r := ev.Recurrence; r != nil {
		rj := &recurrenceJSON{Frequency: r.Frequency, Interval: max(r.Interval, 1), ByDay: r.ByDay}
		if rj.ByDay == nil {
			rj.ByDay = []string{}
		}
		if r.Count > 0 {
			n := r.Count
			rj.Count = &n
		}
		if r.Until != "" {
			u := r.Until
			rj.Until = &u
		}
		out.Recurrence = rj
	}
	// Mirrored ids by registration type, from the ticket structure.
	type mirrored struct {
		product, variant string
		offer            *int
	}
	ids := map[uint64]mirrored{}
	if st := v.Structure; st != nil {
		for _, p := range st.Products {
			if p.ShopifyProductID != "" {
				out.ShopifyProductIDs = append(out.ShopifyProductIDs, p.ShopifyProductID)
			}
			for _, vr := range p.Variants {
				ids[vr.RegistrationTypeID] = mirrored{p.ShopifyProductID, vr.ShopifyVariantID, st.ShopOffered(vr)}
			}
		}
	}
	if v.Sold != nil {
		all := v.Sold[0]
		out.Sold = &all
		out.Available = engine.Available(nil, 0, ev.Capacity, all)
		over := v.Structure.Oversold()
		out.Oversold = &over
	}
	for _, rt := range ev.RegistrationTypes {
		r := registrationTypeJSON{ID: rt.ID, Name: rt.Name, TicketTypeID: rt.TicketTypeID,
			Price: money(rt.Price), Quantity: rt.Quantity}
		if v.Sold != nil {
			sold := v.Sold[rt.ID]
			r.Sold = &sold
			r.Available = engine.Available(rt.Quantity, sold, ev.Capacity, v.Sold[0])
		}
		if m, ok := ids[rt.ID]; ok {
			r.ShopifyProductID = nonEmpty(m.product)
			r.ShopifyVariantID = nonEmpty(m.variant)
			if v.Shop && m.offer != nil {
				o := *m.offer
				r.ShopAvailable = &o
			}
		}
		out.RegistrationTypes = append(out.RegistrationTypes, r)
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func eventPath(id uint64) string { return "/api/v2/events/" + strconv.FormatUint(id, 10) }

// getEvent answers with the current state of a live event.
func (s *Server) getEvent(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	v, err := s.eng.EventView(companyID(c), id)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, event(v))
}

// listEvents answers GET /events: live events (occurrences included), by
// start unless sorted otherwise.
func (s *Server) listEvents(c *fiber.Ctx) error {
	p, err := listParams(c, "filter[status]", "filter[parent_event_id]", "filter[starts_at][from]",
		"filter[starts_at][to]", "sort[starts_at]", "sort[id]", "sort[name]")
	if err != nil {
		return err
	}
	q, err := s.eventQuery(c, p)
	if err != nil {
		return err
	}
	evs, next, err := s.eng.Events(q)
	if err != nil {
		return renameCursorError(err)
	}
	views, err := s.eng.EventViews(evs)
	if err != nil {
		return err
	}
	out := make([]eventJSON, len(views))
	for i, v := range views {
		out[i] = event(v)
	}
	return s.sendList(c, p, out, len(out), next)
}

func (s *Server) eventQuery(c *fiber.Ctx, p pageParams) (engine.EventQuery, error) {
	q := engine.EventQuery{CompanyID: companyID(c), Now: s.now(), Cursor: p.Cursor, Limit: p.Size}
	switch v := c.Query("filter[status]"); v {
	case "":
	case "future", "active", "past":
		q.When = v
	default:
		return q, httperr.InvalidParam("filter[status]", "invalid", "must be future, active or past")
	}
	if v := c.Query("filter[parent_event_id]"); v != "" {
		var id uint64
		if v != "null" {
			var err error
			if id, err = strconv.ParseUint(v, 10, 64); err != nil {
				return q, httperr.InvalidParam("filter[parent_event_id]", "invalid",
					"must be an event id (or null for events that are not occurrences)")
			}
		}
		q.ParentID = &id
	}
	for _, b := range []struct {
		name string
		dst  **time.Time
	}{{"filter[starts_at][from]", &q.From}, {"filter[starts_at][to]", &q.To}} {
		if v := c.Query(b.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return q, httperr.InvalidParam(b.name, "invalid", "must be an RFC 3339 time such as 2026-12-05T19:00:00Z")
			}
			*b.dst = &t
		}
	}
	sorts := 0
	for _, o := range []struct {
		name string
		sort engine.EventSort
	}{{"sort[starts_at]", engine.SortStartsAt}, {"sort[id]", engine.SortID}, {"sort[name]", engine.SortName}} {
		v := c.Query(o.name)
		if v == "" {
			continue
		}
		if sorts++; sorts > 1 {
			return q, httperr.InvalidParam(o.name, "invalid", "only one sort key is allowed")
		}
		switch v {
		case "asc":
		case "desc":
			q.Desc = true
		default:
			return q, httperr.InvalidParam(o.name, "invalid", "must be asc or desc")
		}
		q.Sort = o.sort
	}
	return q, nil
}

// createEvent answers POST /events with 201 and the event; the save
// operation it started is in X-Event-Operation-ID.
func (s *Server) createEvent(c *fiber.Ctx) error {
	in, err := decodeEvent(c.Body())
	if err != nil {
		return err
	}
	ev, op, err := s.eng.CreateEvent(c.UserContext(), companyID(c), in)
	if err != nil {
		return err
	}
	return s.answer(c, s.eventResult(c, ev, op))
}

// updateEvent answers PATCH /events/{id} with 200 and the event.
func (s *Server) updateEvent(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	in, err := decodeEvent(c.Body())
	if err != nil {
		return err
	}
	if err := refuseEmptyPatch(c.Body()); err != nil {
		return err
	}
	ev, op, err := s.eng.UpdateEvent(c.UserContext(), companyID(c), id, in)
	if err != nil {
		return err
	}
	return s.answer(c, s.eventResult(c, ev, op))
}

// deleteEvent answers DELETE /events/{id} with 202 and the delete operation;
// an event with paid orders is 409.
func (s *Server) deleteEvent(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := noParameters(c.Body()); err != nil {
		return err
	}
	op, err := s.eng.DeleteEvent(c.UserContext(), companyID(c), id)
	if err != nil {
		return err
	}
	return s.answer(c, made(engine.WriteResult{Operation: op}))
}

// refundEvent answers POST /events/{id}/refund with 202 and the refund
// operation.
func (s *Server) refundEvent(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := noParameters(c.Body()); err != nil {
		return err
	}
	op, err := s.eng.RefundEvent(c.UserContext(), companyID(c), id)
	if err != nil {
		return err
	}
	return s.answer(c, made(engine.WriteResult{Operation: op}))
}

// eventResult reads the event a write made, with what its answer shows
// (venue, sold counts), once the write has committed.
func (s *Server) eventResult(c *fiber.Ctx, ev *engine.Event, op *engine.Operation) func() (engine.WriteResult, error) {
	return func() (engine.WriteResult, error) {
		v, err := s.eng.EventView(companyID(c), ev.ID)
		return engine.WriteResult{Event: v, Operation: op}, err
	}
}

// eventAnswer is status with the event, its save in X-Event-Operation-ID,
// and for a created one (201) its Location.
func (s *Server) eventAnswer(status int) renderFunc {
	return func(r engine.WriteResult) (*answer, error) {
		h := []headerField{operationHeader(r.Operation.ID)}
		if status == http.StatusCreated {
			h = append(h, headerField{fiber.HeaderLocation, s.url(eventPath(r.Event.Event.ID))})
		}
		return jsonAnswer(status, event(r.Event), h...)
	}
}

func (s *Server) eventOfRecord(c *fiber.Ctx, rec *engine.IdempotencyRecord) (engine.WriteResult, error) {
	v, err := s.eng.EventView(companyID(c), rec.EventID)
	return engine.WriteResult{Event: v, Operation: &engine.Operation{ID: rec.OperationID}}, err
}
