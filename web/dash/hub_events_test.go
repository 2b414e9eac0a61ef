package dash

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
	"eventops/views"
)

// An events list joining loads its rows off the hub's goroutine: while
// that load is slow, other pages still get their pushes; and a transition
// made during the load reaches the list when it arrives.
func TestDashboardEventsListJoinDoesNotHoldTheHub(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen())
	ev, op := f.createEvent("Jazz Night")
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	loading, release := make(chan struct{}), make(chan struct{})
	var released sync.Once
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free) // before the dashboard's shutdown, should the test fail
	load := f.dash.loadEventsList
	f.dash.loadEventsList = func(get func(string) string) (views.EventsPage, error) {
		page, err := load(get)
		close(loading)
		<-release // a slow store, read before the transition below
		return page, err
	}
	admin := f.admin()
	dial := func(page string) *websocket.Conn {
		header := http.Header{}
		header.Set("Origin", f.base)
		header.Set("Cookie", sessionCookie+"="+admin.cookies[sessionCookie])
		u := "ws" + strings.TrimPrefix(f.base, "http") + "/ws?page=" + url.QueryEscape(page)
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		conn, _, err := d.Dial(u, header)
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	list := dial("/events")
	<-loading

	// Meanwhile: another page joins and follows a new save.
	name := "Jazz Night, again"
	_, next, err := f.eng.UpdateEvent(context.Background(), f.company.ID, ev.ID, engine.EventInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	other := dial(opPage(next.ID))
	_ = other.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := other.ReadMessage(); err != nil {
		t.Fatalf("an operation page got nothing while an events list was loading: %v", err)
	}
	f.waitOp(next.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })

	// The list's rows arrive with the save made during the load.
	free()
	_ = list.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := list.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`href="/operations/%d"`, next.ID); !strings.Contains(string(msg), want) {
		t.Fatalf("the events list's rows lack the save made while they loaded (%s):\n%s", want, msg)
	}
}
