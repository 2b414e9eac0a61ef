// Package metrics is eventops' Prometheus instrumentation (DESIGN §6): one
// registry per installation, which the engine (as its engine.Observer), the
// Shopify client (through the interface it declares), the HTTP server and
// the dashboard's websocket hub report to, and which web serves at
// GET /metrics.
//
// It imports engine (for the Observer it implements) and the Prometheus
// client only. Package main builds one Metrics and hands it to each part;
// web and web/dash import it; engine and engine/shopify never do (they
// declare the interfaces they report through).
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"eventops/engine"
)

// Metrics is eventops' Prometheus instrumentation (DESIGN §6), served at
// GET /metrics in the text exposition format. It keeps a registry of its
// own, never the global default one, so that tests build as many servers
// as they like.
//
// One Metrics serves an installation: main gives it to engine.Config as the
// Observer (operations and phases), to web.Config (HTTP, storage and
// /metrics itself, and through web the dashboard's websocket hub), to the
// Shopify client (Shopify), and calls OperationsPruned from the retention
// loop. Every method is safe on a nil *Metrics and does nothing there, so
// callers need not check.
//
// Series (all prefixed eventops_):
//
//	operations_started_total{action}            operations created
//	operations_finished_total{action,status}    operations that became completed or failed
//	operations_active{action}                   pending or running now
//	operation_duration_seconds{action,status}   creation to terminal (histogram)
//	phase_duration_seconds{phase,status}        a leaf phase's running time (histogram)
//	phase_retries_total{phase,code}             transient failures retried
//	operations_pruned_total                     terminal operations deleted by retention
//	idempotency_records_pruned_total            expired Idempotency-Key records deleted
//	shop_oversold_seats_total                   shop sales recorded beyond an occurrence's capacity
//	shopify_calls_total{operation,status}       Admin API calls by GraphQL operation
//	shopify_cost_points_total{operation}        query cost the shop charged
//	shopify_throttled_total                     THROTTLED answers and 429s
//	websocket_clients                           dashboard websockets open now
//	websocket_dropped_total                     websockets closed for being too slow
//	http_requests_total{method,route,status}    answers by route pattern (never the raw path)
//	http_request_duration_seconds{method,route} time to answer (histogram; long-polls count their hold)
//	storage_file_size_bytes, storage_free_pages, storage_open_read_transactions,
//	storage_commits_total, storage_updates_total   the bbolt file, read at scrape time
//	webhook_deliveries_total{outcome}, webhook_oldest_pending_seconds   outbound webhooks (webhooks.go)
//	notification_lag_seconds         a transition committed on another node to its publish here (histogram; PostgreSQL)
//	leases_held, lease_takeovers_total, db_pool_connections{state}, db_pool_max_connections
//	                                 claims by lease and the connection pool (leases.go; PostgreSQL)
//
// and the Go runtime's go_* and the process's process_* series.
type Metrics struct {
	reg *prometheus.Registry

	opsStarted    *prometheus.CounterVec
	opsFinished   *prometheus.CounterVec
	opsActive     *prometheus.GaugeVec
	opDuration    *prometheus.HistogramVec
	phaseDuration *prometheus.HistogramVec
	phaseRetries  *prometheus.CounterVec
	opsPruned     prometheus.Counter
	idemPruned    prometheus.Counter
	oversold      prometheus.Counter
	notifyLag     prometheus.Histogram

	shopifyCalls     *prometheus.CounterVec
	shopifyCost      *prometheus.CounterVec
	shopifyThrottled prometheus.Counter

	wsDropped prometheus.Counter
	wsClients atomic.Pointer[func() int]
	// sharedActive: operations_active is set from the store (SetActive).
	sharedActive atomic.Bool
	leases       atomic.Pointer[func() LeaseFigures]

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	storage  atomic.Pointer[func() (StorageFigures, error)]
	webhooks atomic.Pointer[func() (WebhookFigures, error)] // webhooks.go

	// Label values that come from data are bounded (see labelCap).
	codes, shopifyOps, shopifyStatuses *labelCap
}

var (
	_ engine.Observer             = (*Metrics)(nil)
	_ engine.NotificationObserver = (*Metrics)(nil)
)

