--
-- usage_sources.sql: registering the hot standbys whose usage counts are
-- evidence (issue 13).  Only superusers may add or drop a source, both are
-- recorded in the history, a connection string carrying a password is
-- refused, and each kind of bad source gets a clear status from a
-- collection, none a hang: unreachable, wrong credentials, this server
-- itself, a database without the extension.  In contract a source that
-- cannot be read is a blocker naming it and why (a warning with
-- require_usage_evidence off).  The standbys themselves are in
-- test/t/014_usage_sources.pl.
--
CREATE FUNCTION source_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text; msg text; detail text; hint text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN format(E'%s: %s\nDETAIL: %s\nHINT: %s', state, msg, detail, hint);
END
$$;
-- Sentences with their times and the test server's socket masked.
CREATE FUNCTION masked(sentences text[]) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(s,
			'[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d(\.\d+)? \d{4} [A-Z]+', 'TIMESTAMP', 'g'),
		'socket "[^"]*"', 'socket "SOCKET"', 'g')
	FROM unnest(sentences) s
$$;

SHOW phased_change.usage_source_timeout;

-- Only superusers, even with EXECUTE granted.
CREATE ROLE regress_source_operator;
GRANT EXECUTE ON FUNCTION phase_usage_source_add(text, text), phase_usage_source_drop(text)
	TO regress_source_operator;
SET ROLE regress_source_operator;
SELECT source_try($$SELECT phase_usage_source_add('replica', 'host=127.0.0.1 port=1')$$);
SELECT source_try($$SELECT phase_usage_source_drop('replica')$$);
SELECT source_try($$SELECT phased_change.usage_sources_collect()$$);
SELECT source_try($$SELECT * FROM phased_change.usage_sources$$);
RESET ROLE;

-- Bad input changes nothing.
SELECT source_try($$SELECT phase_usage_source_add(NULL, 'host=127.0.0.1')$$);
SELECT source_try($$SELECT phase_usage_source_add(' ', 'host=127.0.0.1')$$);
SELECT source_try($$SELECT phase_usage_source_add('replica', NULL)$$);
SELECT source_try($$SELECT phase_usage_source_add('primary', 'host=127.0.0.1')$$);
SELECT source_try($$SELECT phase_usage_source_add('replica', 'host=127.0.0.1 port')$$);
SELECT source_try($$SELECT phase_usage_source_add('replica', 'nosuchkeyword=1')$$);
-- Credentials live in the server's password file or certificates.
SELECT source_try($$SELECT phase_usage_source_add('replica', 'host=127.0.0.1 password=secret')$$);
SELECT source_try($$SELECT phase_usage_source_add('replica', 'postgresql://collector:secret@127.0.0.1:5432/db')$$);
SELECT source_try($$SELECT phase_usage_source_add('replica', 'host=127.0.0.1 sslpassword=secret')$$);
SELECT source_try($$SELECT phase_usage_source_drop('replica')$$);
SELECT count(*) FROM phased_change.usage_sources;
SELECT count(*) FROM phased_change.history WHERE event LIKE 'usage_source%';

-- Four bad sources.  A port nobody listens on; a role that does not
-- exist; this server itself; a database without the extension.
SELECT phase_usage_source_add('unreachable', 'host=127.0.0.1 port=1');
SELECT phase_usage_source_add('no-such-role',
	format('host=%s port=%s user=regress_no_such_role',
		   split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT phase_usage_source_add('itself',
	format('host=%s port=%s',
		   split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT phase_usage_source_add('no-extension',
	format('host=%s port=%s dbname=postgres',
		   split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT source_try($$SELECT phase_usage_source_add('unreachable', 'host=127.0.0.1 port=2')$$);
SELECT name, reachable, status, last_error, last_collected_at, tracking_since
FROM phased_change.usage_sources ORDER BY name;
SELECT name, conninfo FROM phased_change.usage_sources WHERE name = 'unreachable';

SELECT phased_change.usage_sources_collect();
SELECT name, reachable, status, last_collected_at IS NOT NULL AS collected,
	   last_attempted_at IS NOT NULL AS attempted,
	   masked(ARRAY[last_error]) AS last_error
FROM phased_change.usage_sources ORDER BY name;

-- Added and dropped sources are in the history.
SELECT event, plan, detail ->> 'source' AS source
FROM phased_change.history WHERE event LIKE 'usage_source%' ORDER BY event_id;

-- In contract, a source that cannot be read blocks, by name and why; this
-- server itself does not.
CREATE TABLE source_profile (id int, legacy text, current text);
SELECT phase_plan_create('sourced', 'evidence from standbys', '0');
SELECT phase_retire('sourced', 'source_profile', 'legacy');
SELECT phase_advance('sourced');
SELECT phase_advance('sourced');
SELECT phase_verify('sourced');
SELECT masked(blockers) AS blocker FROM phased_change.progress WHERE plan = 'sourced';
SELECT next_step FROM phased_change.progress WHERE plan = 'sourced';
SELECT source_try($$SELECT phase_advance('sourced')$$) ~ 'Usage source "unreachable" could not be read' AS refused;

-- Dropping the unreadable sources lifts the blockers.
SELECT phase_usage_source_drop('unreachable');
SELECT phase_usage_source_drop('no-such-role');
SELECT phase_usage_source_drop('no-extension');
SELECT source_try($$SELECT phase_usage_source_drop('unreachable')$$);
SELECT masked(blockers) AS blocker FROM phased_change.progress WHERE plan = 'sourced';

-- With require_usage_evidence off, a gap is a warning.
SELECT phase_usage_source_add('unreachable', 'host=127.0.0.1 port=1');
SELECT phase_verify('sourced');
SET phased_change.require_usage_evidence = off;
SELECT masked(blockers) AS blocker FROM phased_change.progress WHERE plan = 'sourced';
SELECT w AS warning FROM phased_change.progress, masked(warnings) w
WHERE plan = 'sourced' AND w LIKE 'Usage source%';
SELECT phase_advance('sourced');
RESET phased_change.require_usage_evidence;

-- column_usage: one row per guarded object and node.
SELECT phase_plan_create('sourced-2', 'column_usage per node', '0');
SELECT phase_retire('sourced-2', 'source_profile', 'current');
SELECT node, "column" FROM phased_change.column_usage WHERE plan = 'sourced-2' ORDER BY node;

SELECT phase_abandon('sourced-2', 'done');
SELECT phase_usage_source_drop('unreachable');
SELECT phase_usage_source_drop('itself');
SELECT phase_abandon('sourced', 'done');
DROP TABLE source_profile;
REVOKE EXECUTE ON FUNCTION phase_usage_source_add(text, text), phase_usage_source_drop(text)
	FROM regress_source_operator;
DROP ROLE regress_source_operator;
DROP FUNCTION source_try(text);
DROP FUNCTION masked(text[]);
