package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"eventops/web/httperr"
)

// Page sizes of every list (DESIGN §3).
const (
	defaultPageSize = 25
	maxPageSize     = 100
)

// pageParams are a list request's page[size] and page[cursor].
type pageParams struct {
	Size   int
	Cursor string // opaque; "" for the first page
}

// Every list answers {"data": [...], "meta": listMeta}. Cursors are opaque,
// belong to one query (same filters and sort), and cost nothing to resume
// from: a page never counts or skips what came before it.

type listMeta struct {
	// Count is the number of items in this page; there is no total.
	Count int       `json:"count"`
	Page  pageMeta  `json:"page"`
	Links listLinks `json:"links"`
}

// pageMeta: First is true for a page requested without a cursor (the start
// of the list); Last is true when nothing follows (next_cursor is null). A
// page may hold fewer than size items, even none, and not be the last: a
// call examines a bounded number of records, so a narrow filter over many
// records continues on the next page.
type pageMeta struct {
	Size       int     `json:"size"`
	NextCursor *string `json:"next_cursor"`
	First      bool    `json:"first"`
	Last       bool    `json:"last"`
}

type listLinks struct {
	Self string  `json:"self"`
	Next *string `json:"next"`
}

// listParams checks a list request's query: unknown filter[...], sort[...]
// or page[...] parameters are 400 unpermitted_parameters (a typo must not
// silently widen a list), and page[size] must be 1..100.
func listParams(c *fiber.Ctx, allowed ...string) (pageParams, error) {
	var bad string
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		key := string(k)
		if bad != "" || !(strings.HasPrefix(key, "filter[") || strings.HasPrefix(key, "sort[") ||
			strings.HasPrefix(key, "page[") || key == "sort") {
			return
		}
		if key == "page[size]" || key == "page[cursor]" {
			return
		}
		for _, a := range allowed {
			if key == a {
				return
			}
		}
		bad = key
	})
	if bad != "" {
		return pageParams{}, httperr.New(http.StatusBadRequest, httperr.TypeUnpermittedParameters,
			"unpermitted query parameter "+strconv.Quote(bad)+"; this list accepts "+allowedList(allowed))
	}
	p := pageParams{Size: defaultPageSize}
	if v := c.Query("page[cursor]"); v != "" {
		inner, ok := openCursor(c, v)
		if !ok {
			return p, httperr.InvalidParam("page[cursor]", "invalid",
				"is not a cursor of this list with these filters and sort: send it with the query it came from, or start again without one")
		}
		p.Cursor = inner
	}
	if v := c.Query("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return p, httperr.InvalidParam("page[size]", "out_of_range", "must be a whole number from 1 to 100")
		}
		p.Size = n
	}
	return p, nil
}

func allowedList(allowed []string) string {
	all := append([]string{"page[size]", "page[cursor]"}, allowed...)
	return strings.Join(all, ", ")
}

// sendList answers a page. next is "" on the last page.
func (s *Server) sendList(c *fiber.Ctx, p pageParams, data any, count int, next string) error {
	meta := listMeta{
		Count: count,
		Page:  pageMeta{Size: p.Size, First: p.Cursor == "", Last: next == ""},
		Links: listLinks{Self: s.url(canonicalPath(c) + queryString(c))},
	}
	if next != "" {
		n := sealCursor(c, next)
		meta.Page.NextCursor = &n
		args := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(args)
		c.Context().QueryArgs().CopyTo(args)
		args.Set("page[cursor]", n)
		link := s.url(canonicalPath(c) + "?" + args.String())
		meta.Links.Next = &link
	}
	return sendJSON(c, http.StatusOK, struct {
		Data any      `json:"data"`
		Meta listMeta `json:"meta"`
	}{data, meta})
}

// A cursor is bound to its query: the cursor a client sees is
// base64url(tag ‖ position), where position is the storage's own cursor
// (or the id to continue from) and tag the first cursorTagLen bytes of a
// SHA-256 over the company, the list's path and its filter[...] and
// sort[...] parameters. A cursor sent with another list, company, filter or
// sort does not open (422): a page of another query would be silently
// wrong. page[size] is left out, so that a client may change it between
// pages, and so are parameters the API does not read (cache busters). The
// tag binds, it does not authenticate: a forged one reaches only the
// position checks the storage makes of any cursor.
const cursorTagLen = 8

func cursorTag(c *fiber.Ctx) []byte {
	var params []string
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		key := string(k)
		if strings.HasPrefix(key, "filter[") || strings.HasPrefix(key, "sort[") || key == "sort" {
			params = append(params, strconv.Quote(key)+"="+strconv.Quote(string(v)))
		}
	})
	sort.Strings(params)
	h := sha256.New()
	fmt.Fprintf(h, "%d\n%s\n", companyID(c), strings.ToLower(strings.TrimRight(canonicalPath(c), "/")))
	for _, p := range params {
		h.Write([]byte(p + "\n"))
	}
	return h.Sum(nil)[:cursorTagLen]
}

// sealCursor makes the cursor a client sees of a position in this query.
func sealCursor(c *fiber.Ctx, position string) string {
	return base64.RawURLEncoding.EncodeToString(append(cursorTag(c), position...))
}

// openCursor returns the position a client's cursor holds, false when it is
// not a cursor of this query.
func openCursor(c *fiber.Ctx, cursor string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= cursorTagLen || !bytes.Equal(raw[:cursorTagLen], cursorTag(c)) {
		return "", false
	}
	return string(raw[cursorTagLen:]), true
}

// renameCursorError makes the storage's "cursor" attribute the query
// parameter the client sent.
func renameCursorError(err error) error {
	ae := httperr.From(err)
	if ae == nil || ae.Type != httperr.TypeValidation {
		return err
	}
	for i := range ae.Fields {
		if ae.Fields[i].Attribute == "cursor" {
			ae.Fields[i].Attribute = "page[cursor]"
			ae.Detail = "page[cursor] " + ae.Fields[i].Message
		}
	}
	return ae
}

type canonicalPathLocal struct{}

// canonicalPath is the request's path, or the successor's path on an alias,
// so that an alias answers with the very bytes of its successor.
func canonicalPath(c *fiber.Ctx) string {
	if p, ok := c.Locals(canonicalPathLocal{}).(string); ok {
		return p
	}
	return c.Path()
}

func queryString(c *fiber.Ctx) string {
	if q := c.Context().QueryArgs().QueryString(); len(q) > 0 {
		return "?" + string(q)
	}
	return ""
}
