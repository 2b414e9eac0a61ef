package main

// The sandbox on PostgreSQL (issue 19: "one shop state for all nodes: in
// this mode it runs as `eventops sandbox`, its own process"): real serve
// nodes and a real sandbox process on a throwaway database.

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/storage/pgtest"
	"eventops/web/client"
)

// startSandboxProcess starts `eventops sandbox --control` on a free port
// with its own data folder and returns its base URL (its listening line).
func startSandboxProcess(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "sandbox", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--control", "--restore-rate", "0")
	cmd.Env = cleanEnv()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("eventops sandbox stderr:\n%s", stderr.String())
		}
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case first <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-first:
		base, ok := strings.CutPrefix(l, "listening ")
		if !ok {
			t.Fatalf("eventops sandbox printed %q first, want its listening line", l)
		}
		return base
	case <-exited:
		t.Fatalf("eventops sandbox exited:\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("eventops sandbox printed no listening line within 30 s:\n%s", stderr.String())
	}
	return ""
}

// sandboxStates reads every shop's state from a sandbox process.
func sandboxStates(t *testing.T, base string) map[string]sandbox.ShopState {
	t.Helper()
	res, err := http.Get(base + sandbox.Prefix + "state")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st map[string]sandbox.ShopState
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// firstStart reads the admin password and the API key a first start
// printed.
func firstStart(t *testing.T, p *process) (password, key string) {
	t.Helper()
	out := p.stdout.String()
	pw := regexp.MustCompile(`(?m)^\s+password\s+(\S+)$`).FindStringSubmatch(out)
	k := regexp.MustCompile(`API key\s+(eo_\S+)`).FindStringSubmatch(out)
	if pw == nil || k == nil {
		t.Fatalf("the first start printed no credentials:\n%s", out)
	}
	return pw[1], k[1]
}

// staffBrowser is a signed-in dashboard session; its cookies go to every
// node of 127.0.0.1 (cookies are not per port), as the session does.
type staffBrowser struct {
	t *testing.T
	c *http.Client
}

func signInBrowser(t *testing.T, base, email, password string) *staffBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &staffBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	status, _ := b.post(base+"/login", base+"/login", url.Values{"email": {email}, "password": {password}})
	if status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("sign-in answered %d", status)
	}
	return b
}

