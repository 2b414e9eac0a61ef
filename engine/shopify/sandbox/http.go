package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Prefix is where the sandbox's routes live. Handler serves full paths
// (mount it as is: mux.Handle(sandbox.Prefix, sb.Handler())); a request
// whose path was already stripped of the prefix is served too.
const Prefix = "/sandbox/shopify/"

// controlKey marks a request context as allowed to use control routes.
type controlKey struct{}

// ControlAccess marks a context as authorised for the control routes: a
// host application that checked an admin session in its own middleware
// passes the request on with r.WithContext(sandbox.ControlAccess(ctx)).
func ControlAccess(ctx context.Context) context.Context {
	return context.WithValue(ctx, controlKey{}, true)
}

// Handler serves the GraphQL endpoint, the state routes and (with
// Options.Control) the control routes.
func (s *Sandbox) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{shop}/admin/api/{version}/graphql.json", s.serveGraphQL)
	mux.HandleFunc("GET /state", s.serveStates)
	mux.HandleFunc("GET /{shop}/state", s.serveState)
	mux.HandleFunc("POST /{shop}/admin/oauth/access_token", s.serveAccessToken)
	mux.HandleFunc("GET /{shop}/admin/oauth/authorize", s.serveAuthorize)
	if s.opts.Control {
		mux.HandleFunc("POST /shops", s.control(s.serveProvision))
		mux.HandleFunc("GET /{shop}/calls", s.control(s.serveCalls))
		mux.HandleFunc("GET /{shop}/faults", s.control(s.serveFaults))
		mux.HandleFunc("POST /{shop}/faults", s.control(s.serveAddFaults))
		mux.HandleFunc("DELETE /{shop}/faults", s.control(s.serveClearFaults))
		mux.HandleFunc("POST /{shop}/orders", s.control(s.servePlaceOrder))
		mux.HandleFunc("POST /{shop}/orders/{id}/refund", s.control(s.serveRefundOrder))
		mux.HandleFunc("POST /{shop}/orders/{id}/cancel", s.control(s.serveCancelOrder))
		mux.HandleFunc("DELETE /{shop}/products/{id}", s.control(s.serveDeleteProduct))
		mux.HandleFunc("POST /{shop}/products/{id}/handle", s.control(s.serveSetHandle))
		mux.HandleFunc("POST /{shop}/revoke", s.control(s.serveRevoke))
		mux.HandleFunc("GET /{shop}/credentials", s.control(s.serveCredentials))
		mux.HandleFunc("POST /{shop}/expire_tokens", s.control(s.serveExpireTokens))
		mux.HandleFunc("POST /{shop}/app", s.control(s.serveAppRules))
		mux.HandleFunc("GET /{shop}/deliveries", s.control(s.serveDeliveries))
		mux.HandleFunc("POST /{shop}/deliveries/{id}/redeliver", s.control(s.serveRedeliver))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The sandbox decodes no content coding: a compressed body is
		// refused rather than misread (a host that decodes bodies, as
		// eventops serve does, removes the header first). Bodies are
		// capped on what is read, which is what they decode to.
		if ce := strings.TrimSpace(r.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{
				"errors": "Content-Encoding " + strconv.Quote(ce) + " is not supported: send the body uncompressed"})
			return
		}
		trim := strings.TrimSuffix(Prefix, "/")
		path, ok := strings.CutPrefix(r.URL.Path, trim)
		if !ok || (path != "" && path[0] != '/') {
			path = r.URL.Path
		}
		r2 := *r
		r2.Body = http.MaxBytesReader(w, r.Body, maxBody)
		u := *r.URL
		u.Path = path
		if u.RawPath != "" {
			if raw, ok := strings.CutPrefix(u.RawPath, trim); ok {
				u.RawPath = raw
			}
		}
		r2.URL = &u
		mux.ServeHTTP(w, &r2)
	})
}

// control guards a control route: loopback, ControlAccess or
// Options.AuthorizeControl.
func (s *Sandbox) control(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.controlAllowed(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{
				"error": "the sandbox's control routes answer only loopback clients or authorised admins"})
			return
		}
		h(w, r)
	}
}

