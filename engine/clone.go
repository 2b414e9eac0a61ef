package engine

// Deep copies of the records that the store hands out from its decode cache
// (see storage): the copy shares nothing mutable with the original, so a
// caller may change it freely. A field added to these types must be copied
// here too; clone_test.go fails until it is.

import "slices"

// Clone returns a deep copy of e.
func (e *Event) Clone() *Event {
	if e == nil {
		return nil
	}
	c := *e
	c.PublishedAt = cloneTime(e.PublishedAt)
	c.Capacity = cloneInt(e.Capacity)
	if e.RegistrationTypes != nil {
		c.RegistrationTypes = make([]RegistrationType, len(e.RegistrationTypes))
		for i, rt := range e.RegistrationTypes {
			rt.Quantity = cloneInt(rt.Quantity)
			c.RegistrationTypes[i] = rt
		}
	}
	if e.Withdrawn != nil {
		c.Withdrawn = append([]ShopProductRef{}, e.Withdrawn...)
	}
	if e.KeptOccurrenceIDs != nil {
		c.KeptOccurrenceIDs = append([]uint64{}, e.KeptOccurrenceIDs...)
	}
	if e.Recurrence != nil {
		r := *e.Recurrence
		if r.ByDay != nil {
			r.ByDay = append([]string{}, r.ByDay...)
		}
		c.Recurrence = &r
	}
	return &c
}

// Clone returns a copy of v.
func (v *Venue) Clone() *Venue {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// Clone returns a deep copy of c.
func (c *Company) Clone() *Company {
	if c == nil {
		return nil
	}
	out := *c
	if c.Shop != nil {
		s := *c.Shop
		if s.Setup != nil {
			su := *s.Setup
			s.Setup = &su
		}
		if s.Reconciled != nil {
			m := *s.Reconciled
			m.OrderIDs = append([]string(nil), m.OrderIDs...)
			s.Reconciled = &m
		}
		if s.Unfulfilled != nil {
			s.Unfulfilled = append([]string(nil), s.Unfulfilled...)
		}
		s.AccessToken = cloneBytes(s.AccessToken)
		s.WebhookSecret = cloneBytes(s.WebhookSecret)
		s.ClientSecret = cloneBytes(s.ClientSecret)
		s.RefreshToken = cloneBytes(s.RefreshToken)
		s.TokenExpiresAt = cloneTime(s.TokenExpiresAt)
		s.RefreshExpiresAt = cloneTime(s.RefreshExpiresAt)
		s.TokenRefreshedAt = cloneTime(s.TokenRefreshedAt)
		s.TokenRefusedAt = cloneTime(s.TokenRefusedAt)
		s.Scopes = append([]string(nil), s.Scopes...)
		out.Shop = &s
	}
	return &out
}

// Clone returns a deep copy of s.
func (s *TicketStructure) Clone() *TicketStructure {
	if s == nil {
		return nil
	}
	c := *s
	c.Capacity = cloneInt(s.Capacity)
	c.Dropped = slices.Clone(s.Dropped)
	c.Takes = slices.Clone(s.Takes)
	if s.Types != nil {
		c.Types = make([]TicketLimit, len(s.Types))
		for i, t := range s.Types {
			t.Quantity, t.Available = cloneInt(t.Quantity), cloneInt(t.Available)
			c.Types[i] = t
		}
	}
	if s.Products != nil {
		c.Products = make([]Product, len(s.Products))
		for i, p := range s.Products {
			if p.Variants != nil {
				vs := make([]Variant, len(p.Variants))
				for j, v := range p.Variants {
					v.Available, v.ShopOffer, v.ShopPending = cloneInt(v.Available), cloneInt(v.ShopOffer), cloneInt(v.ShopPending)
					vs[j] = v
				}
				p.Variants = vs
			}
			c.Products[i] = p
		}
	}
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
