package dash

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// One websocket per live page at /ws?page=<the page's path and query>. The
// guard authenticates and checks the origin before the upgrade; then one
// goroutine reads (pongs, the close handshake) and one writes everything the
// hub queues for the client, pings included.

// Locals handed from the guard to the socket (string keys: the contrib
// websocket copies only those).
const (
	localSession = "dash.session"
	localView    = "dash.view"
)

const (
	wsWriteWait = 10 * time.Second
	// maxFramesPerWrite bounds the frames one write call sends.
	maxFramesPerWrite = 64
	// wsCloseWait is how long a closing socket waits for the peer's close
	// frame before dropping the connection.
	wsCloseWait = time.Second
)

// pageKind is a kind of live page.
type pageKind int

const (
	pageOverview pageKind = iota + 1
	pageOperations
	pageOperation
	pageEvent
	pageEvents // the events list (hub_events.go)
)

// pageView is what a live page shows, parsed from its path.
type pageView struct {
	kind    pageKind
	opID    uint64
	eventID uint64
	// all: the operation page shows every child of long phase lists.
	all   bool
	list  opList
	query url.Values // the events list's company and cursor
}

// parseView reads the page a socket serves.
func parseView(page string) (pageView, error) {
	u, err := url.Parse(page)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		return pageView{}, errors.New("page must be a dashboard path")
	}
	q := u.Query()
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case p == "":
		return pageView{kind: pageOverview}, nil
	case p == "/operations":
		l, err := parseOpList(q.Get)
		return pageView{kind: pageOperations, list: l}, err
	case strings.HasPrefix(p, "/operations/"):
		id, err := strconv.ParseUint(strings.TrimPrefix(p, "/operations/"), 10, 64)
		if err != nil || id == 0 {
			return pageView{}, errors.New("no such operation page")
		}
		return pageView{kind: pageOperation, opID: id, all: q.Get("phases") == "all"}, nil
	case p == "/events":
		return pageView{kind: pageEvents, query: q}, nil
	case strings.HasPrefix(p, "/events/"):
		id, err := strconv.ParseUint(strings.TrimPrefix(p, "/events/"), 10, 64)
		if err != nil || id == 0 {
			return pageView{}, errors.New("no such event page")
		}
		before, err := formID(q.Get("before"), "before")
		return pageView{kind: pageEvent, eventID: id, list: eventHistory(id, before)}, err
	}
	return pageView{}, errors.New("this page is not live")
}

// wsGuard admits an upgrade only from a signed-in session, from the
// dashboard's own origin, for a live page.
func (d *Dashboard) wsGuard(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return c.Status(http.StatusUpgradeRequired).SendString("this path speaks websocket")
	}
	if c.Get(fiber.HeaderOrigin) != d.expectedOrigin(c) {
		return c.Status(http.StatusForbidden).SendString("origin not allowed")
	}
	// Without touching: pages reconnect on their own (every network cut,
	// every restart), which is no sign that someone is there.
	sess := d.sessions.peek(c.Cookies(sessionCookie))
	if sess == nil {
		return c.Status(http.StatusUnauthorized).SendString("sign in first")
	}
	view, err := parseView(c.Query("page"))
	if err != nil {
		return c.Status(http.StatusBadRequest).SendString(err.Error())
	}
	c.Locals(localSession, sess)
	c.Locals(localView, view)
	return c.Next()
}

// sessionState answers 204 while the request's session holds and 401 once
// it has ended. A browser reports a refused websocket upgrade only as close
// code 1006, the same as a network cut; a page asks this to tell "signed
// out: sign in again" from "reconnecting". It reads the session without
// touching it: a page's reconnecting is not a sign of activity.
func (d *Dashboard) sessionState(c *fiber.Ctx) error {
	d.headers(c)
	cookie := c.Cookies(sessionCookie)
	if cookie == "" {
		return c.SendStatus(http.StatusUnauthorized)
	}
	if rec, _ := d.sessions.load(dashTokenHash(cookie)); rec == nil {
		return c.SendStatus(http.StatusUnauthorized)
	}
	return c.SendStatus(http.StatusNoContent)
}

