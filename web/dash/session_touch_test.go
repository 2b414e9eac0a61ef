package dash

import (
	"net/http"
	"net/url"
	"strings"

	"context"
	"github.com/fasthttp/websocket"
	"testing"
	"time"

	"eventops/engine"
)

// signOutBetween is the store of a dashboard where a sign-out (another
// tab, another server) commits just after a request read its session.
type signOutBetween struct {
	*engine.Engine
}

func (s signOutBetween) Session(hash []byte) (*engine.StaffSession, *engine.User, error) {
	rec, u, err := s.Engine.Session(hash)
	if err == nil && rec != nil {
		err = s.Engine.EndSession(context.Background(), hash)
	}
	return rec, u, err
}

// A request that records a session's use does not bring back a session
// signed out between its read and its write.
func TestDashboardSessionTouchDoesNotUndoSignOut(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	admin := f.admin()
	cookie := admin.cookies[sessionCookie]
	hash := []byte(dashTokenHash(cookie))
	rec, _, err := f.eng.Session(hash)
	if err != nil || rec == nil {
		t.Fatalf("the signed-in session: %v %v", rec, err)
	}
	later := rec.Seen.Add(2 * engine.SessionTouchEvery) // a touch is due
	st := newSessionStore(signOutBetween{f.eng}, quietLogger(), 2*time.Hour, 12*time.Hour, func() time.Time { return later })
	st.get(cookie)
	if rec, _, err := f.eng.Session(hash); err != nil || rec != nil {
		t.Fatalf("the signed-out session came back: %+v %v", rec, err)
	}
	// A touch of a live session still records its use.
	live := newSessionStore(f.eng, quietLogger(), 2*time.Hour, 12*time.Hour, func() time.Time { return later })
	other := f.admin().cookies[sessionCookie]
	if live.get(other) == nil {
		t.Fatal("a live session was not found")
	}
	if rec, _, _ := f.eng.Session([]byte(dashTokenHash(other))); rec == nil || !rec.Seen.Equal(later) {
		t.Fatalf("a live session's use was not recorded: %+v", rec)
	}
}

// A page that only reconnects its websocket (network cuts, restarts) does
// not keep an idle session alive: reconnects are no sign of activity.
func TestDashboardWebsocketReconnectsAreNotActivity(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen(), dashFakeClock(), dashOpts(func(o *Options) {
		o.SessionIdle, o.SessionMax = 10*time.Minute, 12*time.Hour
	}))
	admin := f.admin()
	header := http.Header{}
	header.Set("Origin", f.base)
	header.Set("Cookie", sessionCookie+"="+admin.cookies[sessionCookie])
	u := "ws" + strings.TrimPrefix(f.base, "http") + "/ws?page=" + url.QueryEscape("/operations")
	for range 3 { // a reconnect every 3 minutes
		f.clock.Add(3 * time.Minute)
		conn, _, err := websocket.DefaultDialer.Dial(u, header)
		if err != nil {
			t.Fatalf("a reconnect while signed in: %v", err)
		}
		conn.Close()
	}
	f.clock.Add(2 * time.Minute) // 11 minutes since the last request
	admin.get("/session").expect(t, http.StatusUnauthorized)
	if _, res, err := websocket.DefaultDialer.Dial(u, header); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a reconnect after the idle limit: %v", err)
	}
}
