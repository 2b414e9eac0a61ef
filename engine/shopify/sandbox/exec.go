package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// The executor walks a validated document against the shop's model: each
// object is a resolver that answers its fields, and the walker returns
// exactly the selected fields under their response keys (aliases), in the
// order asked, resolving variables, fragments, @skip and @include.

// resolver is one GraphQL object.
type resolver interface {
	typeName() string
	// field answers one field: nil, a scalar (string, bool, int64, float64),
	// []string, a resolver or a []resolver. An error nulls the field and is
	// reported in errors[] with its path.
	field(x *execCtx, f *ast.Field, args map[string]any) (any, error)
}

// execCtx is one request's execution over one shop, under the shop's lock.
type execCtx struct {
	sb       *Sandbox
	sh       *shop
	st       *shopState
	schema   *ast.Schema
	doc      *ast.QueryDocument
	vars     map[string]any
	version  string
	now      time.Time
	errs     []*gqlErr
	actual   int
	deliver  []*delivery // webhooks to send once committed
	idemKey  string      // first @idempotent key seen (call log)
	replayed bool
}

// gqlErr is one top-level error.
type gqlErr struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (e *gqlErr) Error() string { return e.Message }

// errorf makes a top-level error with an extensions code.
func errorf(code, format string, a ...any) *gqlErr {
	e := &gqlErr{Message: fmt.Sprintf(format, a...)}
	if code != "" {
		e.Extensions = map[string]any{"code": code}
	}
	return e
}

