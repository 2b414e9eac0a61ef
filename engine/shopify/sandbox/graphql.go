package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// The GraphQL endpoint: POST /sandbox/shopify/{shop}/admin/api/{version}/graphql.json.
//
// Order of checks: the shop (404), the access token (401), the body (400),
// parsing and validation (200 with errors), the requested cost (200 with
// MAX_COST_EXCEEDED above 1,000), injected faults, the cost bucket (200
// with THROTTLED), then execution, the commit, and the answer with its
// cost report.

// supportedVersions are the API versions served; any other is served as
// the oldest.
var supportedVersions = []string{"2025-10", "2026-01", "2026-04", "2026-07", "2026-10"}

func isSupportedVersion(v string) bool { return slices.Contains(supportedVersions, v) }

func resolveVersion(v string) string {
	if isSupportedVersion(v) {
		return v
	}
	return supportedVersions[0]
}

// maxBody bounds a GraphQL request's body (and, through the handler's
// MaxBytesReader, any body the sandbox reads).
const maxBody = 4 << 20

type gqlRequest struct {
	Query         string          `json:"query"`
	Variables     json.RawMessage `json:"variables"`
	OperationName string          `json:"operationName"`
}

type gqlResponse struct {
	Data       any       `json:"data,omitempty"`
	Errors     []*gqlErr `json:"errors,omitempty"`
	Extensions *respExt  `json:"extensions,omitempty"`
}

type respExt struct {
	Cost *costReport `json:"cost,omitempty"`
}

// docCache keeps parsed and validated documents by their text.
type docCache struct {
	mu  sync.RWMutex
	m   map[string]*ast.QueryDocument
	max int
}

func newDocCache(max int) *docCache { return &docCache{m: map[string]*ast.QueryDocument{}, max: max} }

func (c *docCache) get(q string) *ast.QueryDocument {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[q]
}

func (c *docCache) put(q string, d *ast.QueryDocument) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[q] = d
}

// parse parses and validates a document against the schema.
func (s *Sandbox) parse(q string) (*ast.QueryDocument, []*gqlErr) {
	if d := s.cache.get(q); d != nil {
		return d, nil
	}
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: q})
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return nil, []*gqlErr{fromGQLError(ge, "GRAPHQL_PARSE_FAILED")}
		}
		return nil, []*gqlErr{errorf("GRAPHQL_PARSE_FAILED", "%v", err)}
	}
	if errs := validator.ValidateWithRules(s.schema, doc, nil); len(errs) > 0 {
		out := make([]*gqlErr, len(errs))
		for i, e := range errs {
			out[i] = fromGQLError(e, "GRAPHQL_VALIDATION_FAILED")
		}
		return nil, out
	}
	s.cache.put(q, doc)
	return doc, nil
}

func fromGQLError(e *gqlerror.Error, code string) *gqlErr {
	out := &gqlErr{Message: e.Message, Extensions: map[string]any{"code": code}}
	if e.Rule != "" {
		out.Extensions["rule"] = e.Rule
	}
	for _, l := range e.Locations {
		out.Locations = append(out.Locations, gqlLocation{Line: l.Line, Column: l.Column})
	}
	return out
}

