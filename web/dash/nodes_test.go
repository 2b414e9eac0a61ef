package dash

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// Sign-in attempts count together whichever node they reach: a password
// guessed against two nodes behind a load balancer is throttled as on one.
func TestSignInLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	limits := dashOpts(func(o *Options) { o.LoginBurst, o.LoginRefill = 3, time.Minute })
	a := setupDash(t, dashPostgres(), limits)
	b := setupDash(t, dashNodeOf(a), limits)
	onA := a.browser()
	onB := onA.on(b)
	tok := onA.token("/login")
	attempt := func(br *browser, email, password string) *dashResp {
		return br.post("/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}})
	}
	for _, br := range []*browser{onA, onB, onA} {
		attempt(br, dashAdmin, "not the password").expect(t, http.StatusUnauthorized)
	}
	r := attempt(onB, dashAdmin, dashPassword).expect(t, http.StatusTooManyRequests).contains(t, "Too many sign-in attempts")
	if secs, _ := strconv.Atoi(r.Header.Get("Retry-After")); secs < 55 || secs > 60 {
		t.Errorf("Retry-After %q, want about 60", r.Header.Get("Retry-After"))
	}
	// The address is throttled on node A too, for another email as well.
	attempt(onA, dashViewer, dashPassword).expect(t, http.StatusTooManyRequests)
}

// A successful sign-in gives its attempt back on every node: colleagues
// signing in through two nodes never use up their office's bucket.
func TestSignInRefundHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	limits := dashOpts(func(o *Options) { o.LoginBurst, o.LoginRefill = 2, time.Hour })
	a := setupDash(t, dashPostgres(), limits)
	b := setupDash(t, dashNodeOf(a), limits)
	for i := range 5 {
		node := a
		if i%2 == 1 {
			node = b
		}
		node.browser().signIn(dashAdmin)
	}
}

// A session started on one node is good on the other, and signing out on
// either ends it on both.
func TestSessionsHoldAcrossNodes(t *testing.T) {
	t.Parallel()
	a := setupDash(t, dashPostgres())
	b := setupDash(t, dashNodeOf(a))
	onA := a.admin()
	onB := onA.on(b)
	onB.get("/").expect(t, http.StatusOK).contains(t, dashAdmin)
	cookie := onA.cookies[sessionCookie]
	onA.post("/logout", url.Values{"_csrf": {onA.token("/")}}).expect(t, http.StatusSeeOther)
	onB.cookies[sessionCookie] = cookie // a second tab that kept the cookie
	onB.get("/").expect(t, http.StatusSeeOther)

	// And the other way round.
	onB = b.admin()
	onA = onB.on(a)
	onA.get("/").expect(t, http.StatusOK)
	cookie = onB.cookies[sessionCookie]
	onB.post("/logout", url.Values{"_csrf": {onB.token("/")}}).expect(t, http.StatusSeeOther)
	onA.cookies[sessionCookie] = cookie
	onA.get("/").expect(t, http.StatusSeeOther)
}

// A live page open on one node closes (1008, no reconnect) when its
// session signs out on another, at that node's next ping.
func TestSignOutClosesSocketsOnOtherNodes(t *testing.T) {
	t.Parallel()
	a := setupDash(t, dashPostgres())
	b := setupDash(t, dashNodeOf(a), dashListen(), dashOpts(func(o *Options) { o.PingEvery = 50 * time.Millisecond }))
	onA := a.admin()
	conn := b.mustDial(onA.on(b), "/")
	readUntil(t, conn, `id="counts"`)
	onA.post("/logout", url.Values{"_csrf": {onA.token("/")}}).expect(t, http.StatusSeeOther)
	expectClose(t, conn, websocket.ClosePolicyViolation)
}
