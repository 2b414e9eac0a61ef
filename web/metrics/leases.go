package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// LeaseFigures are a node's claims by lease (PostgreSQL, several nodes).
type LeaseFigures struct {
	Held      int    // queues this node holds now
	Takeovers uint64 // queues taken over from nodes whose lease expired
}

var (
	descLeasesHeld = prometheus.NewDesc("eventops_leases_held",
		"Operation queues this node holds by lease (PostgreSQL; 0 on bbolt).", nil, nil)
	descLeaseTakeovers = prometheus.NewDesc("eventops_lease_takeovers_total",
		"Operation queues this node took over from a node whose lease had expired.", nil, nil)
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
}

func (c leaseCollector) Collect(ch chan<- prometheus.Metric) {
	var f LeaseFigures
	if p := c.f.Load(); p != nil {
		f = (*p)()
	}
	ch <- prometheus.MustNewConstMetric(descLeasesHeld, prometheus.GaugeValue, float64(f.Held))
	ch <- prometheus.MustNewConstMetric(descLeaseTakeovers, prometheus.CounterValue, float64(f.Takeovers))
}
