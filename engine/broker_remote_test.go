package engine

import "testing"

// A state read after another node's announcement is published only when
// it is newer than what this broker published for the operation, local or
// remote: a subscriber never sees an operation go backwards, even once the
// bounded memory of versions has moved on.
func TestBrokerNeverPublishesAnOlderVersion(t *testing.T) {
	b := newBroker()
	b.newest = newVersions(4)
	sub := b.Subscribe(100)
	defer sub.Close()
	b.publish(&Operation{ID: 1, Version: 3})
	if b.publishNewer(&Operation{ID: 1, Version: 2}) || b.publishNewer(&Operation{ID: 1, Version: 3}) {
		t.Fatal("an announced state no newer than the published v3 was published")
	}
	if !b.publishNewer(&Operation{ID: 1, Version: 4}) {
		t.Fatal("a newer announced state was not published")
	}
	for id := uint64(2); id < 7; id++ { // fills a generation: 1 moves to the older one
		b.publish(&Operation{ID: id, Version: 1})
	}
	if b.publishNewer(&Operation{ID: 1, Version: 4}) {
		t.Fatal("v4 published twice once the versions map rotated")
	}
	var got []uint64
	for len(sub.C) > 0 {
		op := <-sub.C
		if op.ID == 1 {
			got = append(got, op.Version)
		}
	}
	if len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("subscriber saw versions %v of operation 1, want [3 4]", got)
	}
	if n := len(b.newest.cur) + len(b.newest.prev); n > 8 {
		t.Fatalf("the broker remembers %d versions, bound 2×4", n)
	}
}

// resync drops every subscription (its owner subscribes again and reloads,
// as after falling behind) and wakes every watcher (a long-poll reads the
// store again).
func TestBrokerResyncDropsSubscribersAndWakesWatchers(t *testing.T) {
	b := newBroker()
	sub := b.Subscribe(10)
	w, stop := b.Watch(7)
	defer stop()
	b.resync()
	if _, ok := <-sub.C; ok || !sub.Dropped() {
		t.Fatal("a subscription survived a resync")
	}
	select {
	case <-w:
	default:
		t.Fatal("a watcher was not woken by a resync")
	}
	if b.Subscribers() != 0 {
		t.Fatal("subscribers left after a resync")
	}
}