// durationBuckets suit phases and operations: a local phase takes
// milliseconds, a Shopify one seconds to minutes when throttled.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// httpBuckets reach 60 s: a long-poll is held up to that long.
var httpBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// lagBuckets suit the notification lag between nodes: milliseconds on a
// quiet network, seconds when a listener was away.
var lagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New builds the collectors on a private registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		opsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eventops",
			Name: "operations_started_total", Help: "Operations created, by action."}, []string{"action"}),
		opsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eventops",
			Name: "operations_finished_total", Help: "Operations that became terminal, by action and final status."},
			[]string{"action", "status"}),
		opsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "eventops",
			Name: "operations_active", Help: "Operations pending or running now, by action."}, []string{"action"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "eventops",
			Name: "operation_duration_seconds", Help: "Time from an operation's creation to its terminal status.",
			Buckets: durationBuckets}, []string{"action", "status"}),
		phaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "eventops",
			Name: "phase_duration_seconds", Help: "Running time of a leaf phase, from its start to completed or failed.",
			Buckets: durationBuckets}, []string{"phase", "status"}),
		phaseRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eventops",
			Name: "phase_retries_total", Help: "Phase attempts that failed transiently and were retried, by phase and error code."},
			[]string{"phase", "code"}),
		opsPruned: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eventops",
			Name: "operations_pruned_total", Help: "Terminal operations deleted by retention."}),
		idemPruned: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eventops",
			Name: "idempotency_records_pruned_total", Help: "Expired Idempotency-Key records deleted."}),
		oversold: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eventops",
			Name: "shop_oversold_seats_total", Help: "Seats a shop sold beyond an occurrence's capacity (recorded: the buyers paid)."}),
		notifyLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "eventops",
			Name: "notification_lag_seconds", Help: "Time from a transition's commit on another node (its UpdatedAt) to its publish on this one.",
			Buckets: lagBuckets}),
		shopifyCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eventops",
			Name: "shopify_calls_total", Help: "Shopify Admin API calls, by GraphQL operation and outcome."},
			[]string{"operation", "status"}),
		shopifyCost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eventops",
			Name: "shopify_cost_points_total", Help: "Query cost points the shops charged, by GraphQL operation."},
			[]string{"operation"}),
		shopifyThrottled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eventops",
			Name: "shopify_throttled_total", Help: "Shopify answers that throttled a call (THROTTLED or HTTP 429)."}),
		wsDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eventops",
			Name: "websocket_dropped_total", Help: "Dashboard websockets closed because the client could not keep up."}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eventops",
			Name: "http_requests_total", Help: "HTTP answers, by method, route pattern and status."},
			[]string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "eventops",
			Name: "http_request_duration_seconds", Help: "Time to answer an HTTP request, by method and route pattern.",
			Buckets: httpBuckets}, []string{"method", "route"}),
		codes:           newLabelCap(100),
		shopifyOps:      newLabelCap(100),
		shopifyStatuses: newLabelCap(30),
	}
	m.reg.MustRegister(
		m.opsStarted, m.opsFinished, m.opsActive, m.opDuration, m.phaseDuration, m.phaseRetries,
		m.opsPruned, m.idemPruned, m.oversold, m.notifyLag,
		m.shopifyCalls, m.shopifyCost, m.shopifyThrottled,
		m.wsDropped, wsClientsCollector{m}, leaseCollector{&m.leases},
		m.httpRequests, m.httpDuration,
		storageCollector{m}, webhookCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Every action's series exist from the start, at zero, so that rates
	// and alerts work before the first operation.
	for _, a := range engine.Actions {
		m.opsStarted.WithLabelValues(string(a))
		m.opsActive.WithLabelValues(string(a))
		for _, s := range []engine.Status{engine.StatusCompleted, engine.StatusFailed} {
			m.opsFinished.WithLabelValues(string(a), string(s))
		}
	}
	return m
}

// Registry is the private registry, for collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// OperationStarted implements engine.Observer.
func (m *Metrics) OperationStarted(a engine.Action) {
	if m == nil {
		return
	}
	m.opsStarted.WithLabelValues(string(a)).Inc()
	if !m.sharedActive.Load() {
		m.opsActive.WithLabelValues(string(a)).Inc()
	}
}

// SetActive sets operations_active from the installation's counts by
// action (several nodes: each node's own starts and ends would not add
// up); from then on the gauge changes only by SetActive.
func (m *Metrics) SetActive(counts map[engine.Action]int) {
	if m == nil {
		return
	}
	m.sharedActive.Store(true)
	for a, n := range counts {
		m.opsActive.WithLabelValues(string(a)).Set(float64(n))
	}
}

// OperationFinished implements engine.Observer.
func (m *Metrics) OperationFinished(a engine.Action, s engine.Status, d time.Duration) {
	if m == nil {
		return
	}
	m.opsFinished.WithLabelValues(string(a), string(s)).Inc()
	if !m.sharedActive.Load() {
		m.opsActive.WithLabelValues(string(a)).Dec()
	}
	m.opDuration.WithLabelValues(string(a), string(s)).Observe(d.Seconds())
}

