package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// Tests of the limits a write is held to (README "Limits"): each refused
// write answers a typed validation error and changes nothing.

// fieldCodes lists err's field errors as "attribute:code".
func fieldCodes(err error) []string {
	var e *engine.Error
	if !errors.As(err, &e) {
		return nil
	}
	out := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f.Attribute + ":" + f.Code
	}
	return out
}

// expectInvalid fails unless err is a validation error naming attr with code.
func expectInvalid(t testing.TB, err error, attr, code string) {
	t.Helper()
	if errorKind(err) != engine.KindInvalid {
		t.Fatalf("err = %v (kind %v), want a validation error %s:%s", err, errorKind(err), attr, code)
	}
	if got := fieldCodes(err); !slices.Contains(got, attr+":"+code) {
		t.Fatalf("field errors %v, want %s:%s (%v)", got, attr, code, err)
	}
}

// snapshot is what a refused write must leave untouched: the company's
// events (stored JSON) and operations.
type snapshot struct {
	events string
	ops    int
}

func (b *bundle) snapshot(companyID uint64) snapshot {
	b.t.Helper()
	var s snapshot
	b.view(func(tx engine.Tx) error {
		evs, _, err := tx.Events(engine.EventQuery{CompanyID: companyID, Limit: 1000})
		if err != nil {
			return err
		}
		raw, err := json.Marshal(evs)
		if err != nil {
			return err
		}
		s.events = string(raw)
		ops, _, err := tx.Operations(engine.OperationQuery{CompanyID: companyID, Limit: 1000})
		s.ops = len(ops)
		return err
	})
	return s
}

func (b *bundle) expectUnchanged(companyID uint64, before snapshot) {
	b.t.Helper()
	if after := b.snapshot(companyID); after != before {
		b.t.Fatalf("a refused write changed the store:\nbefore %d operations %s\nafter  %d operations %s",
			before.ops, before.events, after.ops, after.events)
	}
}

// regTypes is n registration types of ticket type tt.
func regTypes(n int, tt uint64) *[]engine.RegistrationTypeInput {
	rts := make([]engine.RegistrationTypeInput, n)
	for i := range rts {
		rts[i] = engine.RegistrationTypeInput{Name: fmt.Sprintf("Type %d", i+1), TicketTypeID: tt,
			Price: engine.MoneyInput{Amount: ptr[int64](1000), Currency: "USD"}, Quantity: ptr(10)}
	}
	return &rts
}

// shopCompany adds a company connected to a sandbox shop, with a venue and
// a ticket type, and returns the three.
func (b *bundle) shopCompany() (*engine.Company, *engine.Venue, *engine.TicketType) {
	b.t.Helper()
	ctx := context.Background()
	c, err := b.eng.CreateCompany(ctx, "Shop Co", &engine.ShopInput{Sandbox: true, Domain: "shop-co"})
	if err != nil {
		b.t.Fatal(err)
	}
	v, err := b.eng.CreateVenue(ctx, c.ID, engine.VenueInput{Name: "Hall", TimeZone: "America/Chicago"})
	if err != nil {
		b.t.Fatal(err)
	}
	tt, err := b.eng.CreateTicketType(ctx, c.ID, engine.TicketTypeInput{Name: "GA"})
	if err != nil {
		b.t.Fatal(err)
	}
	return c, v, tt
}

