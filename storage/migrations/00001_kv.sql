-- The buckets of the bbolt layout (see storage/doc.go), as one table: every
-- record, index entry, counter and meta value is a row of its bucket, and a
-- cursor is an ordered range query on the primary key (bytea compares as
-- bbolt's keys do, byte by byte).

-- +goose Up
create table kv (
	bucket text not null,
	k bytea not null,
	v bytea not null,
	primary key (bucket, k)
) with (fillfactor = 90);

-- +goose Down
drop table kv;