// PhaseFinished implements engine.Observer.
func (m *Metrics) PhaseFinished(phase string, s engine.Status, d time.Duration) {
	if m == nil {
		return
	}
	m.phaseDuration.WithLabelValues(phaseLabel(phase), string(s)).Observe(d.Seconds())
}

// PhaseRetried implements engine.Observer.
func (m *Metrics) PhaseRetried(phase string, code engine.Code) {
	if m == nil {
		return
	}
	m.phaseRetries.WithLabelValues(phaseLabel(phase), m.codes.value(string(code))).Inc()
}

// SeedActive counts the operations that are pending or running in the
// store into operations_active. Call it once, before engine.Start: the
// engine resumes those operations, and the observer sees them finish but
// not start.
func (m *Metrics) SeedActive(store engine.Store) error {
	if m == nil {
		return nil
	}
	var active []*engine.Operation
	if err := store.View(func(tx engine.Tx) error {
		var err error
		active, err = tx.ActiveOperations()
		return err
	}); err != nil {
		return fmt.Errorf("seed active operations: %w", err)
	}
	for _, op := range active {
		m.opsActive.WithLabelValues(string(op.Action)).Inc()
	}
	return nil
}

// OperationsPruned counts terminal operations deleted by retention.
func (m *Metrics) OperationsPruned(n int) {
	if m != nil && n > 0 {
		m.opsPruned.Add(float64(n))
	}
}

// ShopOversold counts seats a shop sold beyond an occurrence's capacity
// (recorded: the buyers paid; see the event's oversold). The engine finds
// this method on its Observer by a type assertion.
func (m *Metrics) ShopOversold(n int) {
	if m != nil && n > 0 {
		m.oversold.Add(float64(n))
	}
}

// NotificationLag records how long a transition committed on another node
// took to be published here. The engine finds this method on its Observer
// by a type assertion (engine.NotificationObserver).
func (m *Metrics) NotificationLag(d time.Duration) {
	if m != nil {
		m.notifyLag.Observe(d.Seconds())
	}
}

// IdempotencyPruned counts expired Idempotency-Key records deleted.
func (m *Metrics) IdempotencyPruned(n int) {
	if m != nil && n > 0 {
		m.idemPruned.Add(float64(n))
	}
}

// ShopifyMetrics is what the Shopify client reports. The client declares
// the interface it needs on its side (engine/shopify imports nothing of
// web); this value satisfies
//
//	interface {
//		CallDone(operation, status string, cost float64)
//		Throttled()
//	}
//
// operation is the GraphQL operation's name (Call.Name); status a short
// outcome such as "ok", "user_errors", "throttled", "http_429", "http_5xx",
// "transport", "auth"; cost the points the shop charged (actualQueryCost,
// 0 when unknown). Values outside [A-Za-z][A-Za-z0-9_.-]{0,63}, or past a
// bounded number of distinct ones, are counted as "other".
type ShopifyMetrics struct{ m *Metrics }

// Shopify returns the hooks for the Shopify client.
func (m *Metrics) Shopify() ShopifyMetrics { return ShopifyMetrics{m} }

// CallDone counts one Admin API call (each HTTP exchange, retries included).
func (s ShopifyMetrics) CallDone(operation, status string, cost float64) {
	if s.m == nil {
		return
	}
	op := s.m.shopifyOps.value(operation)
	s.m.shopifyCalls.WithLabelValues(op, s.m.shopifyStatuses.value(status)).Inc()
	if cost > 0 {
		s.m.shopifyCost.WithLabelValues(op).Add(cost)
	}
}

// Throttled counts an answer that throttled a call (THROTTLED or 429).
func (s ShopifyMetrics) Throttled() {
	if s.m != nil {
		s.m.shopifyThrottled.Inc()
	}
}

// WatchWebsocketClients makes websocket_clients read count at scrape time
// (the dashboard hub's number of open sockets). count must be cheap and
// safe to call from any goroutine.
func (m *Metrics) WatchWebsocketClients(count func() int) {
	if m != nil {
		m.wsClients.Store(&count)
	}
}

// WebsocketDropped counts a websocket closed for not keeping up.
func (m *Metrics) WebsocketDropped() {
	if m != nil {
		m.wsDropped.Inc()
	}
}

