package web

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

type ticketTypeJSON struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	CreatedAt timestamp `json:"created_at"`
}

func ticketType(t *engine.TicketType) ticketTypeJSON {
	return ticketTypeJSON{ID: t.ID, Name: t.Name, Kind: t.Kind, CreatedAt: ts(t.CreatedAt)}
}

// listTicketTypes answers GET /ticket_types, in id order; filter[search]
// keeps names containing it (ignoring case).
func (s *Server) listTicketTypes(c *fiber.Ctx) error {
	p, err := listParams(c, "filter[search]")
	if err != nil {
		return err
	}
	ts, next, err := s.eng.TicketTypes(engine.NamedQuery{CompanyID: companyID(c),
		Search: c.Query("filter[search]"), Cursor: p.Cursor, Limit: p.Size})
	if err != nil {
		return renameCursorError(err)
	}
	out := make([]ticketTypeJSON, len(ts))
	for i, t := range ts {
		out[i] = ticketType(t)
	}
	return s.sendList(c, p, out, len(out), next)
}

func (s *Server) getTicketType(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	t, err := s.eng.TicketType(companyID(c), id)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, ticketType(t))
}

// createTicketType answers POST /ticket_types {"ticket_type": {"name",
// "kind"}} with 201; kind defaults to "admission".
func (s *Server) createTicketType(c *fiber.Ctx) error {
	var in engine.TicketTypeInput
	if err := decodeEnvelope(c.Body(), "ticket_type", &in); err != nil {
		return err
	}
	t, err := s.eng.CreateTicketType(c.UserContext(), companyID(c), in)
	if err != nil {
		return err
	}
	return s.sendTicketType(c, t)
}

func (s *Server) sendTicketType(c *fiber.Ctx, t *engine.TicketType) error {
	c.Set(fiber.HeaderLocation, s.url("/api/v2/ticket_types/"+strconv.FormatUint(t.ID, 10)))
	return sendJSON(c, http.StatusCreated, ticketType(t))
}

func (s *Server) rerenderTicketType(c *fiber.Ctx, rec *engine.IdempotencyRecord) error {
	t, err := s.eng.TicketType(companyID(c), rec.ResourceID)
	if err != nil {
		return err
	}
	return s.sendTicketType(c, t)
}
