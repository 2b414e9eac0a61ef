package web

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestAliasesAnswerLikeOperations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	for _, pair := range [][2]string{
		{opPath(c.EventID, c.OpID), fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", c.EventID, c.OpID)},
		{fmt.Sprintf("/api/v2/events/%d/operations", c.EventID), fmt.Sprintf("/api/v2/events/%d/sync_jobs", c.EventID)},
		{fmt.Sprintf("/api/v2/events/%d/operations?page[size]=1", c.EventID), fmt.Sprintf("/api/v2/events/%d/sync_jobs?page[size]=1", c.EventID)},
	} {
		op := f.do("GET", pair[0], f.keyA, nil).expect(t, 200)
		alias := f.do("GET", pair[1], f.keyA, nil).expect(t, 200)
		if !bytes.Equal(op.Body, alias.Body) {
			t.Fatalf("%s and %s differ:\n%s\n%s", pair[0], pair[1], op.Body, alias.Body)
		}
		if alias.Header.Get("ETag") != op.Header.Get("ETag") {
			t.Errorf("ETag differs on %s", pair[1])
		}
		if got := alias.Header.Get("Deprecation"); got != "@1780704000" {
			t.Errorf("Deprecation %q", got)
		}
		if got := alias.Header.Get("Sunset"); got != "Fri, 04 Sep 2026 00:00:00 GMT" {
			t.Errorf("Sunset %q", got)
		}
		path := pair[0]
		if i := bytes.IndexByte([]byte(path), '?'); i >= 0 {
			path = path[:i]
		}
		if got, want := alias.Header.Get("Link"), "<"+path+`>; rel="successor-version"`; got != want {
			t.Errorf("Link %q, want %q", got, want)
		}
		if op.Header.Get("Deprecation") != "" || op.Header.Get("Sunset") != "" {
			t.Error("the operations route carries the alias headers")
		}
	}
	// A 304 on the alias too.
	tag := f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).Header.Get("ETag")
	f.do("GET", fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", c.EventID, c.OpID), f.keyA, nil, hdr{"If-None-Match", tag}).expect(t, 304)
}

func TestAliasSunsetIsConfigurable(t *testing.T) {
	t.Parallel()
	sunset := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)}
	f := setup(t, withConfig(func(c *Config) {
		c.AliasSunset, c.EnforceSunset, c.Clock, c.PublicURL = sunset, true, clk.now, "https://ops.example.com/"
	}))
	c := f.event(f.keyA)
	alias := fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", c.EventID, c.OpID)
	// Enforced, but the date has not come: still served.
	r := f.do("GET", alias, f.keyA, nil).expect(t, 200)
	if r.Header.Get("Sunset") != "Mon, 01 Mar 2027 00:00:00 GMT" {
		t.Fatalf("Sunset %q", r.Header.Get("Sunset"))
	}
	if want := "<https://ops.example.com" + opPath(c.EventID, c.OpID) + `>; rel="successor-version"`; r.Header.Get("Link") != want {
		t.Fatalf("Link %q, want %q", r.Header.Get("Link"), want)
	}
	clk.add(30 * 24 * time.Hour)
	m := f.do("GET", alias, f.keyA, nil).expectProblem(t, 410, "gone")
	if m.Successor != "https://ops.example.com"+opPath(c.EventID, c.OpID) {
		t.Fatalf("gone without its successor: %+v", m)
	}
}

func TestEnforcedSunsetGone(t *testing.T) {
	t.Parallel()
	f := setup(t, withConfig(func(c *Config) { c.EnforceSunset = true })) // the default date has passed
	c := f.event(f.keyA)
	if c.Resp.Header.Get(HeaderSyncJobID) != "" || c.Resp.Header.Get(HeaderOperationID) == "" {
		t.Fatalf("after the enforced sunset: %v", c.Resp.Header)
	}
	for _, path := range []string{
		fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", c.EventID, c.OpID),
		fmt.Sprintf("/api/v2/events/%d/sync_jobs", c.EventID),
	} {
		r := f.do("GET", path, f.keyA, nil)
		m := r.expectProblem(t, 410, "gone")
		if m.Successor == "" || r.Header.Get("Deprecation") != "" || r.Header.Get("Sunset") != "" {
			t.Fatalf("410: %v %s", r.Header, r.Body)
		}
	}
	// Not enforced (the default): a past date is announced, not applied.
	g := setup(t)
	d := g.event(g.keyA)
	g.do("GET", fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", d.EventID, d.OpID), g.keyA, nil).expect(t, 200)
	if d.Resp.Header.Get(HeaderSyncJobID) == "" {
		t.Fatal("no alias header before enforcement")
	}
}

func TestAliasUseCountedPerKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.event(f.keyA)
	b := f.event(f.keyB)
	pathA := fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", a.EventID, a.OpID)
	f.do("GET", fmt.Sprintf("/api/v2/events/%d/sync_jobs", a.EventID), f.keyA, nil).expect(t, 200)
	f.do("GET", pathA, f.keyA, nil).expect(t, 200)
	f.do("GET", fmt.Sprintf("/api/v2/events/%d/sync_jobs", b.EventID), f.keyB, nil).expect(t, 200)
	f.do("GET", opPath(a.EventID, a.OpID), f.keyA, nil).expect(t, 200) // not an alias
	f.do("GET", pathA, "", nil).expect(t, 401)                         // not a key's use
	uses, err := f.eng.AliasUses()
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[uint64][2]any{}
	for _, u := range uses {
		byKey[u.APIKeyID] = [2]any{u.Count, u.LastPath}
	}
	if got := byKey[f.keyAID]; got[0] != uint64(2) || got[1] != pathA {
		t.Errorf("key A: %v", got)
	}
	if got := byKey[f.keyBID]; got[0] != uint64(1) {
		t.Errorf("key B: %v", got)
	}
	if len(byKey) != 2 {
		t.Errorf("uses: %v", byKey)
	}
}