// Item: one write may not fan out into more than MaxTicketRecords
// occurrence × registration type records, and a shop company's product may
// not hold more than 250 variants; both answer at write time.
func TestWriteAmplificationLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ctx := context.Background()
	first := time.Date(2027, 1, 4, 19, 0, 0, 0, chicago(t))

	t.Run("occurrences times types over the cap is refused and stores nothing", func(t *testing.T) {
		before := b.snapshot(b.company.ID)
		in := b.recurringInput("Daily", first, engine.Recurrence{Frequency: "daily", Count: 500})
		in.RegistrationTypes = regTypes(11, b.ticketType.ID) // 5,500 records
		_, _, err := b.eng.CreateEvent(ctx, b.company.ID, in)
		expectInvalid(t, err, "registration_types", "limit_exceeded")
		if !strings.Contains(err.Error(), "5000") {
			t.Errorf("the error does not name the limit: %v", err)
		}
		b.expectUnchanged(b.company.ID, before)
	})

	t.Run("a PATCH that raises the product over the cap is refused and changes nothing", func(t *testing.T) {
		in := b.recurringInput("Weekly", first, engine.Recurrence{Frequency: "weekly", Count: 100})
		in.RegistrationTypes = regTypes(50, b.ticketType.ID) // 5,000 records: the most allowed
		ev, op := b.createEvent(in)
		b.wait(op.ID)
		before := b.snapshot(b.company.ID)
		_, _, err := b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{RegistrationTypes: regTypes(51, b.ticketType.ID)})
		expectInvalid(t, err, "registration_types", "limit_exceeded")
		r := engine.Recurrence{Frequency: "weekly", Count: 101}
		_, _, err = b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
		expectInvalid(t, err, "registration_types", "limit_exceeded")
		b.expectUnchanged(b.company.ID, before)
	})

	t.Run("without a shop, more than 250 types is fine", func(t *testing.T) {
		in := b.dateInput("Many types", 7)
		in.RegistrationTypes = regTypes(251, b.ticketType.ID)
		_, op := b.createEvent(in)
		if done := b.wait(op.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("save = %s %+v, want completed", done.Status, done.Error)
		}
	})

	c, v, tt := b.shopCompany()
	shopInput := func(n int, split bool) engine.EventInput {
		start := time.Date(2027, 2, 1, 19, 0, 0, 0, chicago(t))
		return engine.EventInput{Name: ptr("Shop event"), Type: ptr(engine.EventDate), VenueID: ptr(v.ID),
			StartsAt: ptr(start), EndsAt: ptr(start.Add(time.Hour)), SplitProducts: ptr(split),
			RegistrationTypes: regTypes(n, tt.ID)}
	}

	t.Run("a shop company's product holds at most 250 variants", func(t *testing.T) {
		before := b.snapshot(c.ID)
		_, _, err := b.eng.CreateEvent(ctx, c.ID, shopInput(251, false))
		expectInvalid(t, err, "registration_types", "limit_exceeded")
		if !strings.Contains(err.Error(), "250") {
			t.Errorf("the error does not name the limit: %v", err)
		}
		b.expectUnchanged(c.ID, before)
		if _, _, err := b.eng.CreateEvent(ctx, c.ID, shopInput(250, false)); err != nil {
			t.Fatalf("250 types: %v", err)
		}
	})

	t.Run("split products lift the 250 cap, and switching them off is checked", func(t *testing.T) {
		ev, _, err := b.eng.CreateEvent(ctx, c.ID, shopInput(251, true))
		if err != nil {
			t.Fatalf("251 split types: %v", err)
		}
		before := b.snapshot(c.ID)
		_, _, err = b.eng.UpdateEvent(ctx, c.ID, ev.ID, engine.EventInput{SplitProducts: ptr(false)})
		expectInvalid(t, err, "registration_types", "limit_exceeded")
		b.expectUnchanged(c.ID, before)
	})
}

