package dash

import (
	"context"
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
