package shopify_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// delayer holds the first matching call, before it is sent, until released.
type delayer struct {
	next    http.RoundTripper
	armed   atomic.Bool
	match   func(body string) bool
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (d *delayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !d.armed.Load() {
		return d.next.RoundTrip(req)
	}
	raw, _ := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(raw))
	if !d.match(string(raw)) {
		return d.next.RoundTrip(req)
	}
	first := false
	d.once.Do(func() { first = true; close(d.held) })
	if first {
		<-d.release
	}
	return d.next.RoundTrip(req)
}

// A box-office sale that lands while a rebalance of the same occurrence is
// between its read of our side and its read of the shop's levels: the
// shop's levels then show the seats the box office took, our side as first
// read does not. Once everything has settled, what eventops says the shop
// offers (ShopOffered, the API's shop_available) is what the shop holds,
// and that is the allocation.
func TestBoxOfficeSaleRacingARebalanceLeavesTheOffersTrue(t *testing.T) {
	t.Parallel()
	d := &delayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "query InventoryLevels") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { d.next = next; return d }})
	ev, op := b.create(b.input("Race", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	d.armed.Store(true)
	rop, err := b.eng.Rebalance(context.Background(), b.company.ID, ev.ID)
	if err != nil || rop == nil {
		t.Fatalf("Rebalance: %v, %v", rop, err)
	}
	select {
	case <-d.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebalance never read the levels")
	}
	_, iop, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	close(d.release)
	b.completed(rop.ID)
	if iop != nil {
		b.completed(iop.ID)
	}
	// Whatever else was started meanwhile ends too.
	ops, _, err := b.eng.Operations(engine.OperationQuery{CompanyID: b.company.ID, EventID: ev.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		b.wait(o.ID)
	}
	s := b.structure(ev.ID)
	alloc := engine.StructureAllocation(s, nil)
	loc := b.setupOf().LocationID
	vs := byTitle(b.productByHandle(b.handleOf(ev.ID)))
	for _, p := range s.Products {
		for _, v := range p.Variants {
			level := vs[v.Title].available()[loc]
			offered := s.ShopOffered(v)
			if offered == nil || *offered != level || alloc[v.RegistrationTypeID] == nil || *alloc[v.RegistrationTypeID] != level {
				t.Errorf("%s: the shop holds %d, eventops says it offers %s, the allocation is %s",
					v.Title, level, fmtInt(offered), fmtInt(alloc[v.RegistrationTypeID]))
			}
		}
	}
}

func fmtInt(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// answerDelayer sends the first matching call and holds its answer until
// released.
type answerDelayer struct {
	next    http.RoundTripper
	armed   atomic.Bool
	match   func(body string) bool
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (d *answerDelayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !d.armed.Load() {
		return d.next.RoundTrip(req)
	}
	raw, _ := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(raw))
	if !d.match(string(raw)) {
		return d.next.RoundTrip(req)
	}
	resp, err := d.next.RoundTrip(req)
	first := false
	d.once.Do(func() { first = true; close(d.held) })
	if first {
		<-d.release
	}
	return resp, err
}

// A rebalance that reads the shop's levels between a box-office sale's
// taking its seats in the shop and the sale's commit: the levels show
// seats gone that no recorded sale explains yet. Once everything has
// settled, what eventops says the shop offers is what the shop holds, and
// that is the allocation.
func TestRebalanceBetweenABoxOfficeTakeAndItsCommitLeavesTheOffersTrue(t *testing.T) {
	t.Parallel()
	take := &answerDelayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool {
			return strings.Contains(body, "mutation InventorySet") && strings.Contains(body, "gid://eventops/BoxOffice/")
		}}
	read := &delayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "query InventoryLevels") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper {
		read.next = next
		take.next = read
		return take
	}})
	ev, op := b.create(b.input("Race", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	read.armed.Store(true)
	take.armed.Store(true)
	rop, err := b.eng.Rebalance(context.Background(), b.company.ID, ev.ID)
	if err != nil || rop == nil {
		t.Fatalf("Rebalance: %v, %v", rop, err)
	}
	select {
	case <-read.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebalance never read the levels")
	}
	type result struct {
		op  *engine.Operation
		err error
	}
	sold := make(chan result, 1)
	go func() {
		_, iop, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
			engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2})
		sold <- result{iop, err}
	}()
	select {
	case <-take.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the box office never took its seats")
	}
	close(read.release) // the rebalance reads the levels the box office left
	b.completed(rop.ID)
	close(take.release)
	res := <-sold
	if res.err != nil {
		t.Fatal(res.err)
	}
	ops, _, err := b.eng.Operations(engine.OperationQuery{CompanyID: b.company.ID, EventID: ev.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		b.wait(o.ID)
	}
	s := b.structure(ev.ID)
	alloc := engine.StructureAllocation(s, nil)
	loc := b.setupOf().LocationID
	vs := byTitle(b.productByHandle(b.handleOf(ev.ID)))
	for _, p := range s.Products {
		for _, v := range p.Variants {
			level := vs[v.Title].available()[loc]
			offered := s.ShopOffered(v)
			if offered == nil || *offered != level || alloc[v.RegistrationTypeID] == nil || *alloc[v.RegistrationTypeID] != level {
				t.Errorf("%s: the shop holds %d, eventops says it offers %s, the allocation is %s",
					v.Title, level, fmtInt(offered), fmtInt(alloc[v.RegistrationTypeID]))
			}
		}
	}
}

// The same race, sampled while the sale is still between its take and its
// commit: the rebalance that read the shop meanwhile must not raise it
// above what is left once the sale commits. (It took the sale's lowering
// for a write of its own and computed the allocation from recorded sales
// alone: the shop offered 10 of 8 seats until the next rebalance, and a
// buyer could oversell.)
func TestRebalanceBetweenABoxOfficeTakeAndItsCommitNeverRaisesAboveWhatExists(t *testing.T) {
	t.Parallel()
	take := &answerDelayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool {
			return strings.Contains(body, "mutation InventorySet") && strings.Contains(body, "gid://eventops/BoxOffice/")
		}}
	read := &delayer{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "query InventoryLevels") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper {
		read.next = next
		take.next = read
		return take
	}})
	ev, op := b.create(b.input("Race", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	read.armed.Store(true)
	take.armed.Store(true)
	rop, err := b.eng.Rebalance(context.Background(), b.company.ID, ev.ID)
	if err != nil || rop == nil {
		t.Fatalf("Rebalance: %v, %v", rop, err)
	}
	select {
	case <-read.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebalance never read the levels")
	}
	sold := make(chan error, 1)
	go func() {
		_, _, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
			engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2})
		sold <- err
	}()
	select {
	case <-take.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the box office never took its seats")
	}
	close(read.release)
	b.completed(rop.ID)
	// The sale has taken its 2 seats in the shop and not committed yet:
	// 8 seats are left once it does, and the shop must offer no more.
	loc := b.setupOf().LocationID
	vs := byTitle(b.productByHandle(b.handleOf(ev.ID)))
	a, bl := vs["A"].available()[loc], vs["B"].available()[loc]
	close(take.release)
	if err := <-sold; err != nil {
		t.Fatal(err)
	}
	if a+bl > 8 || a > 8 || bl > 10 {
		t.Errorf("while the box-office sale of 2 of 10 seats was committing, the shop offered A %d and B %d (%d for 8 seats left)", a, bl, a+bl)
	}
}
