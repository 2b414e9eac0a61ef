-- Claims by lease (storage/leases.go). A node is alive while its heartbeat
-- row has not expired; a queue (an event's operations, or a series' with its
-- occurrences) is claimed by one node at a time: owner names the node, epoch
-- grows at every claim, and every commit of a run checks both (FOR SHARE),
-- so a node that lost the queue can never commit over its successor.

-- +goose Up
create table nodes (
	owner text primary key,
	expires_at timestamptz not null
);

create table queues (
	queue_id bigint primary key,
	owner text,
	epoch bigint not null default 0,
	not_before timestamptz not null default '-infinity'
);

-- A cancel asked on one node for an operation a live other node runs: the
-- owner reads these with its heartbeat and delivers them to its run.
create table cancel_asks (
	op_id bigint primary key,
	queue_id bigint not null
);

-- +goose Down
drop table cancel_asks;
drop table queues;
drop table nodes;