// Item: a change that would drop an occurrence with paid orders is refused
// at once, and stores nothing.
func TestRecurrenceChangeDroppingASoldOccurrenceIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ctx := context.Background()
	first := time.Date(2027, 1, 8, 19, 0, 0, 0, chicago(t))
	ev, op := b.createEvent(b.recurringInput("Friday Jazz", first, weekly(4)))
	b.wait(op.ID)
	children := b.children(ev.ID)
	b.sell(children[3])

	before := b.snapshot(b.company.ID)
	r := weekly(2)
	_, _, err := b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
	expectInvalid(t, err, "recurrence", "occurrence_sold")
	if !strings.Contains(err.Error(), fmt.Sprint(children[3].ID)) {
		t.Errorf("the error does not name occurrence %d: %v", children[3].ID, err)
	}
	// Moving the first occurrence to another date drops the sold one too.
	later := first.AddDate(0, 0, 1)
	_, _, err = b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{StartsAt: ptr(later), EndsAt: ptr(later.Add(3 * time.Hour))})
	expectInvalid(t, err, "recurrence", "occurrence_sold")
	b.expectUnchanged(b.company.ID, before)

	// A change that keeps it is fine, and so is every later save.
	r = weekly(5)
	_, op2, err := b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
	if err != nil {
		t.Fatalf("lengthening: %v", err)
	}
	if done := b.wait(op2.ID); done.Status != engine.StatusCompleted {
		t.Fatalf("save = %s %+v", done.Status, done.Error)
	}
	if done := b.wait(b.rename(ev.ID, "Late Jazz").ID); done.Status != engine.StatusCompleted {
		t.Fatalf("rename = %s %+v", done.Status, done.Error)
	}
}

// sell records a paid box-office order of one ticket of ev's first type.
func (b *bundle) sell(ev *engine.Event) {
	b.t.Helper()
	if _, _, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 1}); err != nil {
		b.t.Fatalf("order on %d: %v", ev.ID, err)
	}
}

// Item: a sale that lands between the API's check and the recurrence phase
// keeps its occurrence (kept_occurrence_ids); the rest of the change applies
// and no later save fails because of it.
func TestOccurrenceSoldDuringTheChangeIsKept(t *testing.T) {
	t.Parallel()
	g := newGate()
	var hold atomic.Bool
	b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseRecurrence: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		if hold.Load() {
			if err := g.hold(ctx, r); err != nil {
				return err
			}
		}
		return engine.RecurrenceWork{}.Run(ctx, r)
	})}})
	ctx := context.Background()
	first := time.Date(2027, 1, 8, 19, 0, 0, 0, chicago(t))
	ev, op := b.createEvent(b.recurringInput("Friday Jazz", first, weekly(4)))
	b.wait(op.ID)
	children := b.children(ev.ID)

	hold.Store(true)
	r := weekly(2)
	_, op2, err := b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
	if err != nil {
		t.Fatalf("shortening before any sale: %v", err)
	}
	g.await(t, 1)
	b.sell(children[3]) // sold after the check, before the phase
	hold.Store(false)
	g.open()
	if done := b.wait(op2.ID); done.Status != engine.StatusCompleted {
		t.Fatalf("save = %s %+v, want completed", done.Status, done.Error)
	}
	ids := func() []uint64 {
		var out []uint64
		for _, c := range b.children(ev.ID) {
			out = append(out, c.ID)
		}
		return out
	}
	want := []uint64{children[0].ID, children[1].ID, children[3].ID}
	if got := ids(); !slices.Equal(got, want) {
		t.Fatalf("occurrences %v, want %v (the third dropped, the sold fourth kept)", got, want)
	}
	parent, err := b.eng.Event(b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(parent.KeptOccurrenceIDs, []uint64{children[3].ID}) {
		t.Fatalf("kept_occurrence_ids = %v, want [%d]", parent.KeptOccurrenceIDs, children[3].ID)
	}
	if s := b.structure(children[3].ID); s == nil || s.Types[0].Sold != 1 {
		t.Fatalf("the kept occurrence's structure: %+v", s)
	}

	// Later saves succeed: a rename, and a rule that still leaves it out.
	if done := b.wait(b.rename(ev.ID, "Late Jazz").ID); done.Status != engine.StatusCompleted {
		t.Fatalf("rename = %s %+v", done.Status, done.Error)
	}
	r = weekly(3)
	_, op3, err := b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
	if err != nil {
		t.Fatalf("a rule that still leaves the kept occurrence out: %v", err)
	}
	if done := b.wait(op3.ID); done.Status != engine.StatusCompleted {
		t.Fatalf("save = %s %+v", done.Status, done.Error)
	}
	// A rule that yields its date again takes it back: nothing is kept.
	r = weekly(4)
	_, op4, err := b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
	if err != nil {
		t.Fatal(err)
	}
	if done := b.wait(op4.ID); done.Status != engine.StatusCompleted {
		t.Fatalf("save = %s %+v", done.Status, done.Error)
	}
	if parent, _ = b.eng.Event(b.company.ID, ev.ID); len(parent.KeptOccurrenceIDs) != 0 {
		t.Fatalf("kept_occurrence_ids = %v after the rule yields it again", parent.KeptOccurrenceIDs)
	}
	if got := ids(); len(got) != 4 || got[3] != children[3].ID {
		t.Fatalf("occurrences %v, want four ending with %d", got, children[3].ID)
	}
}

