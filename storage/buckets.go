package storage

// table is a primary bucket and the noun its errors use.
type table struct {
	name []byte
	noun string
}

var (
	tbCompanies        = table{[]byte("companies"), "company"}
	tbAPIKeys          = table{[]byte("apikeys"), "api key"}
	tbUsers            = table{[]byte("users"), "user"}
	tbVenues           = table{[]byte("venues"), "venue"}
	tbTicketTypes      = table{[]byte("ticket_types"), "ticket type"}
	tbEvents           = table{[]byte("events"), "event"}
	tbTicketStructures = table{[]byte("ticket_structures"), "ticket structure"}
	tbOrders           = table{[]byte("orders"), "order"}
	tbOperations       = table{[]byte("operations"), "operation"}
	tbIdempotency      = table{[]byte("idempotency"), "idempotency record"}
	tbAliasUses        = table{[]byte("alias_uses"), "alias use"}
	tbWebhooks         = table{[]byte("webhooks"), "webhook delivery"}          // storage/webhooks.go
	tbSessions         = table{[]byte("sessions"), "staff session"}             // storage/sessions.go
	tbEndpoints        = table{[]byte("webhook_endpoints"), "webhook endpoint"} // storage/outbox.go
	tbDeliveries       = table{[]byte("webhook_deliveries"), "outbound delivery"}

	tables = []table{
		tbCompanies, tbAPIKeys, tbUsers, tbVenues, tbTicketTypes, tbEvents,
		tbTicketStructures, tbOrders, tbOperations, tbIdempotency, tbAliasUses,
		tbWebhooks, tbSessions, tbEndpoints, tbDeliveries,
	}
)

var (
	bkMeta = []byte("meta") // schema version
	bkSeq  = []byte("seq")  // one counter per engine.Sequence
)

// index identifies an index bucket. The numbers are stored in record headers:
// never renumber or reuse one.
type index uint8

const (
	idxAPIKeyHash index = iota + 1
	idxAPIKeyCompany
	idxUserEmail
	idxVenueCompany
	idxTicketTypeCompany
	idxEventCompany
	idxEventStart
	idxEventName
	idxEventParent
	idxOrderEvent
	idxOpEvent
	idxOpCompany
	idxOpStatus
	idxOpCompanyStatus
	idxOpCompanyAction
	idxOpCompanyCode
	idxOpAction
	idxOpCode
	idxIdempotencyCreated
	idxOpFinished
	idxWebhookReceived // storage/webhooks.go
	idxOrderShopify    // storage/webhooks.go
	idxSessionUser     // storage/sessions.go
	idxSessionExpires  // storage/sessions.go
	idxEndpointCompany // storage/outbox.go
	idxDeliveryEndpoint
	idxDeliveryCompany
	idxDeliveryDue
	idxDeliveryPending
	idxDeliveryFinished
	// idxOpQueueActive holds (queue, id) of every unfinished operation: a
	// queue's head is its first key (storage/leases.go).
	idxOpQueueActive
)

// indexBuckets names each index's bucket.
var indexBuckets = map[index][]byte{
	idxAPIKeyHash:         []byte("idx_apikey_hash"),
	idxAPIKeyCompany:      []byte("idx_apikey_company"),
	idxUserEmail:          []byte("idx_user_email"),
	idxVenueCompany:       []byte("idx_venue_company"),
	idxTicketTypeCompany:  []byte("idx_tickettype_company"),
	idxEventCompany:       []byte("idx_event_company"),
	idxEventStart:         []byte("idx_event_start"),
	idxEventName:          []byte("idx_event_name"),
	idxEventParent:        []byte("idx_event_parent"),
	idxOrderEvent:         []byte("idx_order_event"),
	idxOpEvent:            []byte("idx_op_event"),
	idxOpCompany:          []byte("idx_op_company"),
	idxOpStatus:           []byte("idx_op_status"),
	idxOpCompanyStatus:    []byte("idx_op_company_status"),
	idxOpCompanyAction:    []byte("idx_op_company_action"),
	idxOpCompanyCode:      []byte("idx_op_company_code"),
	idxOpAction:           []byte("idx_op_action"),
	idxOpCode:             []byte("idx_op_code"),
	idxIdempotencyCreated: []byte("idx_idempotency_created"),
	idxOpFinished:         []byte("idx_op_finished"),
	idxWebhookReceived:    []byte("idx_webhook_received"),
	idxOrderShopify:       []byte("idx_order_shopify"),
	idxSessionUser:        []byte("idx_session_user"),
	idxSessionExpires:     []byte("idx_session_expires"),
	idxEndpointCompany:    []byte("idx_endpoint_company"),
	idxDeliveryEndpoint:   []byte("idx_delivery_endpoint"),
	idxDeliveryCompany:    []byte("idx_delivery_company"),
	idxDeliveryDue:        []byte("idx_delivery_due"),
	idxDeliveryPending:    []byte("idx_delivery_pending"),
	idxDeliveryFinished:   []byte("idx_delivery_finished"),
	idxOpQueueActive:      []byte("idx_op_queue_active"),
}

// allBuckets lists every top-level bucket Open makes sure exists.
func allBuckets() [][]byte {
	out := [][]byte{bkMeta, bkSeq}
	for _, t := range tables {
		out = append(out, t.name)
	}
	for _, name := range indexBuckets {
		out = append(out, name)
	}
	return out
}
