-- Limits shared by every node of an installation (static/docs/postgres.md,
-- "What is shared between nodes"). Both live outside the kv table: they are
-- counters taken in one statement by any node, never part of a group
-- commit's SERIALIZABLE batch, and losing them in `store copy` loses only a
-- minute's counts.

-- +goose Up

-- rate_budget is the API rate limit's budget: one row per API key and
-- fixed one-minute window (unix minute of the node's clock), the requests
-- the nodes reserved of it. A node reserves blocks (rate_take), never past
-- the limit, and spends them locally.
create table rate_budget (
	key text not null,
	window_start bigint not null,
	used integer not null,
	primary key (key, window_start)
);

-- rate_take grants up to want requests of key's window w, of lim in all:
-- granted is how many (0: the window is spent), reserved how many every
-- node has reserved now, this grant included. Near the end of the budget
-- it grants half of what is left (at least 1) so that few requests are left
-- stranded in another node's block. The key's rows of older windows go
-- when its first block of a window is taken.
-- +goose StatementBegin
create function rate_take(k text, w bigint, lim integer, want integer, out granted integer, out reserved integer)
language plpgsql as $$
declare
	old integer;
begin
	insert into rate_budget (key, window_start, used) values (k, w, 0)
		on conflict (key, window_start) do nothing;
	if found then
		delete from rate_budget where key = k and window_start < w;
	end if;
	select r.used into old from rate_budget r where r.key = k and r.window_start = w for update;
	granted := greatest(0, least(want, lim - old, greatest(1, (lim - old) / 2)));
	reserved := old + granted;
	if granted > 0 then
		update rate_budget set used = reserved where key = k and window_start = w;
	end if;
end
$$;
-- +goose StatementEnd

-- login_bucket is the dashboard's sign-in limiter: a token bucket per
-- client IP and per email (key: the SHA-256 of "ip:…" or "email:…", so that
-- the table keeps no address), refilled by the database's clock.
create table login_bucket (
	key bytea primary key,
	tokens double precision not null,
	at timestamptz not null
);
create index login_bucket_at on login_bucket (at);

-- login_take takes a token from every key's bucket, or from none, and
-- returns 0, or the seconds until the attempt would be allowed. Buckets
-- full again (untouched for burst × refill) are deleted after an allowed
-- attempt.
-- +goose StatementBegin
create function login_take(ks bytea[], burst double precision, refill double precision) returns double precision
language plpgsql as $$
declare
	t timestamptz := now();
	wait double precision := 0;
	r record;
begin
	-- Rows are locked in key order (the inserts too), so that two attempts
	-- naming the same keys in another order never deadlock.
	insert into login_bucket (key, tokens, at)
		select k, burst, t from (select distinct k from unnest(ks) as k order by k) as sorted
		on conflict (key) do nothing;
	for r in select key, least(burst, tokens + extract(epoch from t - at) / refill) as tokens
		from login_bucket where key = any(ks) order by key for update
	loop
		if r.tokens < 1 then
			wait := greatest(wait, (1 - r.tokens) * refill);
		end if;
	end loop;
	if wait > 0 then
		return wait;
	end if;
	update login_bucket set tokens = least(burst, tokens + extract(epoch from t - at) / refill) - 1, at = t
		where key = any(ks);
	-- Buckets untouched for burst × refill are full again: forgetting
	-- them changes nothing (those of this attempt were just touched).
	delete from login_bucket where at < t - make_interval(secs => burst * refill);
	return 0;
end
$$;
-- +goose StatementEnd

-- login_refund gives back the token a successful sign-in took.
-- +goose StatementBegin
create function login_refund(ks bytea[], burst double precision, refill double precision) returns void
language plpgsql as $$
declare
	t timestamptz := now();
begin
	update login_bucket set tokens = least(burst, tokens + extract(epoch from t - at) / refill + 1), at = t
		where key = any(ks);
end
$$;
-- +goose StatementEnd

-- +goose Down
drop function login_refund(bytea[], double precision, double precision);
drop function login_take(bytea[], double precision, double precision);
drop table login_bucket;
drop function rate_take(text, bigint, integer, integer, out integer, out integer);
drop table rate_budget;
