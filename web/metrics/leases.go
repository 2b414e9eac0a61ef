package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// LeaseFigures are a node's claims by lease and its database connections
// (PostgreSQL, several nodes; zero on bbolt).
type LeaseFigures struct {
	Held      int    // queues this node holds now
	Takeovers uint64 // queues taken over from nodes whose lease expired
	PoolInUse int    // database connections in use
	PoolIdle  int    // database connections open and idle
	PoolMax   int    // the pool's bound
}

var (
	descLeasesHeld = prometheus.NewDesc("eventops_leases_held",
		"Operation queues this node holds by lease (PostgreSQL; 0 on bbolt).", nil, nil)
	descLeaseTakeovers = prometheus.NewDesc("eventops_lease_takeovers_total",
		"Operation queues this node took over from a node whose lease had expired.", nil, nil)
	descPool = prometheus.NewDesc("eventops_db_pool_connections",
		"PostgreSQL connections of this node's pool, by state (in_use, idle); 0 on bbolt.", []string{"state"}, nil)
	descPoolMax = prometheus.NewDesc("eventops_db_pool_max_connections",
		"The bound of this node's PostgreSQL connection pool; 0 on bbolt.", nil, nil)
)

// WatchLeases makes the lease series call figures at scrape time.
func (m *Metrics) WatchLeases(figures func() LeaseFigures) {
	if m != nil {
		m.leases.Store(&figures)
	}
}

type leaseCollector struct {
	f *atomic.Pointer[func() LeaseFigures]
}

func (leaseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLeasesHeld
	ch <- descLeaseTakeovers
	ch <- descPool
	ch <- descPoolMax
}

func (c leaseCollector) Collect(ch chan<- prometheus.Metric) {
	var f LeaseFigures
	if p := c.f.Load(); p != nil {
		f = (*p)()
	}
	ch <- prometheus.MustNewConstMetric(descLeasesHeld, prometheus.GaugeValue, float64(f.Held))
	ch <- prometheus.MustNewConstMetric(descLeaseTakeovers, prometheus.CounterValue, float64(f.Takeovers))
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(f.PoolInUse), "in_use")
	ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(f.PoolIdle), "idle")
	ch <- prometheus.MustNewConstMetric(descPoolMax, prometheus.GaugeValue, float64(f.PoolMax))
}
