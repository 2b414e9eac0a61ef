package web

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"eventops/engine"
)

// The dashboard (web/dash) has its own tests; these helpers sign a member
// of staff in on the whole server, for tests of what crosses the two (a
// form beside API traffic, the operation page's API JSON).

const staffPassword = "correct horse battery staple"

// cheapStaffHash is the password stored with a cheap bcrypt cost: the full
// cost, paid at every sign-in, would dominate the tests under -race.
var cheapStaffHash = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(staffPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
})

// staff is a browser signed in on the fixture's listening server.
type staff struct {
	t    testing.TB
	base string
	http *http.Client
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signInStaff stores a user with role and signs it in through the form.
func (f *fixture) signInStaff(email string, role engine.Role) *staff {
	f.t.Helper()
	err := f.db.Update(context.Background(), func(tx engine.Tx) error {
		id, err := tx.NextID(engine.SeqUser)
		if err != nil {
			return err
		}
		return tx.PutUser(&engine.User{ID: id, Email: email, Role: role, PasswordHash: cheapStaffHash(), CreatedAt: time.Now()})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	s := &staff{t: f.t, base: "http://" + f.listen(), http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if status, body := s.do("POST", "/login", url.Values{"_csrf": {s.token("/login")}, "email": {email}, "password": {staffPassword}}); status != http.StatusSeeOther {
		f.t.Fatalf("sign in as %s: status %d\n%s", email, status, body)
	}
	return s
}

// do sends a request (a form when form is not nil) and reads the answer.
func (s *staff) do(method, path string, form url.Values) (int, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

// token is the CSRF token of the forms on a page.
func (s *staff) token(path string) string {
	s.t.Helper()
	status, body := s.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		s.t.Fatalf("GET %s: status %d, no form token\n%s", path, status, body)
	}
	return m[1]
}

// cookieHeader is the session's Cookie header, for other clients.
func (s *staff) cookieHeader() string {
	u, _ := url.Parse(s.base)
	var parts []string
	for _, c := range s.http.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// The dashboard's operation page shows the operation exactly as the API
// answers it (web wires its encoder into web/dash): the engine's
// bookkeeping, such as the company and the queue, stays out of both.
func TestDashboardOperationPageShowsTheAPIsJSON(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ev := f.event(f.keyA)
	f.waitTerminal(ev.EventID, ev.OpID)
	api := f.do("GET", opPath(ev.EventID, ev.OpID), f.keyA, nil).expect(t, http.StatusOK)
	var indented bytes.Buffer
	if err := json.Indent(&indented, api.Body, "", "  "); err != nil {
		t.Fatal(err)
	}
	viewer := f.signInStaff("viewer@example.com", engine.RoleViewer)
	status, page := viewer.do("GET", "/operations/"+itoa(ev.OpID), nil)
	if status != http.StatusOK {
		t.Fatalf("operation page: status %d\n%s", status, page)
	}
	if want := html.EscapeString(indented.String()); !strings.Contains(page, want) {
		t.Fatalf("the page does not show the API's JSON\nwant:\n%s\npage:\n%s", want, page)
	}
	if strings.Contains(page, "company_id") {
		t.Fatal("the page shows the engine's bookkeeping")
	}
}
