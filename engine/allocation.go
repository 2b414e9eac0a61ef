package engine

import "sort"

// AllocType is one registration type of an occurrence as the allocation
// sees it: Left is what is left to sell of the type by its own quantity
// (quantity − sold of the type, never negative); nil when the type has no
// quantity.
type AllocType struct {
	ID   uint64
	Left *int
}

// Allocate is what the shop may offer of each registration type of one
// occurrence (DESIGN §8, "what the shop offers"), in the order of types.
// Shopify has no pool shared across variants, so the shop must never be
// offered more than exists:
//
//   - each type's offer is at most its Left (quantity − sold of the type);
//   - with a capacity, the offers together are at most capacity − soldAll,
//     where soldAll counts every paid order of the occurrence (box office
//     and shop, retired types included).
//
// When the capacity does not bind (the Lefts fit in what remains), each
// type is offered its Left. When it binds, what remains is split by this
// policy, deterministic for the same input:
//
//  1. Every type with something left gets one seat first, so that no type
//     with a remainder is left at 0 while the seats left are at least the
//     number of such types. When fewer seats remain than such types, they
//     go one each to the types with the most left (ties: the earlier type).
//  2. The rest is split in proportion to what each type still has left
//     after that first seat, by largest remainder: each gets the floor of
//     its exact share, and the seats the floors leave go one each to the
//     largest fractional parts (ties: more left, then the earlier type).
//     No type is offered more than its Left.
//
// The price of never overselling: a type may show sold out in the shop
// (its offer 0, when fewer seats remain than types) while a seat remains
// for another type, and a buyer wanting 3 of a type offered 2 must wait for
// the next rebalance even when the capacity has 3 left. The offers always
// add up to all that remains (or to the Lefts when the capacity does not
// bind), so a sale followed by a rebalance hands every freed seat back.
//
// A nil offer means no limit at all (no capacity and no quantity).
// soldAll above capacity (an oversold occurrence) leaves 0 for every type.
func Allocate(capacity *int, soldAll int, types []AllocType) []*int {
	out := make([]*int, len(types))
	if capacity == nil {
		for i, t := range types {
			if t.Left != nil {
				v := max(*t.Left, 0)
				out[i] = &v
			}
		}
		return out
	}
	pool := max(*capacity-soldAll, 0)
	// demand: what each type could take if it were alone.
	demand := make([]int, len(types))
	total := 0
	for i, t := range types {
		d := pool
		if t.Left != nil {
			d = min(max(*t.Left, 0), pool)
		}
		demand[i] = d
		total += d
	}
	offer := make([]int, len(types))
	if total <= pool {
		copy(offer, demand)
		return ints(offer, out)
	}
	// Step 1: one seat each to the types with something left.
	var wanting []int
	for i, d := range demand {
		if d > 0 {
			wanting = append(wanting, i)
		}
	}
	if pool < len(wanting) {
		sort.SliceStable(wanting, func(a, b int) bool { return demand[wanting[a]] > demand[wanting[b]] })
		for _, i := range wanting[:pool] {
			offer[i] = 1
		}
		return ints(offer, out)
	}
	rest := pool - len(wanting)
	remaining := 0
	for _, i := range wanting {
		offer[i] = 1
		remaining += demand[i] - 1
	}
	if rest == 0 || remaining == 0 {
		return ints(offer, out)
	}
	// Step 2: largest remainder over what is still wanted. total > pool
	// means remaining > rest, so every exact share is below the type's
	// remaining demand and floor + 1 never exceeds it.
	type share struct {
		i    int
		frac int64 // numerator of the fractional part, over remaining
		left int
	}
	shares := make([]share, 0, len(wanting))
	given := 0
	for _, i := range wanting {
		r := int64(demand[i] - 1)
		num := int64(rest) * r
		whole := int(num / int64(remaining))
		offer[i] += whole
		given += whole
		shares = append(shares, share{i: i, frac: num % int64(remaining), left: demand[i] - 1})
	}
	sort.SliceStable(shares, func(a, b int) bool {
		if shares[a].frac != shares[b].frac {
			return shares[a].frac > shares[b].frac
		}
		if shares[a].left != shares[b].left {
			return shares[a].left > shares[b].left
		}
		return shares[a].i < shares[b].i
	})
	for k := 0; given < rest && k < len(shares); k++ {
		if offer[shares[k].i] < demand[shares[k].i] {
			offer[shares[k].i]++
			given++
		}
	}
	return ints(offer, out)
}

func ints(vs []int, out []*int) []*int {
	for i := range vs {
		v := vs[i]
		out[i] = &v
	}
	return out
}

// StructureAllocation is Allocate over a ticket structure: the shop's offer
// of each registration type of the occurrence, by type id, with held units
// (sold in the shop but not recorded yet: kept out of the offers) counted
// as sold of their type.
func StructureAllocation(s *TicketStructure, held map[uint64]int) map[uint64]*int {
	soldAll := s.SoldAll
	if soldAll == 0 {
		for _, t := range s.Types {
			soldAll += t.Sold // structures written before SoldAll was kept
		}
	}
	types := make([]AllocType, len(s.Types))
	for i, t := range s.Types {
		types[i].ID = t.RegistrationTypeID
		h := max(held[t.RegistrationTypeID], 0)
		soldAll += h
		if t.Quantity != nil {
			v := max(*t.Quantity-t.Sold-h, 0)
			types[i].Left = &v
		}
	}
	offers := Allocate(s.Capacity, soldAll, types)
	out := make(map[uint64]*int, len(types))
	for i, t := range types {
		out[t.ID] = offers[i]
	}
	return out
}

// Oversold is how many seats of the occurrence were sold beyond its
// capacity (0 when none or without a capacity): shop sales that landed
// while a save was lowering the shop (the buyers paid, and are recorded).
func (s *TicketStructure) Oversold() int {
	if s == nil || s.Capacity == nil {
		return 0
	}
	sold := s.SoldAll
	if sold == 0 {
		for _, t := range s.Types {
			sold += t.Sold
		}
	}
	return max(sold-*s.Capacity, 0)
}

// ShopOffered is what the shop offers now of a mirrored variant of the
// structure, as eventops knows it: the offer it last wrote (ShopOffer)
// less the shop sales of the type recorded since (each lowered the shop's
// level by its quantity; a refund that restocks gives them back). nil when
// no offer was written yet. This is the API's shop_available: right after a
// shop sale that needs no write (the level it left is the allocation), it
// is that level, not the offer written before the sale.
func (s *TicketStructure) ShopOffered(v Variant) *int {
	if v.ShopOffer == nil {
		return nil
	}
	shopSold := 0
	for _, t := range s.Types {
		if t.RegistrationTypeID == v.RegistrationTypeID {
			shopSold = t.ShopSold
		}
	}
	o := max(*v.ShopOffer-(shopSold-v.ShopOfferSold), 0)
	return &o
}
