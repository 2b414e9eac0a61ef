package dash

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"eventops/storage/storetest"
)

// Sessions live in the store: a new dashboard over the same store (a
// restart) keeps them, with the same form token; the file holds neither
// the cookie nor the token. They end after idle, at their maximum age, at
// sign-out and when their user is removed; GET /session tells a page which.
func TestDashboardSessionsInStore(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashFakeClock(), dashOpts(func(o *Options) {
		o.SessionIdle, o.SessionMax = 10*time.Minute, 30*time.Minute
	}))
	admin := f.admin()
	cookie := admin.cookies[sessionCookie]
	token := admin.token("/operations")
	admin.get("/session").expect(t, http.StatusNoContent)

	if !storetest.Postgres() { // the same records on PostgreSQL, in rows
		raw, err := os.ReadFile(f.db.Path())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(cookie)) || bytes.Contains(raw, []byte(token)) {
			t.Fatal("the data file holds a session's cookie or form token")
		}
	}

	// A restart: another dashboard over the same store.
	app2, d2 := dashApp(Config{Engine: f.eng, Logger: quietLogger(), Clock: f.clock.Now,
		Options: Options{SessionIdle: 10 * time.Minute, SessionMax: 30 * time.Minute}})
	t.Cleanup(d2.CloseSockets)
	f2 := *f
	f2.app = app2
	again := &browser{f: &f2, cookies: map[string]string{sessionCookie: cookie}, origin: admin.origin}
	again.get("/session").expect(t, http.StatusNoContent)
	if got := again.token("/operations"); got != token {
		t.Fatal("the form token changed across the restart")
	}

	// Idle: a request every 5 minutes keeps it, until its maximum age.
	for i := 0; i < 5; i++ {
		f.clock.Add(5 * time.Minute)
		again.get("/session").expect(t, http.StatusNoContent)
		again.get("/operations").expect(t, http.StatusOK)
	}
	f.clock.Add(6 * time.Minute) // 31 minutes after sign-in
	again.get("/session").expect(t, http.StatusUnauthorized)
	if r := again.get("/operations"); r.Status != http.StatusSeeOther {
		t.Fatalf("past its maximum age the session still opens pages: %d", r.Status)
	}

	// Idle expiry.
	idle := f.admin()
	f.clock.Add(11 * time.Minute)
	idle.get("/session").expect(t, http.StatusUnauthorized)

	// Sign-out.
	out := f.admin()
	out.post("/logout", url.Values{"_csrf": {out.token("/operations")}}).expect(t, http.StatusSeeOther)
	(&browser{f: f, cookies: map[string]string{sessionCookie: out.cookies[sessionCookie]}}).get("/session").expect(t, http.StatusUnauthorized)

	// Removing a user ends every session of theirs, here and after a
	// restart.
	v1, v2 := f.viewer(), f.viewer()
	if _, err := f.eng.RemoveUser(context.Background(), dashViewer); err != nil {
		t.Fatal(err)
	}
	v1.get("/session").expect(t, http.StatusUnauthorized)
	(&browser{f: &f2, cookies: v2.cookies}).get("/session").expect(t, http.StatusUnauthorized)

	// A session nobody presents again is pruned once past its maximum age.
	f.admin()
	if n, err := f.eng.PruneSessions(context.Background()); err != nil || n != 0 {
		t.Fatalf("pruning a live session: %d, %v", n, err)
	}
	f.clock.Add(31 * time.Minute)
	if n, err := f.eng.PruneSessions(context.Background()); err != nil || n != 1 {
		t.Fatalf("pruning an expired session: %d, %v", n, err)
	}
}