func (b *staffBrowser) get(u string) (int, string) {
	b.t.Helper()
	res, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// post submits a form of the page at from, with that page's CSRF token.
func (b *staffBrowser) post(from, to string, form url.Values) (int, string) {
	b.t.Helper()
	_, page := b.get(from)
	if m := csrfInput.FindStringSubmatch(page); m != nil {
		form.Set("_csrf", m[1]+m[2])
	}
	res, err := b.c.PostForm(to, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestSandboxOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs serve nodes and the sandbox as processes")
	}
	t.Parallel()
	pgtest.Server(t) // skips, saying why, without PostgreSQL
	bin := buildEventops(t)
	keyFile := filepath.Join(t.TempDir(), "sealer.key")
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(t *testing.T, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv()
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return strings.TrimSpace(out.String()), errOut.String(), err
	}
	noSandboxFile := func(t *testing.T, data string) {
		t.Helper()
		if _, err := os.Stat(filepath.Join(data, sandboxFile)); !os.IsNotExist(err) {
			t.Errorf("serve on PostgreSQL made %s in its data folder (%v)", sandboxFile, err)
		}
	}

	// Two nodes and one sandbox process: a company connected to a sandbox
	// shop through node A's dashboard is mirrored by a save sent to node B
	// into that shop, in the one sandbox both share.
	t.Run("two nodes share the sandbox process", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Database(t)
		sb := startSandboxProcess(t, bin)
		pg := []string{"--database-url", db, "--sealer-key-file", keyFile, "--sandbox-url", sb + "/"}
		dataA, dataB := t.TempDir(), t.TempDir()
		a := startServe(t, bin, dataA, pg...)
		password, demoKey := firstStart(t, a)
		b := startServe(t, bin, dataB, pg...)
		for _, p := range []*process{a, b} {
			if l := p.line("eventops serving"); l["sandbox"] != sb {
				t.Errorf("serving line names the sandbox %v, want %s", l["sandbox"], sb)
			}
		}
		// The first start's demo shop was made in the sandbox process.
		if _, ok := sandboxStates(t, sb)["demo"]; !ok {
			t.Fatalf("the demo company's shop is not in the sandbox process: %v", sandboxStates(t, sb))
		}
		if got := getJSON[client.Company](a.client(demoKey), "/api/v2", 200); got.Name != "Demo Company" {
			t.Fatalf("demo key: %+v", got)
		}

		// Connected through node A's dashboard.
		staff := signInBrowser(t, "http://"+a.addr, "admin@example.com", password)
		status, body := staff.post("http://"+a.addr+"/companies", "http://"+a.addr+"/companies",
			url.Values{"name": {"Acme Events"}, "shop": {"sandbox"}})
		if status != http.StatusSeeOther {
			t.Fatalf("create a company connected to the sandbox on node A: %d\n%s", status, body)
		}
		if _, ok := sandboxStates(t, sb)["acme-events"]; !ok {
			t.Fatal("connecting on node A made no shop in the sandbox process")
		}
		key, stderr, err := cli(t, append([]string{"apikey", "create", "--company", "2"}, pg[:4]...)...)
		if err != nil {
			t.Fatalf("apikey create: %v\n%s", err, stderr)
		}

		// A save through node B lands in that shop.
		apiB := b.client(key)
		if got := getJSON[client.Company](apiB, "/api/v2", 200); got.Name != "Acme Events" {
			t.Fatalf("company 2 is %+v, want Acme Events", got)
		}
		venue, tt := apiB.venueAndTicketType()
		ev, op := apiB.createEvent(dateEvent(venue, tt))
		waitAllCompleted(t, apiB, []evOp{{ev: ev, op: op}})
		st := sandboxStates(t, sb)
		var titles []string
		for _, p := range st["acme-events"].Products {
			titles = append(titles, p.Title)
		}
		if len(titles) != 1 || titles[0] != "Jazz Night" {
			t.Fatalf("the sandbox process's acme-events shop holds products %q, want the one Jazz Night", titles)
		}
		if n := len(st["demo"].Products); n != 0 {
			t.Errorf("the demo shop got %d products", n)
		}

		// The scripting command provisions there too, while the nodes run.
		if _, stderr, err := cli(t, append([]string{"company", "create", "--name", "Beta Co", "--shopify", "sandbox",
			"--shop-currency", "EUR"}, pg...)...); err != nil {
			t.Fatalf("company create --shopify sandbox: %v\n%s", err, stderr)
		}
		if st := sandboxStates(t, sb)["beta-co"]; st.Currency != "EUR" {
			t.Fatalf("company create made no EUR shop beta-co in the sandbox process: %+v", st.Currency)
		}

		// Node B's dashboard shows the shared sandbox's shops; no node
		// serves a sandbox of its own, nor keeps its file.
		if status, page := staff.get("http://" + b.addr + "/sandbox"); status != 200 ||
			!strings.Contains(page, "acme-events") || !strings.Contains(page, "beta-co") || !strings.Contains(page, "Jazz Night") {
			t.Errorf("node B's sandbox page: %d, without the shared sandbox's shops\n%s", status, page)
		}
		for _, p := range []*process{a, b} {
			if res, _, err := p.client("").request("GET", "/sandbox/shopify/state", ""); err != nil || res.StatusCode != 404 {
				t.Errorf("node %s serves a sandbox of its own: %v %v", p.addr, res.StatusCode, err)
			}
		}
		noSandboxFile(t, dataA)
		noSandboxFile(t, dataB)
	})

	// Nodes first started together on an empty database: one of them
	// makes the demo company and its shop in the sandbox process, the
	// others find it made (one demo shop, whose token is the company's).
	t.Run("nodes first started together", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Database(t)
		sb := startSandboxProcess(t, bin)
		pg := []string{"--database-url", db, "--sealer-key-file", keyFile, "--sandbox-url", sb}
		procs := make([]*process, 3)
		var wg sync.WaitGroup
		for i := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := &process{t: t, exited: make(chan struct{})}
				p.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, pg...)...)
				p.cmd.Env = cleanEnv()
				p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
				if err := p.cmd.Start(); err != nil {
					t.Error(err)
					return
				}
				go func() { p.err = p.cmd.Wait(); close(p.exited) }()
				procs[i] = p
			}()
		}
		wg.Wait()
		t.Cleanup(func() {
			for _, p := range procs {
				if p != nil {
					_ = p.cmd.Process.Kill()
					<-p.exited
				}
			}
		})
		if t.Failed() {
			t.FailNow()
		}
		var keys []string
		for i, p := range procs {
			if !pollUntil(60*time.Second, 20*time.Millisecond, func() bool {
				select {
				case <-p.exited:
					return true
				default:
				}
				return p.line("eventops serving") != nil
			}) || p.line("eventops serving") == nil {
				t.Fatalf("node %d did not serve: %v\n%s", i, p.err, p.stderr.String())
			}
			p.addr, _ = p.line("eventops serving")["addr"].(string)
			if strings.Contains(p.stdout.String(), "First start") {
				_, key := firstStart(t, p)
				keys = append(keys, key)
			}
		}
		if len(keys) != 1 {
			t.Fatalf("%d nodes made the demo company, want one", len(keys))
		}
		// The demo company's save reaches the one demo shop: its token is
		// the one the sandbox holds.
		api := procs[0].client(keys[0])
		venue, tt := api.venueAndTicketType()
		ev, op := api.createEvent(dateEvent(venue, tt))
		waitAllCompleted(t, api, []evOp{{ev: ev, op: op}})
		st := sandboxStates(t, sb)
		if len(st) != 1 || len(st["demo"].Products) != 1 {
			t.Fatalf("the sandbox holds %d shops, demo with %d products; want the one demo shop with the save's product", len(st), len(st["demo"].Products))
		}
	})

	// Without --sandbox-url: serve says so once, keeps no sandbox, and a
	// sandbox connection is refused with SHOPIFY_SANDBOX_MISSING, storing
	// nothing; the rest works.
	t.Run("without --sandbox-url", func(t *testing.T) {
		t.Parallel()
		db := pgtest.Database(t)
		pg := []string{"--database-url", db, "--sealer-key-file", keyFile}
		data := t.TempDir()
		p := startServe(t, bin, data, pg...)
		password, demoKey := firstStart(t, p)
		if n := strings.Count(p.stderr.String(), engine.NoSandboxMessage); n != 1 {
			t.Errorf("serve said %q %d times at start, want once:\n%s", engine.NoSandboxMessage, n, p.stderr.String())
		}
		if !strings.Contains(p.stdout.String(), "The demo company has no shop: "+engine.NoSandboxMessage) {
			t.Errorf("the first start does not say the demo company has no shop:\n%s", p.stdout.String())
		}
		noSandboxFile(t, data)

		// The command line.
		_, stderr, err := cli(t, append([]string{"company", "create", "--name", "Acme", "--shopify", "sandbox"}, pg...)...)
		if err == nil || !strings.Contains(stderr, engine.NoSandboxMessage) {
			t.Errorf("company create --shopify sandbox: %v, stderr %q", err, stderr)
		}
		_, stderr, err = cli(t, append([]string{"company", "connect", "--company", "1", "--shopify", "sandbox"}, pg...)...)
		if err == nil || !strings.Contains(stderr, engine.NoSandboxMessage) {
			t.Errorf("company connect --shopify sandbox: %v, stderr %q", err, stderr)
		}
		// The dashboard.
		base := "http://" + p.addr
		staff := signInBrowser(t, base, "admin@example.com", password)
		for _, to := range []string{"/companies", "/companies/1/shop"} {
			status, body := staff.post(base+"/companies", base+to, url.Values{"name": {"Acme"}, "shop": {"sandbox"}})
			if status != http.StatusUnprocessableEntity || !strings.Contains(body, "no sandbox in database mode") {
				t.Errorf("POST %s with the sandbox: %d, want 422 saying why\n%s", to, status, body)
			}
		}
		if status, page := staff.get(base + "/sandbox"); status != 200 || !strings.Contains(page, "No sandbox") {
			t.Errorf("the sandbox page: %d\n%s", status, page)
		}
		// Nothing was stored: the next company is number 2, and the demo
		// company is still without a shop.
		id, stderr, err := cli(t, append([]string{"company", "create", "--name", "Local"}, pg[:4]...)...)
		if err != nil || id != "2" {
			t.Fatalf("company create without a shop: %q %v\n%s", id, err, stderr)
		}
		if status, page := staff.get(base + "/companies"); status != 200 || strings.Contains(page, "sandbox: ") {
			t.Errorf("companies page: %d\n%s", status, page)
		}
		if res, _, err := p.client("").request("GET", "/sandbox/shopify/state", ""); err != nil || res.StatusCode != 404 {
			t.Errorf("serve on PostgreSQL serves a sandbox: %v %v", res.StatusCode, err)
		}
		// Everything else works.
		api := p.client(demoKey)
		venue, tt := api.venueAndTicketType()
		ev, op := api.createEvent(dateEvent(venue, tt))
		waitAllCompleted(t, api, []evOp{{ev: ev, op: op}})
		noSandboxFile(t, data)
	})
}