func (x *execCtx) addError(err error, f *ast.Field, path []any) {
	e, ok := err.(*gqlErr)
	if !ok {
		e = &gqlErr{Message: err.Error()}
	}
	c := *e
	if f != nil && f.Position != nil && c.Locations == nil {
		c.Locations = []gqlLocation{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	if c.Path == nil {
		c.Path = append([]any(nil), path...)
	}
	x.errs = append(x.errs, &c)
}

// omap is a JSON object that keeps its keys in the order they were set.
type omap struct {
	keys []string
	vals []any
}

func (m *omap) set(k string, v any) {
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

func (m *omap) MarshalJSON() ([]byte, error) {
	return appendJSON(nil, m), nil
}

// appendJSON writes the values an execution produces without reflection;
// anything else goes through encoding/json.
func appendJSON(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case *omap:
		b = append(b, '{')
		for i, k := range t.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, t.vals[i])
		}
		return append(b, '}')
	case string:
		return appendString(b, t)
	case bool:
		return strconv.AppendBool(b, t)
	case int64:
		return strconv.AppendInt(b, t, 10)
	case int:
		return strconv.AppendInt(b, int64(t), 10)
	case float64:
		if t == float64(int64(t)) && t < 1e15 && t > -1e15 {
			return strconv.AppendInt(b, int64(t), 10)
		}
		return strconv.AppendFloat(b, t, 'g', -1, 64)
	case []string:
		b = append(b, '[')
		for i, s := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']')
	case []any:
		b = append(b, '[')
		for i, e := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string (the input is valid UTF-8: it came
// from JSON or from the sandbox itself).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// collected is one response key with the fields merged under it.
type collected struct {
	key    string
	fields []*ast.Field
}

// collect flattens a selection set for an object of typeName: fragments
// whose type condition applies are inlined, skipped fields dropped, fields
// with the same response key merged.
func (x *execCtx) collect(typeName string, sel ast.SelectionSet) []collected {
	var out []collected
	index := map[string]int{}
	var walk func(ast.SelectionSet, map[string]bool)
	walk = func(ss ast.SelectionSet, visited map[string]bool) {
		for _, s := range ss {
			switch s := s.(type) {
			case *ast.Field:
				if !x.included(s.Directives) {
					continue
				}
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				if i, ok := index[key]; ok {
					out[i].fields = append(out[i].fields, s)
					continue
				}
				index[key] = len(out)
				out = append(out, collected{key: key, fields: []*ast.Field{s}})
			case *ast.InlineFragment:
				if !x.included(s.Directives) || !x.applies(s.TypeCondition, typeName) {
					continue
				}
				walk(s.SelectionSet, visited)
			case *ast.FragmentSpread:
				if !x.included(s.Directives) || visited[s.Name] {
					continue
				}
				def := x.doc.Fragments.ForName(s.Name)
				if def == nil || !x.applies(def.TypeCondition, typeName) {
					continue
				}
				visited[s.Name] = true
				walk(def.SelectionSet, visited)
			}
		}
	}
	walk(sel, map[string]bool{})
	return out
}

// included evaluates @skip and @include.
func (x *execCtx) included(dirs ast.DirectiveList) bool {
	if d := dirs.ForName("skip"); d != nil {
		if b, _ := d.ArgumentMap(x.vars)["if"].(bool); b {
			return false
		}
	}
	if d := dirs.ForName("include"); d != nil {
		if b, _ := d.ArgumentMap(x.vars)["if"].(bool); !b {
			return false
		}
	}
	return true
}

// applies reports whether a type condition covers an object type.
func (x *execCtx) applies(cond, typeName string) bool {
	if cond == "" || cond == typeName {
		return true
	}
	def := x.schema.Types[cond]
	if def == nil {
		return false
	}
	for _, t := range x.schema.GetPossibleTypes(def) {
		if t.Name == typeName {
			return true
		}
	}
	return false
}

// object renders the selected fields of one object.
func (x *execCtx) object(obj resolver, sel ast.SelectionSet, path []any, mutationRoot bool) *omap {
	fields := x.collect(obj.typeName(), sel)
	out := &omap{keys: make([]string, 0, len(fields)), vals: make([]any, 0, len(fields))}
	for _, c := range fields {
		f := c.fields[0]
		p := append(path[:len(path):len(path)], c.key)
		if f.Name == "__typename" {
			out.set(c.key, obj.typeName())
			continue
		}
		if f.Definition == nil {
			x.addError(errorf("undefinedField", "Field '%s' doesn't exist on type '%s'", f.Name, obj.typeName()), f, p)
			out.set(c.key, nil)
			continue
		}
		args := f.ArgumentMap(x.vars)
		v, err := obj.field(x, f, args)
		if err != nil {
			x.addError(err, f, p)
			out.set(c.key, nil)
			continue
		}
		sub := c.fields[0].SelectionSet
		if len(c.fields) > 1 {
			sub = nil
			for _, g := range c.fields {
				sub = append(sub, g.SelectionSet...)
			}
		}
		unit := unitCost(f.Name, f.Definition.Type.Name(), mutationRoot)
		out.set(c.key, x.value(v, f.Definition.Type, sub, p, unit))
	}
	return out
}

// value renders a field's value according to its type.
func (x *execCtx) value(v any, t *ast.Type, sel ast.SelectionSet, path []any, unit int) any {
	if v == nil {
		return nil
	}
	if t.Elem != nil {
		switch list := v.(type) {
		case []resolver:
			out := make([]any, len(list))
			for i, r := range list {
				out[i] = x.value(r, t.Elem, sel, append(path[:len(path):len(path)], i), unit)
			}
			return out
		case []string:
			if list == nil {
				return []string{}
			}
			return list
		case []any:
			return list
		default:
			return v
		}
	}
	r, ok := v.(resolver)
	if !ok {
		return v // a scalar or an enum
	}
	x.actual += unit
	return x.object(r, sel, path, false)
}

// --- connections -----------------------------------------------------------------

const maxPage = 250

// conn is a Relay connection over already ordered nodes.
type conn struct {
	node    string // node type name: "Product"
	nodes   []resolver
	cursors []string
	hasNext bool
	hasPrev bool
}

func (c *conn) typeName() string { return c.node + "Connection" }

func (c *conn) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "nodes":
		return c.nodes, nil
	case "edges":
		out := make([]resolver, len(c.nodes))
		for i, n := range c.nodes {
			out[i] = edge{c.node + "Edge", n, c.cursors[i]}
		}
		return out, nil
	case "pageInfo":
		pi := pageInfo{hasNext: c.hasNext, hasPrev: c.hasPrev}
		if len(c.cursors) > 0 {
			pi.start, pi.end = c.cursors[0], c.cursors[len(c.cursors)-1]
		}
		return pi, nil
	}
	return nil, nil
}