// rootFields lists an operation's root field names, in order.
func rootFields(doc *ast.QueryDocument, op *ast.OperationDefinition) []string {
	var out []string
	for _, f := range flatFields(doc, op.SelectionSet) {
		if f.Name != "__typename" && !slices.Contains(out, f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

// firstIdempotencyKey finds the first @idempotent key of a document's root
// fields (for the call log, before anything runs).
func firstIdempotencyKey(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any) string {
	for _, f := range flatFields(doc, op.SelectionSet) {
		if k, ok := idempotencyKeyOf(f, vars); ok && k != "" {
			return k
		}
	}
	return ""
}

// writeJSON answers a JSON body.
func writeJSON(w http.ResponseWriter, status int, body any) {
	writeRaw(w, status, encodeJSON(body))
}

func encodeJSON(body any) []byte {
	if r, ok := body.(*gqlResponse); ok {
		return r.encode()
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return []byte(`{"errors":[{"message":"internal error"}]}`)
	}
	return raw
}

func writeRaw(w http.ResponseWriter, status int, raw []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}

func (s *Sandbox) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	version := resolveVersion(r.PathValue("version"))
	reqID := newRequestID()
	w.Header().Set("X-Shopify-API-Version", version)
	w.Header().Set("X-Request-Id", reqID)

	sh, err := s.shop(r.PathValue("shop"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"errors": "Not Found"})
		return
	}
	call := Call{Time: s.now().UTC(), RequestID: reqID, APIVersion: version}
	// reply logs the call, then answers: a client never sees its answer
	// before the call log does.
	reply := func(status int, body any) {
		raw := encodeJSON(body)
		call.Status, call.Response = status, raw
		sh.calls.add(call)
		writeRaw(w, status, raw)
	}

	token := r.Header.Get("X-Shopify-Access-Token")
	sh.mu.Lock()
	authorized := sh.st.tokenValid(token, s.now())
	sh.mu.Unlock()
	if !authorized {
		reply(http.StatusUnauthorized, map[string]string{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, map[string]string{"errors": "Method Not Allowed"})
		return
	}

	var req gqlRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var tooLarge *http.MaxBytesError
	if len(body) > maxBody || errors.As(err, &tooLarge) {
		reply(http.StatusRequestEntityTooLarge, map[string]string{"errors": "Request body too large"})
		return
	}
	if err != nil || json.Unmarshal(body, &req) != nil || req.Query == "" {
		reply(http.StatusBadRequest, map[string]any{"errors": map[string]string{"query": "Required parameter missing or invalid"}})
		return
	}
	call.Query, call.OperationName = req.Query, req.OperationName
	if len(req.Variables) > 0 && string(req.Variables) != "null" {
		call.Variables = req.Variables
	}

	answer := func(status int, resp *gqlResponse) { reply(status, resp) }
	costOnly := func(requested int, actual *int) *respExt {
		return &respExt{Cost: &costReport{RequestedQueryCost: requested, ActualQueryCost: actual, ThrottleStatus: sh.bucket.peek(s.now())}}
	}
	zero := 0

	doc, errs := s.parse(req.Query)
	if errs != nil {
		answer(http.StatusOK, &gqlResponse{Errors: errs, Extensions: costOnly(0, &zero)})
		return
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	}
	if op == nil {
		msg := "An operation name is required when the document has several operations"
		if req.OperationName != "" {
			msg = fmt.Sprintf("No operation named %q", req.OperationName)
		}
		answer(http.StatusOK, &gqlResponse{Errors: []*gqlErr{errorf("BAD_REQUEST", "%s", msg)}, Extensions: costOnly(0, &zero)})
		return
	}
	if op.Operation == ast.Subscription {
		answer(http.StatusOK, &gqlResponse{Errors: []*gqlErr{errorf("BAD_REQUEST", "Subscriptions are not supported")}, Extensions: costOnly(0, &zero)})
		return
	}
	var rawVars map[string]any
	if call.Variables != nil {
		if err := json.Unmarshal(call.Variables, &rawVars); err != nil {
			answer(http.StatusOK, &gqlResponse{Errors: []*gqlErr{errorf("INVALID_VARIABLE", "variables must be a JSON object")}, Extensions: costOnly(0, &zero)})
			return
		}
	}
	vars, verr := validator.VariableValues(s.schema, op, rawVars)
	if verr != nil {
		e := errorf("INVALID_VARIABLE", "%s", verr.Error())
		var ge *gqlerror.Error
		if errors.As(verr, &ge) {
			e = &gqlErr{Message: ge.Message, Extensions: map[string]any{"code": "INVALID_VARIABLE"}}
			if len(ge.Path) > 0 {
				e.Extensions["path"] = ge.Path.String()
			}
		}
		answer(http.StatusOK, &gqlResponse{Errors: []*gqlErr{e}, Extensions: costOnly(0, &zero)})
		return
	}

	call.Type = string(op.Operation)
	call.Fields = rootFields(doc, op)
	if len(call.Fields) > 0 {
		call.Operation = call.Fields[0]
	}
	call.IdempotencyKey = firstIdempotencyKey(doc, op, vars)
	requested := (&coster{schema: s.schema, doc: doc, vars: vars}).operation(op)
	call.RequestedCost = requested
	if requested > maxQueryCost {
		e := errorf("MAX_COST_EXCEEDED",
			"Query cost is %d, which exceeds the single query max cost limit (%d).", requested, maxQueryCost)
		e.Extensions["cost"] = requested
		e.Extensions["maxCost"] = maxQueryCost
		answer(http.StatusOK, &gqlResponse{Errors: []*gqlErr{e}, Extensions: costOnly(requested, nil)})
		return
	}

	sh.mu.Lock()
	fault, faulted := sh.takeFault(call.Fields)
	sh.mu.Unlock()
	if faulted {
		call.Fault = fault.Fault
		switch fault.Fault {
		case FaultThrottled:
			st := sh.bucket.peek(s.now())
			st.CurrentlyAvailable = 0
			answer(http.StatusOK, throttledResponse(requested, st))
			return
		case FaultHTTP429:
			w.Header().Set("Retry-After", "1")
			answer(http.StatusTooManyRequests, &gqlResponse{Errors: []*gqlErr{errorf("TOO_MANY_REQUESTS", "Too many requests: retry later.")}})
			return
		case FaultHTTP500:
			answer(http.StatusInternalServerError, &gqlResponse{Errors: []*gqlErr{{
				Message:    "Internal error. Looks like something went wrong on our end.\nRequest ID: " + reqID,
				Extensions: map[string]any{"code": "INTERNAL_SERVER_ERROR", "requestId": reqID},
			}}})
			return
		case FaultHTTP503:
			answer(http.StatusServiceUnavailable, &gqlResponse{Errors: []*gqlErr{errorf("SERVICE_UNAVAILABLE", "Service temporarily unavailable.")}})
			return
		case FaultTimeout:
			t := time.NewTimer(s.opts.TimeoutHold)
			defer t.Stop()
			select {
			case <-r.Context().Done():
			case <-s.ctx.Done():
			case <-t.C:
			}
			answer(http.StatusGatewayTimeout, &gqlResponse{Errors: []*gqlErr{errorf("TIMEOUT", "Gateway Timeout")}})
			return
		}
	}

	sh.mu.Lock()
	now := s.now()
	ok, status := sh.bucket.take(now, requested)
	if !ok {
		sh.mu.Unlock()
		answer(http.StatusOK, throttledResponse(requested, status))
		return
	}
	x := &execCtx{sb: s, sh: sh, st: sh.st, schema: s.schema, doc: doc, vars: vars, version: version, now: now.UTC()}
	if faulted && fault.Fault == FaultSellBetween {
		x.sellBetween(op, fault.Units)
	}
	data := x.run(op)
	if err := s.commit(sh); err != nil {
		sh.mu.Unlock()
		answer(http.StatusInternalServerError, &gqlResponse{Errors: []*gqlErr{{
			Message:    "Internal error. Looks like something went wrong on our end.\nRequest ID: " + reqID,
			Extensions: map[string]any{"code": "INTERNAL_SERVER_ERROR", "requestId": reqID},
		}}})
		return
	}
	actual := min(x.actual, requested)
	status = sh.bucket.refund(now, requested-actual)
	resp := &gqlResponse{Data: data, Errors: x.errs, Extensions: &respExt{Cost: &costReport{
		RequestedQueryCost: requested, ActualQueryCost: &actual, ThrottleStatus: status,
	}}}
	call.ActualCost = &actual
	call.Replayed = x.replayed
	sh.mu.Unlock()
	// The rendered tree holds copies, not the shop's records: it is encoded
	// outside the lock.
	raw := resp.encode()
	s.enqueue(sh, x.deliver)

	if faulted && fault.Fault == FaultApplyThenDrop {
		// The answer that was lost is what the call log keeps.
		call.Response = raw
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			call.Status = 0
			sh.calls.add(call)
			conn.Close()
			return
		}
		call.Status = http.StatusBadGateway
		sh.calls.add(call)
		writeJSON(w, http.StatusBadGateway, &gqlResponse{Errors: []*gqlErr{errorf("BAD_GATEWAY", "Bad Gateway")}})
		return
	}
	call.Status, call.Response = http.StatusOK, raw
	sh.calls.add(call)
	writeRaw(w, http.StatusOK, raw)
}

// encode writes an answer: data through the executor's own encoder, the
// small rest through encoding/json.
func (r *gqlResponse) encode() []byte {
	b := make([]byte, 0, 1024)
	b = append(b, '{')
	sep := false
	if r.Data != nil {
		b = append(b, `"data":`...)
		b = appendJSON(b, r.Data)
		sep = true
	}
	if len(r.Errors) > 0 {
		if sep {
			b = append(b, ',')
		}
		raw, _ := json.Marshal(r.Errors)
		b = append(append(b, `"errors":`...), raw...)
		sep = true
	}
	if r.Extensions != nil {
		if sep {
			b = append(b, ',')
		}
		raw, _ := json.Marshal(r.Extensions)
		b = append(append(b, `"extensions":`...), raw...)
	}
	return append(b, '}')
}

func throttledResponse(requested int, st throttleStatus) *gqlResponse {
	return &gqlResponse{
		Errors: []*gqlErr{{
			Message: "Throttled",
			Extensions: map[string]any{
				"code":          "THROTTLED",
				"documentation": "https://shopify.dev/api/usage/rate-limits",
			},
		}},
		Extensions: &respExt{Cost: &costReport{RequestedQueryCost: requested, ThrottleStatus: st}},
	}
}

// run executes an operation; a panic becomes an internal error.
func (x *execCtx) run(op *ast.OperationDefinition) (data *omap) {
	defer func() {
		if p := recover(); p != nil {
			x.sb.log.Error("sandbox execution panicked", "panic", p, "stack", string(debug.Stack()))
			x.errs = append(x.errs, errorf("INTERNAL_SERVER_ERROR", "internal error"))
			if data == nil {
				data = &omap{}
			}
		}
	}()
	if op.Operation == ast.Mutation {
		return x.object(mutationRoot{}, op.SelectionSet, nil, true)
	}
	return x.object(queryRoot{}, op.SelectionSet, nil, false)
}

// sellBetween is the sell_between fault: a buyer buys units of the first
// quantity's item, at its location, before inventorySetQuantities applies.
func (x *execCtx) sellBetween(op *ast.OperationDefinition, units int) {
	for _, f := range flatFields(x.doc, op.SelectionSet) {
		if f.Name != "inventorySetQuantities" {
			continue
		}
		qs, _ := listArg(objArg(f.ArgumentMap(x.vars), "input"), "quantities")
		if len(qs) == 0 {
			return
		}
		q, _ := qs[0].(map[string]any)
		it := x.st.Items[idOf(q["inventoryItemId"], "InventoryItem")]
		if it == nil {
			return
		}
		v := x.st.Variants[it.VariantID]
		if v == nil {
			return
		}
		if _, err := x.placeOrder(v, int64(units), idOf(q["locationId"], "Location"), true, "", nil); err != nil {
			x.sb.log.Info("sandbox sell_between sold nothing", "err", err)
		}
		return
	}
}