func (s *Sandbox) controlAllowed(r *http.Request) bool {
	if ok, _ := r.Context().Value(controlKey{}).(bool); ok {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return s.opts.AuthorizeControl != nil && s.opts.AuthorizeControl(r)
}

// fail answers an error of the Go API with its status.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrShopNotFound), errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, ErrShopExists):
		status = http.StatusConflict
	case errors.Is(err, ErrClosed):
		status = http.StatusServiceUnavailable
	case errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// maxControlBody bounds the body of a control route.
const maxControlBody = 1 << 20

// errTooLarge is a body over its route's limit (413).
var errTooLarge = errors.New("sandbox: request body too large")

// readBody decodes an optional JSON body of at most maxControlBody bytes.
func readBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	var tooLarge *http.MaxBytesError
	if len(raw) > maxControlBody || errors.As(err, &tooLarge) {
		return fmt.Errorf("%w: at most %d bytes", errTooLarge, maxControlBody)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", ErrInvalid, err)
	}
	return nil
}

// flexID reads an id given as a number or a string (number or gid).
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexID(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("an id must be a number or a string")
	}
	*f = flexID(strconv.FormatInt(n, 10))
	return nil
}

func (s *Sandbox) serveStates(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.States())
}

func (s *Sandbox) serveState(w http.ResponseWriter, r *http.Request) {
	st, err := s.State(r.PathValue("shop"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Sandbox) serveCalls(w http.ResponseWriter, r *http.Request) {
	calls, err := s.Calls(r.PathValue("shop"), r.URL.Query().Get("operation"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": calls})
}

func (s *Sandbox) serveFaults(w http.ResponseWriter, r *http.Request) {
	rules, err := s.Faults(r.PathValue("shop"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": rules})
}

func (s *Sandbox) serveAddFaults(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Rules []FaultRule `json:"rules"`
	}
	if err := readBody(r, &body); err != nil {
		fail(w, err)
		return
	}
	if len(body.Rules) == 0 {
		fail(w, fmt.Errorf("%w: no rules given", ErrInvalid))
		return
	}
	if err := s.AddFaults(r.PathValue("shop"), body.Rules...); err != nil {
		fail(w, err)
		return
	}
	s.serveFaults(w, r)
}

func (s *Sandbox) serveClearFaults(w http.ResponseWriter, r *http.Request) {
	if err := s.ClearFaults(r.PathValue("shop")); err != nil {
		fail(w, err)
		return
	}
	s.serveFaults(w, r)
}

func (s *Sandbox) servePlaceOrder(w http.ResponseWriter, r *http.Request) {
	var body struct {
		VariantID            flexID `json:"variant_id"`
		Quantity             int    `json:"quantity"`
		PresentmentCurrency  string `json:"presentment_currency"`
		PresentmentUnitPrice string `json:"presentment_unit_price"`
	}
	if err := readBody(r, &body); err != nil {
		fail(w, err)
		return
	}
	if body.Quantity == 0 {
		body.Quantity = 1
	}
	o, err := s.PlaceOrderWith(r.PathValue("shop"), string(body.VariantID), body.Quantity,
		OrderOptions{PresentmentCurrency: body.PresentmentCurrency, PresentmentUnitPrice: body.PresentmentUnitPrice})
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"order": o})
}

func (s *Sandbox) serveRefundOrder(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Lines []struct {
			LineItemID  flexID `json:"line_item_id"`
			Quantity    int    `json:"quantity"`
			RestockType string `json:"restock_type"`
		} `json:"refund_line_items"`
		Note string `json:"note"`
	}
	if err := readBody(r, &body); err != nil {
		fail(w, err)
		return
	}
	lines := make([]RefundLine, len(body.Lines))
	for i, l := range body.Lines {
		lines[i] = RefundLine{LineItemID: string(l.LineItemID), Quantity: l.Quantity, RestockType: l.RestockType}
	}
	rf, err := s.RefundOrder(r.PathValue("shop"), r.PathValue("id"), lines, body.Note)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"refund": rf})
}

func (s *Sandbox) serveCancelOrder(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := readBody(r, &body); err != nil {
		fail(w, err)
		return
	}
	o, err := s.CancelOrder(r.PathValue("shop"), r.PathValue("id"), body.Reason)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"order": o})
}

func (s *Sandbox) serveDeleteProduct(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteProduct(r.PathValue("shop"), r.PathValue("id")); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) serveSetHandle(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Handle string `json:"handle"`
	}
	if err := readBody(r, &body); err != nil {
		fail(w, err)
		return
	}
	if err := s.SetHandle(r.PathValue("shop"), r.PathValue("id"), body.Handle); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.Revoke(r.PathValue("shop")); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": true})
}

func (s *Sandbox) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Deliveries(r.PathValue("shop"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

func (s *Sandbox) serveRedeliver(w http.ResponseWriter, r *http.Request) {
	if err := s.Redeliver(r.Context(), r.PathValue("shop"), r.PathValue("id")); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrShopNotFound) {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"delivered": true})
}