// wsClient is one connected page. send is its bounded queue: the hub never
// waits for a client, and a client whose queue is full is closed (1013: it
// reconnects and gets the current state). The page state below send is
// owned by the hub's goroutine.
type wsClient struct {
	view pageView
	sess *staffSession
	send chan wsFrame
	quit chan struct{}
	once sync.Once
	// code and reason are the close frame to send; set before quit
	// closes. Code 0 closes without one.
	code   int
	reason string

	opVersion uint64
	list      *listState
	events    []uint64

	// dropped is told when the client is closed for being too slow.
	dropped func()
}

func newWSClient(view pageView, sess *staffSession, queue int) *wsClient {
	return &wsClient{view: view, sess: sess, send: make(chan wsFrame, queue), quit: make(chan struct{})}
}

// offer queues a message without waiting.
func (c *wsClient) offer(pm wsFrame) {
	if pm == nil {
		return
	}
	select {
	case c.send <- pm:
	default:
		c.once.Do(func() {
			c.code, c.reason = websocket.CloseTryAgainLater, "too slow: reconnect for the current state"
			close(c.quit)
			if c.dropped != nil {
				c.dropped()
			}
		})
	}
}

// close ends the client; the first call's code wins.
func (c *wsClient) close(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.quit)
	})
}

// serveSocket runs one upgraded connection. It blocks for the connection's
// life (the contrib websocket releases the connection when it returns) and
// returns only once its writer has stopped.
func (d *Dashboard) serveSocket(conn *websocket.Conn) {
	view, _ := conn.Locals(localView).(pageView)
	sess, _ := conn.Locals(localSession).(*staffSession)
	c := newWSClient(view, sess, d.opts.SendQueue)
	c.dropped = d.metrics.WebsocketDropped
	if !d.hub.connect(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseServiceRestart, "server restart"), time.Now().Add(wsCloseWait))
		return
	}
	defer d.hub.disconnect(c)
	written := make(chan struct{})
	go func() {
		defer close(written)
		d.writeLoop(conn, c)
	}()
	d.readLoop(conn)
	c.close(0, "")
	<-written
}

// readLoop reads until the connection ends: the page sends nothing, but
// reading answers pings, takes pongs (each extends the deadline) and the
// peer's close frame.
func (d *Dashboard) readLoop(conn *websocket.Conn) {
	pongWait := 2*d.opts.PingEvery + wsWriteWait
	conn.SetReadLimit(4096)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// writeLoop is the connection's only writer: queued messages, pings, and
// the close frame.
func (d *Dashboard) writeLoop(conn *websocket.Conn, c *wsClient) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("dashboard: websocket writer panicked", "panic", r, "stack", string(debug.Stack()))
			c.close(websocket.CloseInternalServerErr, "internal error")
			_ = conn.SetReadDeadline(time.Now())
		}
	}()
	ping := time.NewTicker(d.opts.PingEvery)
	defer ping.Stop()
	fail := func() {
		c.close(0, "")
		_ = conn.SetReadDeadline(time.Now()) // ends the reader
	}
	nc := conn.NetConn()
	batch := make(net.Buffers, 0, maxFramesPerWrite)
	for {
		select {
		case f := <-c.send:
			// Every frame queued meanwhile goes out in the same call.
			batch = append(batch[:0], f)
		more:
			for len(batch) < maxFramesPerWrite {
				select {
				case f := <-c.send:
					batch = append(batch, f)
				default:
					break more
				}
			}
			_ = nc.SetWriteDeadline(time.Now().Add(wsWriteWait))
			out := batch // WriteTo consumes its receiver
			if _, err := out.WriteTo(nc); err != nil {
				fail()
				return
			}
		case <-ping.C:
			if !d.sessions.alive(c.sess) {
				c.close(websocket.ClosePolicyViolation, "signed out")
				continue
			}
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
				fail()
				return
			}
		case <-c.quit:
			if c.code == 0 {
				_ = conn.SetReadDeadline(time.Now())
				return
			}
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason), time.Now().Add(wsCloseWait))
			// Let the reader take the peer's answering close frame.
			_ = conn.SetReadDeadline(time.Now().Add(wsCloseWait))
			return
		}
	}
}

// recoverSocket logs a panic of a socket's handler and closes the socket;
// the contrib default would write the panic to the client.
func (d *Dashboard) recoverSocket(conn *websocket.Conn) {
	if r := recover(); r != nil {
		d.log.Error("dashboard: websocket dashHandler panicked", "panic", r, "stack", string(debug.Stack()))
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "internal error"), time.Now().Add(wsCloseWait))
	}
}