type edge struct {
	name   string
	node   resolver
	cursor string
}

func (e edge) typeName() string { return e.name }

func (e edge) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "node":
		return e.node, nil
	case "cursor":
		return e.cursor, nil
	}
	return nil, nil
}

type pageInfo struct {
	hasNext, hasPrev bool
	start, end       string
}

func (p pageInfo) typeName() string { return "PageInfo" }

func (p pageInfo) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "hasNextPage":
		return p.hasNext, nil
	case "hasPreviousPage":
		return p.hasPrev, nil
	case "startCursor":
		return nilString(p.start), nil
	case "endCursor":
		return nilString(p.end), nil
	}
	return nil, nil
}

func nilString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("last_id:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(string(raw), "last_id:"), 10, 64)
	return n, err == nil
}

// page is one item of a connection: its id (the cursor) and its object.
type page struct {
	id  int64
	obj resolver
}

// paginate applies first/after/last/before/reverse to items in their
// natural order (by id, or by position for variants).
func paginate(node string, items []page, args map[string]any) (*conn, error) {
	if b, _ := args["reverse"].(bool); b {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	first, hasFirst := intArg(args, "first")
	last, hasLast := intArg(args, "last")
	if !hasFirst && !hasLast {
		return nil, errorf("BAD_REQUEST", "you must provide one of first or last")
	}
	if (hasFirst && (first < 0 || first > maxPage)) || (hasLast && (last < 0 || last > maxPage)) {
		return nil, errorf("BAD_REQUEST", "first and last must be between 0 and %d", maxPage)
	}
	c := &conn{node: node}
	if s, ok := args["after"].(string); ok && s != "" {
		id, ok := decodeCursor(s)
		if !ok {
			return nil, errorf("BAD_REQUEST", "Invalid cursor for current pagination sort.")
		}
		for i, it := range items {
			if it.id == id {
				items = items[i+1:]
				c.hasPrev = true
				break
			}
		}
	}
	if s, ok := args["before"].(string); ok && s != "" {
		id, ok := decodeCursor(s)
		if !ok {
			return nil, errorf("BAD_REQUEST", "Invalid cursor for current pagination sort.")
		}
		for i, it := range items {
			if it.id == id {
				items = items[:i]
				c.hasNext = true
				break
			}
		}
	}
	if hasFirst && len(items) > first {
		items = items[:first]
		c.hasNext = true
	}
	if hasLast && len(items) > last {
		items = items[len(items)-last:]
		c.hasPrev = true
	}
	c.nodes = make([]resolver, len(items))
	c.cursors = make([]string, len(items))
	for i, it := range items {
		c.nodes[i] = it.obj
		c.cursors[i] = encodeCursor(it.id)
	}
	return c, nil
}

// --- argument helpers -----------------------------------------------------------

// intArg reads an Int argument or input field (literal int64, JSON float64).
func intArg(m map[string]any, k string) (int, bool) {
	n, ok := int64Arg(m, k)
	return int(n), ok
}

func int64Arg(m map[string]any, k string) (int64, bool) {
	v, ok := m[k]
	if !ok || v == nil {
		return 0, false
	}
	return toInt64(v)
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func strArg(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// strPtr reads a String that may be absent (nil) or set (even to "").
func strPtr(m map[string]any, k string) *string {
	s, ok := m[k].(string)
	if !ok {
		return nil
	}
	return &s
}

func boolArg(m map[string]any, k string) (bool, bool) {
	b, ok := m[k].(bool)
	return b, ok
}

func objArg(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

func listArg(m map[string]any, k string) ([]any, bool) {
	v, ok := m[k]
	if !ok || v == nil {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		// A single value where a list is expected is a list of one.
		return []any{v}, true
	}
	return l, true
}

func stringList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