// Item: text attributes are counted in characters and hold no control
// characters or invalid UTF-8, in every write.
func TestTextAttributes(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ctx := context.Background()
	han := func(n int) string { return strings.Repeat("日", n) }
	writes := []struct {
		attr  string
		write func(s string) error
	}{
		{"name", func(s string) error {
			_, _, err := b.eng.CreateEvent(ctx, b.company.ID, func() engine.EventInput { in := b.dateInput(s, 3); return in }())
			return err
		}},
		{"registration_types[0].name", func(s string) error {
			in := b.dateInput("Jazz", 3)
			(*in.RegistrationTypes)[0].Name = s
			_, _, err := b.eng.CreateEvent(ctx, b.company.ID, in)
			return err
		}},
		{"name", func(s string) error {
			_, err := b.eng.CreateVenue(ctx, b.company.ID, engine.VenueInput{Name: s, TimeZone: "UTC"})
			return err
		}},
		{"name", func(s string) error {
			_, err := b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: s})
			return err
		}},
		{"name", func(s string) error {
			_, err := b.eng.CreateCompany(ctx, s, nil)
			return err
		}},
	}
	for _, tc := range []struct {
		name  string
		value string
		code  string // "" accepted
	}{
		{"200 characters of three bytes each", han(200), ""},
		{"201 characters", han(201), "too_long"},
		{"a NUL", "Jazz\x00Night", "invalid"},
		{"a newline", "Jazz\nNight", "invalid"},
		{"a tab", "Jazz\tNight", "invalid"},
		{"a C1 control", "Jazz\u0085Night", "invalid"},
		{"invalid UTF-8", "Jazz\xffNight", "invalid"},
		{"a replacement character left by invalid UTF-8", "Jazz\ufffdNight", "invalid"},
	} {
		for i, w := range writes {
			t.Run(fmt.Sprintf("%s/%d", tc.name, i), func(t *testing.T) {
				err := w.write(tc.value)
				if tc.code == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				expectInvalid(t, err, w.attr, tc.code)
			})
		}
	}

	t.Run("accounts hold no control characters either", func(t *testing.T) {
		_, _, err := b.eng.CreateAPIKey(ctx, b.company.ID, "ci\x1b[31m", []engine.Scope{engine.ScopeRead})
		expectInvalid(t, err, "name", "invalid")
		_, err = b.eng.CreateUser(ctx, "ann\r\n@example.com", engine.RoleViewer, "a long enough password")
		expectInvalid(t, err, "email", "invalid")
		_, err = b.eng.CreateCompany(ctx, "Shop", &engine.ShopInput{Domain: "shop\x00.myshopify.com"})
		expectInvalid(t, err, "shop", "invalid")
	})

	t.Run("slug and kind have length limits", func(t *testing.T) {
		in := b.dateInput("Jazz", 3)
		in.Slug = ptr(strings.Repeat("a", engine.MaxSlugLen+1))
		_, _, err := b.eng.CreateEvent(ctx, b.company.ID, in)
		expectInvalid(t, err, "slug", "too_long")
		in.Slug = ptr("jazz\x00night")
		_, _, err = b.eng.CreateEvent(ctx, b.company.ID, in)
		expectInvalid(t, err, "slug", "invalid")
		_, err = b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: "GA", Kind: strings.Repeat("k", engine.MaxKindLen+1)})
		expectInvalid(t, err, "kind", "too_long")
		_, err = b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: "GA", Kind: "seat\x07ed"})
		expectInvalid(t, err, "kind", "invalid")
		if _, err = b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: "GA", Kind: strings.Repeat("種", engine.MaxKindLen)}); err != nil {
			t.Fatalf("kind of %d characters: %v", engine.MaxKindLen, err)
		}
	})

	t.Run("a slug derived from a name without letters or digits is never empty", func(t *testing.T) {
		ev, _, err := b.eng.CreateEvent(ctx, b.company.ID, b.dateInput("!!!", 3))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("event-%d", ev.ID); ev.Slug != want {
			t.Fatalf("slug %q, want %q", ev.Slug, want)
		}
		ev, _, err = b.eng.CreateEvent(ctx, b.company.ID, b.dateInput(strings.Repeat("İ", 200), 3))
		if err != nil {
			t.Fatal(err)
		}
		if n := len([]rune(ev.Slug)); n == 0 || n > engine.MaxSlugLen {
			t.Fatalf("slug of %d characters from a 200-character name", n)
		}
	})
}