// StorageFigures are the data file's figures the storage_* series show.
type StorageFigures struct {
	FileSize    int64
	FreePages   int
	OpenReadTxs int
	Commits     uint64
	Updates     uint64
}

// WatchStorage makes the storage_* series call figures at scrape time. The
// last call wins; nil stops them.
func (m *Metrics) WatchStorage(figures func() (StorageFigures, error)) {
	if m == nil {
		return
	}
	if figures == nil {
		m.storage.Store(nil)
		return
	}
	m.storage.Store(&figures)
}

// ObserveHTTP counts one answer. method and route must not alias Fiber's
// buffers (the registry keeps label values).
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Handler serves the exposition, in the text format (OpenMetrics when the
// scraper asks for it). A collector that fails is logged and left out;
// the rest is served. Who may read it is the caller's decision. On a nil
// *Metrics it serves an empty exposition.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	if m != nil {
		reg = m.reg
	}
	if log == nil {
		log = slog.Default()
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          promLogger{log},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

// knownPhases are the top-level phase names (DESIGN §4.1). Child phases of
// a recurring or split event are named after their occurrence or product,
// which would make one series per product: they count as "other" until the
// engine reports children by their top-level phase.
var knownPhases = map[string]bool{
	engine.PhaseRecurrence: true, engine.PhaseTickets: true, engine.PhaseCatalog: true,
	engine.PhaseInventory: true, engine.PhaseMetafields: true, engine.PhaseDelivery: true,
	engine.PhasePublish: true,
}

func phaseLabel(name string) string {
	if knownPhases[name] {
		return name
	}
	return "other"
}

// labelCap bounds a label whose values come from data (error codes,
// GraphQL operation names): a value of an unexpected shape, or beyond the
// first max distinct ones, becomes "other", so that no input can make the
// registry grow without end.
type labelCap struct {
	max  int
	mu   sync.Mutex
	seen map[string]string
}

var labelShape = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

func newLabelCap(max int) *labelCap { return &labelCap{max: max, seen: map[string]string{}} }

func (l *labelCap) value(v string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.seen[v]; ok {
		return s
	}
	if len(l.seen) >= l.max || !labelShape.MatchString(v) {
		return "other"
	}
	s := strings.Clone(v) // never alias a caller's buffer
	l.seen[s] = s
	return s
}

var (
	descFileSize = prometheus.NewDesc("eventops_storage_file_size_bytes",
		"Size of the data file on disk (it never shrinks without a compaction).", nil, nil)
	descFreePages = prometheus.NewDesc("eventops_storage_free_pages",
		"Pages of the data file free for reuse, pending ones included.", nil, nil)
	descOpenReadTxs = prometheus.NewDesc("eventops_storage_open_read_transactions",
		"Read transactions open now (a long one stalls the file's growth).", nil, nil)
	descCommits = prometheus.NewDesc("eventops_storage_commits_total",
		"Group commits since the file was opened (each costs two fsyncs).", nil, nil)
	descUpdates = prometheus.NewDesc("eventops_storage_updates_total",
		"Update functions committed since the file was opened (several share a commit).", nil, nil)
	descWSClients = prometheus.NewDesc("eventops_websocket_clients",
		"Dashboard websockets open now.", nil, nil)
)

// storageCollector reads the data file's statistics at scrape time.
type storageCollector struct{ m *Metrics }

func (storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFileSize, descFreePages, descOpenReadTxs, descCommits, descUpdates} {
		ch <- d
	}
}

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	figures := c.m.storage.Load()
	if figures == nil {
		return
	}
	h, err := (*figures)()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descFileSize, fmt.Errorf("storage statistics: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(descFileSize, prometheus.GaugeValue, float64(h.FileSize))
	ch <- prometheus.MustNewConstMetric(descFreePages, prometheus.GaugeValue, float64(h.FreePages))
	ch <- prometheus.MustNewConstMetric(descOpenReadTxs, prometheus.GaugeValue, float64(h.OpenReadTxs))
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(h.Commits))
	ch <- prometheus.MustNewConstMetric(descUpdates, prometheus.CounterValue, float64(h.Updates))
}

// wsClientsCollector reads the hub's count at scrape time; 0 until a hub
// is watched.
type wsClientsCollector struct{ m *Metrics }

func (wsClientsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descWSClients }

func (c wsClientsCollector) Collect(ch chan<- prometheus.Metric) {
	n := 0
	if f := c.m.wsClients.Load(); f != nil {
		n = (*f)()
	}
	ch <- prometheus.MustNewConstMetric(descWSClients, prometheus.GaugeValue, float64(n))
}
