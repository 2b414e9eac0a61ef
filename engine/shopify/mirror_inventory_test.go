package shopify_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// The shop's inventory following ours: sales racing an inventory write,
// shared capacities, and quantities written without a read.

// A sale racing the inventory write is reconciled: the write is refused as
// stale, re-read, and what the sale took is not written over.
func TestSaleRacingInventoryIsReconciled(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Race", ptr(20), regType{"A", 1000, nil}))
	b.completed(op.ID)
	b.faults(fault{Operation: "inventorySetQuantities", Fault: "sell_between", Times: 1, Units: 2})
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(30)}})
	done := b.completed(op.ID)
	if inv := phase(done, "inventory"); inv.Status != engine.StatusCompleted {
		t.Fatalf("inventory = %+v", inv)
	}
	p := b.productByHandle(b.handleOf(ev.ID))
	// 30 left to sell in our store, 2 sold in the shop whose order has not
	// reached us: 28, never 30.
	if got := p.Variants.Nodes[0].available()[b.setupOf().LocationID]; got != 28 {
		t.Errorf("available = %d, want 28", got)
	}
}

// A race that never stops fails the operation with INVENTORY_RECONCILE_RAISED
// on inventory; metafields and delivery still complete, publish never starts.
func TestEndlessRaceRaisesReconcile(t *testing.T) {
	t.Parallel()
	b := setup(t, options{staleRounds: 2})
	ev, op := b.create(b.input("Endless", ptr(100), regType{"A", 1000, nil}))
	b.completed(op.ID)
	b.faults(fault{Operation: "inventorySetQuantities", Fault: "sell_between", Times: 1000, Units: 1})
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(200)}})
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeInventoryReconcileRaised ||
		done.Error.Phase == nil || *done.Error.Phase != "inventory" {
		t.Fatalf("operation = %s", opJSON(done))
	}
	inv := phase(done, "inventory")
	if inv.Attempts != fastRetry.Attempts || inv.LastError == nil || inv.LastError.Code != engine.CodeInventoryStale {
		t.Errorf("inventory: attempts %d, last_error %+v", inv.Attempts, inv.LastError)
	}
	for _, name := range []string{"metafields", "delivery"} {
		if p := phase(done, name); p.Status != engine.StatusCompleted {
			t.Errorf("%s = %s", name, p.Status)
		}
	}
	if p := phase(done, "publish"); p.Status != engine.StatusPending || p.StartedAt != nil {
		t.Errorf("publish = %s", p.Status)
	}
}

// A box-office sale of one registration type lowers what is left to sell of
// the others (a shared capacity): the engine's inventory-only save makes the
// shop follow, with the allocation of the 7 seats left (A unlimited, B 8):
// one each, then the 5 others split evenly, the odd one to the earlier type.
func TestSaleUpdatesSharedCapacity(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Shared", ptr(10), regType{"A", 1000, nil}, regType{"B", 2000, ptr(8)}))
	b.completed(op.ID)
	_, iop, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 3})
	if err != nil || iop == nil {
		t.Fatalf("order: %v, %v", err, iop)
	}
	done := b.completed(iop.ID)
	if len(done.Phases) != 1 || done.Phases[0].Name != "inventory" {
		t.Fatalf("after a sale: %s", opJSON(done))
	}
	vs := byTitle(b.productByHandle(b.handleOf(ev.ID)))
	loc := b.setupOf().LocationID
	if a, bb := vs["A"].available()[loc], vs["B"].available()[loc]; a != 4 || bb != 3 {
		t.Errorf("available A %d, B %d; want 4 and 3 (7 seats left in all)", a, bb)
	}
}

// A new event's inventory takes one call: the variants its catalog just
// created hold 0 at our location, so the quantities are written with
// compare-and-set from 0 without being read first. When the shop holds
// something else by then (a merchant's edit raced), that write is refused
// as stale and the phase reads and writes as usual.
func TestNewVariantsAreWrittenWithoutARead(t *testing.T) {
	t.Parallel()
	byOperation := func(cs []sandbox.Call, name string) int {
		n := 0
		for _, c := range cs {
			if strings.Contains(c.Query, " "+name+"(") {
				n++
			}
		}
		return n
	}
	t.Run("as created", func(t *testing.T) {
		t.Parallel()
		b := setup(t, options{})
		ev, op := b.create(b.input("Fresh", ptr(50), regType{"A", 1000, nil}, regType{"B", 2000, ptr(10)}))
		b.completed(op.ID)
		cs := b.calls()
		if n, m := byOperation(cs, "InventoryLevels"), byOperation(cs, "InventorySet"); n != 0 || m != 1 {
			t.Errorf("inventory made %d reads and %d writes, want 0 and 1", n, m)
		}
		vs := byTitle(b.productByHandle(b.handleOf(ev.ID)))
		loc := b.setupOf().LocationID
		// Capacity 50 shared by A (no quantity) and B (10): 42 and 8,
		// never 50 and 10.
		if vs["A"].available()[loc] != 42 || vs["B"].available()[loc] != 8 {
			t.Errorf("available: A %v, B %v; want 42 and 8", vs["A"].available(), vs["B"].available())
		}
	})
	t.Run("edited meanwhile", func(t *testing.T) {
		t.Parallel()
		edit := &beforeFirst{match: "mutation InventorySet("}
		b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { edit.next = next; return edit }})
		edit.hook = func(body string) {
			// The merchant stocks 7 of the new variant by hand.
			item := regexp.MustCompile(`gid://shopify/InventoryItem/\d+`).FindString(body)
			var out struct {
				InventorySetQuantities struct {
					UserErrors []map[string]any `json:"userErrors"`
				} `json:"inventorySetQuantities"`
			}
			b.gql(`mutation Edit($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) @idempotent(key: "merchant-edit") { userErrors { message } } }`,
				map[string]any{"input": map[string]any{"name": "available", "reason": "correction", "quantities": []map[string]any{
					{"inventoryItemId": item, "locationId": b.setupOf().LocationID, "quantity": 7, "changeFromQuantity": nil}}}}, &out)
			mustf(t, len(out.InventorySetQuantities.UserErrors) == 0, "merchant edit refused: %v", out.InventorySetQuantities.UserErrors)
		}
		ev, op := b.create(b.input("Edited", nil, regType{"A", 1000, ptr(40)}))
		b.completed(op.ID)
		cs := b.calls()
		if n, m := byOperation(cs, "InventoryLevels"), byOperation(cs, "InventorySet"); n != 1 || m != 2 {
			t.Errorf("inventory made %d reads and %d writes, want 1 and 2 (the guess refused, then read and written)", n, m)
		}
		p := b.productByHandle(b.handleOf(ev.ID))
		if got := p.Variants.Nodes[0].available()[b.setupOf().LocationID]; got != 40 {
			t.Errorf("available = %d, want 40", got)
		}
	})
}

// beforeFirst runs hook once, before the first call whose body contains
// match reaches the shop.
type beforeFirst struct {
	next  http.RoundTripper
	match string
	hook  func(body string)
	once  sync.Once
}

func (h *beforeFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		raw, _ := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(raw))
		if strings.Contains(string(raw), h.match) {
			h.once.Do(func() { h.hook(string(raw)) })
		}
	}
	return h.next.RoundTrip(req)
}
