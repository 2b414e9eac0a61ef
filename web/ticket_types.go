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
	return s.answer(c, made(engine.WriteResult{TicketType: t}))
}

// ticketTypeAnswer is 201 with the ticket type and its Location.
func (s *Server) ticketTypeAnswer(r engine.WriteResult) (*answer, error) {
	return jsonAnswer(http.StatusCreated, ticketType(r.TicketType),
		headerField{fiber.HeaderLocation, s.url("/api/v2/ticket_types/" + strconv.FormatUint(r.TicketType.ID, 10))})
}

func (s *Server) ticketTypeOfRecord(c *fiber.Ctx, rec *engine.IdempotencyRecord) (engine.WriteResult, error) {
	t, err := s.eng.TicketType(companyID(c), rec.ResourceID)
	return engine.WriteResult{TicketType: t}, err
}