// Item: dates outside 1970–2199 are out of range.
func TestDatesOutOfRange(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ctx := context.Background()
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	for _, tc := range []struct {
		name string
		edit func(in *engine.EventInput)
		attr string // "" accepted
	}{
		{"starts in 1969", func(in *engine.EventInput) { in.StartsAt = at("1969-12-31T23:00:00Z") }, "starts_at"},
		{"starts in year 1", func(in *engine.EventInput) { in.StartsAt = at("0001-01-01T00:00:00Z") }, "starts_at"},
		{"ends in 2200", func(in *engine.EventInput) { in.EndsAt = at("2200-01-01T00:00:00Z") }, "ends_at"},
		{"ends in 9999", func(in *engine.EventInput) { in.EndsAt = at("9999-12-31T00:00:00Z") }, "ends_at"},
		{"published in 1900", func(in *engine.EventInput) {
			in.PublishedAt = engine.Nullable[time.Time]{Set: true, Value: at("1900-01-01T00:00:00Z")}
		}, "published_at"},
		{"first second of 1970", func(in *engine.EventInput) { in.StartsAt = at("1970-01-01T00:00:00Z") }, ""},
		{"last day of 2199", func(in *engine.EventInput) { in.EndsAt = at("2199-12-31T23:00:00Z") }, ""},
		{"until in 2200", func(in *engine.EventInput) {
			r := engine.Recurrence{Frequency: "daily", Until: "2200-01-01"}
			in.Type, in.Recurrence = ptr(engine.EventRecurring), engine.Nullable[engine.Recurrence]{Set: true, Value: &r}
		}, "recurrence.until"},
		{"occurrences reaching 2200", func(in *engine.EventInput) {
			r := engine.Recurrence{Frequency: "monthly", Interval: 12, Count: 200}
			in.Type, in.Recurrence = ptr(engine.EventRecurring), engine.Nullable[engine.Recurrence]{Set: true, Value: &r}
		}, "recurrence"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := b.dateInput("Jazz", 3)
			tc.edit(&in)
			before := b.snapshot(b.company.ID)
			_, _, err := b.eng.CreateEvent(ctx, b.company.ID, in)
			if tc.attr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			expectInvalid(t, err, tc.attr, "out_of_range")
			b.expectUnchanged(b.company.ID, before)
		})
	}
}
