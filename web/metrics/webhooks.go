package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookFigures are the outbound webhooks' figures, read at scrape time:
// attempts by how they ended since start, and the age of the oldest
// delivery still pending (0 when none waits).
type WebhookFigures struct {
	Delivered, Retried, Failed uint64
	OldestPendingSeconds       float64
}

var (
	descWebhookAttempts = prometheus.NewDesc("eventops_webhook_deliveries_total",
		"Outbound webhook attempts by outcome since start: delivered (2xx), retried (failed, another attempt scheduled), failed (given up).",
		[]string{"outcome"}, nil)
	descWebhookOldest = prometheus.NewDesc("eventops_webhook_oldest_pending_seconds",
		"Age of the oldest outbound webhook delivery not yet delivered or given up (0: none).", nil, nil)
)

// WatchWebhooks makes the webhook series call figures at scrape time; the
// last call wins.
func (m *Metrics) WatchWebhooks(figures func() (WebhookFigures, error)) {
	if m != nil {
		m.webhooks.Store(&figures)
	}
}

type webhookCollector struct{ m *Metrics }

func (webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWebhookAttempts
	ch <- descWebhookOldest
}

func (c webhookCollector) Collect(ch chan<- prometheus.Metric) {
	var f WebhookFigures
	if fn := c.m.webhooks.Load(); fn != nil {
		var err error
		if f, err = (*fn)(); err != nil {
			ch <- prometheus.NewInvalidMetric(descWebhookOldest, fmt.Errorf("webhook figures: %w", err))
			return
		}
	}
	ch <- prometheus.MustNewConstMetric(descWebhookAttempts, prometheus.CounterValue, float64(f.Delivered), "delivered")
	ch <- prometheus.MustNewConstMetric(descWebhookAttempts, prometheus.CounterValue, float64(f.Retried), "retried")
	ch <- prometheus.MustNewConstMetric(descWebhookAttempts, prometheus.CounterValue, float64(f.Failed), "failed")
	ch <- prometheus.MustNewConstMetric(descWebhookOldest, prometheus.GaugeValue, f.OldestPendingSeconds)
}
