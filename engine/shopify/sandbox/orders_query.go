package sandbox

import (
	"encoding/base64"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The orders query: orders(query:, sortKey:) as Shopify's search answers
// it, for the fields a reconciliation filters on. Terms are separated by
// spaces and all must hold; the ones read are created_at and updated_at
// with :>, :>=, :<, :<= or : (same second) and an RFC 3339 time or a
// date, optionally quoted. Any other term is ignored, as Shopify ignores
// a filter it does not know (it reports it only as a search warning).
// Times have Shopify's precision, whole seconds: an order updated at
// 10:00:00.7 is updated at 10:00:00 for the filter and the sort.

type orderFilter struct {
	field string // created_at or updated_at
	op    string // >, >=, <, <=, =
	at    time.Time
}

func parseOrderQuery(q string) []orderFilter {
	var out []orderFilter
	for _, term := range strings.Fields(q) {
		name, rest, ok := strings.Cut(term, ":")
		name = strings.ToLower(name)
		if !ok || (name != "created_at" && name != "updated_at") {
			continue
		}
		op := "="
		for _, o := range []string{">=", "<=", ">", "<"} {
			if strings.HasPrefix(rest, o) {
				op, rest = o, rest[len(o):]
				break
			}
		}
		rest = strings.Trim(rest, `'"`)
		at, err := time.Parse(time.RFC3339, rest)
		if err != nil {
			if at, err = time.Parse("2006-01-02", rest); err != nil {
				continue
			}
		}
		out = append(out, orderFilter{field: name, op: op, at: at.UTC().Truncate(time.Second)})
	}
	return out
}

func (f orderFilter) match(o *order) bool {
	t := o.UpdatedAt
	if f.field == "created_at" {
		t = o.CreatedAt
	}
	t = t.UTC().Truncate(time.Second)
	switch f.op {
	case ">":
		return t.After(f.at)
	case ">=":
		return !t.Before(f.at)
	case "<":
		return t.Before(f.at)
	case "<=":
		return !t.After(f.at)
	}
	return t.Equal(f.at)
}

// ordersPage lists the orders the query selects, sorted by sortKey
// (PROCESSED_AT by default, as Shopify; CREATED_AT and PROCESSED_AT are
// the same here; UPDATED_AT; anything else by id), ties by id, then paged.
func (x *execCtx) ordersPage(a map[string]any) (*conn, error) {
	st := x.st
	filters := parseOrderQuery(strArg(a, "query"))
	var os []*order
	for _, id := range sortedKeys(st.Orders) {
		o := st.Orders[id]
		if !x.visible(o) {
			continue
		}
		keep := true
		for _, f := range filters {
			keep = keep && f.match(o)
		}
		if keep {
			os = append(os, o)
		}
	}
	key := strArg(a, "sortKey")
	if key == "" {
		key = "PROCESSED_AT"
	}
	at := func(o *order) time.Time {
		switch key {
		case "UPDATED_AT":
			return o.UpdatedAt.UTC().Truncate(time.Second)
		case "CREATED_AT", "PROCESSED_AT":
			return o.CreatedAt.UTC().Truncate(time.Second)
		}
		return time.Time{}
	}
	sort.SliceStable(os, func(i, j int) bool {
		ti, tj := at(os[i]), at(os[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return os[i].ID < os[j].ID
	})
	// A cursor holds the sort value with the id, as Shopify's do: an order
	// updated between two pages moves, and the next page still starts
	// right after where the previous one ended.
	less := func(o *order, t time.Time, id int64) bool {
		return at(o).Before(t) || (at(o).Equal(t) && o.ID < id)
	}
	args := make(map[string]any, len(a))
	for k, v := range a {
		args[k] = v
	}
	var after, before bool
	if s, ok := a["after"].(string); ok && s != "" {
		t, id, ok := decodeSortCursor(s)
		if !ok {
			return nil, errorf("BAD_REQUEST", "Invalid cursor for current pagination sort.")
		}
		os = slices.DeleteFunc(os, func(o *order) bool { return less(o, t, id) || (at(o).Equal(t) && o.ID == id) })
		delete(args, "after")
		after = true
	}
	if s, ok := a["before"].(string); ok && s != "" {
		t, id, ok := decodeSortCursor(s)
		if !ok {
			return nil, errorf("BAD_REQUEST", "Invalid cursor for current pagination sort.")
		}
		os = slices.DeleteFunc(os, func(o *order) bool { return !less(o, t, id) })
		delete(args, "before")
		before = true
	}
	items := make([]page, len(os))
	for i, o := range os {
		items[i] = page{o.ID, orderR{o}}
	}
	c, err := paginate("Order", items, args)
	if err != nil {
		return nil, err
	}
	c.hasPrev = c.hasPrev || after
	c.hasNext = c.hasNext || before
	for i, n := range c.nodes {
		o := n.(orderR).o
		c.cursors[i] = encodeSortCursor(at(o), o.ID)
	}
	return c, nil
}

func encodeSortCursor(t time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("last_id:" + strconv.FormatInt(id, 10) + ",last_value:" + strconv.FormatInt(t.Unix(), 10)))
}

func decodeSortCursor(s string) (time.Time, int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, false
	}
	idPart, valPart, ok := strings.Cut(string(raw), ",")
	if !ok {
		return time.Time{}, 0, false
	}
	id, err1 := strconv.ParseInt(strings.TrimPrefix(idPart, "last_id:"), 10, 64)
	sec, err2 := strconv.ParseInt(strings.TrimPrefix(valPart, "last_value:"), 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, false
	}
	return time.Unix(sec, 0).UTC(), id, true
}
