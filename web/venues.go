package web

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

type venueJSON struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	CreatedAt timestamp `json:"created_at"`
}

func venue(v *engine.Venue) venueJSON {
	return venueJSON{ID: v.ID, Name: v.Name, TimeZone: v.TimeZone, CreatedAt: ts(v.CreatedAt)}
}

// listVenues answers GET /venues, in id order; filter[search] keeps names
// containing it (ignoring case).
func (s *Server) listVenues(c *fiber.Ctx) error {
	p, err := listParams(c, "filter[search]")
	if err != nil {
		return err
	}
	vs, next, err := s.eng.Venues(engine.NamedQuery{CompanyID: companyID(c),
		Search: c.Query("filter[search]"), Cursor: p.Cursor, Limit: p.Size})
	if err != nil {
		return renameCursorError(err)
	}
	out := make([]venueJSON, len(vs))
	for i, v := range vs {
		out[i] = venue(v)
	}
	return s.sendList(c, p, out, len(out), next)
}

func (s *Server) getVenue(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	v, err := s.eng.Venue(companyID(c), id)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, venue(v))
}

// createVenue answers POST /venues {"venue": {"name", "time_zone"}} with 201.
func (s *Server) createVenue(c *fiber.Ctx) error {
	var in engine.VenueInput
	if err := decodeEnvelope(c.Body(), "venue", &in); err != nil {
		return err
	}
	v, err := s.eng.CreateVenue(c.UserContext(), companyID(c), in)
	if err != nil {
		return err
	}
	return s.answer(c, made(engine.WriteResult{Venue: v}))
}

// venueAnswer is 201 with the venue and its Location.
func (s *Server) venueAnswer(r engine.WriteResult) (*answer, error) {
	return jsonAnswer(http.StatusCreated, venue(r.Venue),
		headerField{fiber.HeaderLocation, s.url("/api/v2/venues/" + strconv.FormatUint(r.Venue.ID, 10))})
}

func (s *Server) venueOfRecord(c *fiber.Ctx, rec *engine.IdempotencyRecord) (engine.WriteResult, error) {
	v, err := s.eng.Venue(companyID(c), rec.ResourceID)
	return engine.WriteResult{Venue: v}, err
}
