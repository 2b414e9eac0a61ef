package dash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"eventops/views"
)

// SandboxStateFromHandler reads the sandbox's state through its own HTTP
// handler, in process: GET path (the sandbox's state route, such as
// "/sandbox/shopify/state") answered by h without a network round trip.
// The dashboard so depends on the sandbox's published JSON only, not on its
// Go types.
func SandboxStateFromHandler(h http.Handler, path string) SandboxState {
	return handlerState{h: h, path: path}
}

type handlerState struct {
	h    http.Handler
	path string
}

func (s handlerState) SandboxState(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.path, nil)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = "127.0.0.1:0" // in process: loopback, as the sandbox's control checks expect
	rec := &memoryResponse{header: http.Header{}, status: http.StatusOK}
	s.h.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		return nil, fmt.Errorf("sandbox state: GET %s answered %d", s.path, rec.status)
	}
	return rec.body.Bytes(), nil
}

// memoryResponse is the smallest http.ResponseWriter that keeps an answer.
type memoryResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (m *memoryResponse) Header() http.Header { return m.header }

func (m *memoryResponse) WriteHeader(status int) {
	if !m.wrote {
		m.status, m.wrote = status, true
	}
}

func (m *memoryResponse) Write(b []byte) (int, error) {
	m.wrote = true
	return m.body.Write(b)
}

// maxStateRows bounds each table of the sandbox page.
const maxStateRows = 200

// sandboxShops turns the state JSON (an object keyed by shop name) into
// tables: each member of a shop that is a list of objects becomes a table
// whose columns are the union of the objects' keys; anything else is shown
// as indented JSON. The page so follows the sandbox's shape as it grows.
func sandboxShops(raw []byte) ([]views.SandboxShop, error) {
	var shops map[string]json.RawMessage
	if err := json.Unmarshal(raw, &shops); err != nil {
		return nil, fmt.Errorf("sandbox state is not a JSON object: %w", err)
	}
	// Some shapes wrap the shops: {"shops": {...}}.
	if inner, ok := shops["shops"]; ok && len(shops) == 1 {
		var m map[string]json.RawMessage
		if json.Unmarshal(inner, &m) == nil {
			shops = m
		}
	}
	names := make([]string, 0, len(shops))
	for n := range shops {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]views.SandboxShop, 0, len(names))
	for _, n := range names {
		shop := views.SandboxShop{Name: n}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(shops[n], &members); err != nil {
			shop.Sections = []views.JSONSection{{Name: "state", Text: indentJSON(shops[n])}}
			out = append(out, shop)
			continue
		}
		keys := make([]string, 0, len(members))
		for k := range members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			shop.Sections = append(shop.Sections, jsonSection(k, members[k]))
		}
		out = append(out, shop)
	}
	return out, nil
}

func jsonSection(name string, raw json.RawMessage) views.JSONSection {
	sec := views.JSONSection{Name: name}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		// A map of objects keyed by id is a table too.
		var byKey map[string]map[string]json.RawMessage
		if err := json.Unmarshal(raw, &byKey); err != nil || len(byKey) == 0 {
			sec.Text = indentJSON(raw)
			return sec
		}
		ids := make([]string, 0, len(byKey))
		for id := range byKey {
			ids = append(ids, id)
		}
		sortIDs(ids)
		for _, id := range ids {
			row := byKey[id]
			if _, ok := row["key"]; !ok {
				row["key"] = json.RawMessage(strconv.Quote(id))
			}
			list = append(list, row)
		}
	}
	cols := map[string]bool{}
	for _, obj := range list {
		for k := range obj {
			cols[k] = true
		}
	}
	for k := range cols {
		sec.Columns = append(sec.Columns, k)
	}
	sort.Slice(sec.Columns, func(i, j int) bool { return columnLess(sec.Columns[i], sec.Columns[j]) })
	for i, obj := range list {
		if i == maxStateRows {
			sec.Rows = append(sec.Rows, []string{fmt.Sprintf("… %d more", len(list)-maxStateRows)})
			break
		}
		row := make([]string, len(sec.Columns))
		for j, c := range sec.Columns {
			row[j] = cellText(obj[c])
		}
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

// columnLess puts identifying columns first, the rest alphabetically.
func columnLess(a, b string) bool {
	rank := func(s string) int {
		switch s {
		case "key", "id":
			return 0
		case "name", "title", "handle":
			return 1
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		a, errA := strconv.ParseUint(ids[i], 10, 64)
		b, errB := strconv.ParseUint(ids[j], 10, 64)
		if errA == nil && errB == nil {
			return a < b
		}
		return ids[i] < ids[j]
	})
}

// cellText shows a JSON value in a cell: strings bare, null empty, the rest
// as compact JSON.
func cellText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return strings.TrimSpace(string(raw))
}

func indentJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") == nil {
		return buf.String()
	}
	return string(raw)
}
