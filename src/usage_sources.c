/*-------------------------------------------------------------------------
 *
 * usage_sources.c
 *		Usage sources: the hot standbys whose reads of retired objects are
 *		evidence too, read by the primary over libpq.
 *
 * A standby with the library preloaded counts the uses of guarded objects
 * there exactly as the primary does (usage.c); its catalog is the
 * primary's, so objects match by object_id.  The primary reads each
 * registered source's counts (phased_change.usage_counts() there) and
 * keeps them in phased_change.usage_source_count, with the source's
 * status: collected, unreadable (and why), or this server itself.  It also
 * keeps its own latest counts per server (system identifier and timeline),
 * in phased_change.usage_primary and usage_primary_count: they are
 * replicated, so that after a failover the new primary knows up to when
 * the former primary's evidence reaches.  The progress view reads all of
 * it through phased_change.usage_evidence() (SQL).
 *
 * A collection runs on the primary only: in the scheduler's per-database
 * tick (usage_sources_collect_all), and afresh inside phase_verify and
 * phase_advance of a plan in contract (plan.c), so that an advance decides
 * on current evidence.  Every connection and query is bounded by
 * phased_change.usage_source_timeout and waits on the latch, so that a
 * source that hangs costs at most that long and a cancel interrupts it; a
 * remote failure is a status, never an error of the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "phased_change.h"
#include "usage_sources.h"

PG_FUNCTION_INFO_V1(phase_usage_source_add);
PG_FUNCTION_INFO_V1(phase_usage_source_drop);
PG_FUNCTION_INFO_V1(usage_sources_collect);
PG_FUNCTION_INFO_V1(usage_node);

/* How long one source may take to connect, and to answer (ms). */
static int	usage_source_timeout = 2000;

/*
 * The query a source answers: who it is (which server, which database),
 * its tracker, its counts.
 */
#define SOURCE_QUERY \
	"SELECT n.in_recovery, n.key, n.system_identifier, n.replication_name," \
	"  n.database_oid, pg_catalog.current_database()," \
	"  t.preloaded, t.tracking_since, t.uncounted," \
	"  c.object_id, c.reads, c.writes, c.first_seen, c.last_seen," \
	"  c.last_role, c.last_application_name" \
	" FROM phased_change.usage_node() n" \
	" CROSS JOIN phased_change.usage_tracking() t" \
	" LEFT JOIN phased_change.usage_counts() c ON true"

/* Columns of SOURCE_QUERY. */
enum
{
	SQ_IN_RECOVERY,
	SQ_KEY,
	SQ_SYSTEM_IDENTIFIER,
	SQ_REPLICATION_NAME,
	SQ_DATABASE_OID,
	SQ_DATABASE_NAME,
	SQ_PRELOADED,
	SQ_TRACKING_SINCE,
	SQ_UNCOUNTED,
	SQ_OBJECT_ID				/* then the counts, as usage_counts() */
};

#define SQ_COUNT_COLUMNS 7

/* The outcome of reading one source. */
typedef struct SourceReading
{
	const char *status;			/* collected, unreadable or this server */
	char	   *error;			/* why, in words (NULL when collected) */
	PGresult   *result;			/* the rows, when collected */
} SourceReading;

/*
 * usage_sources_define_settings
 *		Called from _PG_init.
 */
void
usage_sources_define_settings(void)
{
	DefineCustomIntVariable("phased_change.usage_source_timeout",
							"How long the primary waits for a usage source to connect, and then to answer.",
							"A source that takes longer is unreadable for that collection.",
							&usage_source_timeout, 2000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

/*
 * server_key
 *		What tells this running server from any other, a standby of the same
 *		system included: the system identifier and the postmaster's start.
 */
static char *
server_key(void)
{
	return psprintf(UINT64_FORMAT "/" INT64_FORMAT, GetSystemIdentifier(), (int64) PgStartTime);
}

/*
 * require_primary
 *		Usage sources are registered and collected on the primary only.
 */
static void
require_primary(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot %s during recovery", what),
				 errdetail("Usage sources are registered and read on the primary; a standby replays them."),
				 errhint("Run it on the primary.")));
}

/*
 * require_superuser
 *		Collection connects with the server's own credentials (its password
 *		file, its certificates): only superusers may say where to.
 */
static void
require_superuser(const char *name, const char *what)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s usage source \"%s\"", what, name),
				 errdetail("Only superusers may register or drop usage sources: the server connects to them with its own credentials.")));
}

/*
 * conninfo_check
 *		A usage source's connection string must parse and must not carry a
 *		secret: the catalog is dumped, replicated and read by auditors.
 *		Credentials live in the password file of the server's operating
 *		system user, or in certificates.
 */
static void
conninfo_check(const char *name, const char *conninfo)
{
	char	   *error = NULL;
	PQconninfoOption *options = PQconninfoParse(conninfo, &error);

	if (options == NULL)
	{
		char	   *detail = error ? pstrdup(error) : pstrdup("out of memory");

		if (error)
			PQfreemem(error);
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid connection string for usage source \"%s\"", name),
				 errdetail_internal("%s", pchomp(detail))));
	}
	for (PQconninfoOption *option = options; option->keyword != NULL; option++)
	{
		if ((strcmp(option->keyword, "password") == 0 ||
			 strcmp(option->keyword, "sslpassword") == 0) &&
			option->val != NULL && option->val[0] != '\0')
		{
			char	   *keyword = pstrdup(option->keyword);

			PQconninfoFree(options);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("connection string of usage source \"%s\" must not contain a password", name),
					 errdetail("It sets \"%s\", and the catalog keeps connection strings where pg_dump, replicas and auditors read them.",
							   keyword),
					 errhint("Put the password in the password file of the server's operating system user (~/.pgpass, or passfile=), or use a client certificate.")));
		}
	}
	PQconninfoFree(options);
}

/*
 * source_history
 *		Record the addition or removal of a source in the history (no plan).
 */
static void
source_history(const Caller *caller, const char *event_name, const char *name,
			   const char *conninfo)
{
	PlanRow		none = {0};
	HistoryEvent event = {NULL, PHASE_NONE, PHASE_NONE, false, -1, NULL};

	none.now = GetCurrentTimestamp();
	none.entered_at = none.now;
	event.event = event_name;
	event.detail = history_detail("source", name, "conninfo", conninfo, NULL);
	history_record(&none, caller, &event);
}

/*
 * phase_usage_source_add(name text, conninfo text)
 *		Register a hot standby whose usage counts are evidence.  Nothing is
 *		connected here: the next collection says how it went.
 */
Datum
phase_usage_source_add(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "name");
	char	   *conninfo = arg_text(fcinfo, 1, "conninfo");
	Caller		caller = caller_identify();
	CatalogSession session;
	Oid			argtypes[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[4];

	require_superuser(name, "add");
	require_primary("add a usage source");
	if (strcmp(name, "primary") == 0 || strncmp(name, "former primary", 14) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("usage source name \"%s\" is reserved", name),
				 errdetail("phased_change.column_usage names the primary's own usage \"primary\", and a former primary's \"former primary\".")));
	conninfo_check(name, conninfo);

	catalog_begin(&session);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(conninfo);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(caller.role_name));
	if (SPI_execute_with_args("INSERT INTO phased_change.usage_source"
							  " (name, conninfo, added_at, added_by) VALUES ($1, $2, $3, $4)"
							  " ON CONFLICT (name) DO NOTHING",
							  4, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not add usage source \"%s\"", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("usage source \"%s\" already exists", name),
				 errhint("To change its connection string, drop it with SELECT phase_usage_source_drop(%s) and add it again.",
						 quote_literal_cstr(name))));
	source_history(&caller, "usage_source_added", name, conninfo);
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * phase_usage_source_drop(name text)
 *		Stop counting a source's usage as evidence; its collected counts go
 *		with it.
 */
Datum
phase_usage_source_drop(PG_FUNCTION_ARGS)
{
	char	   *name = arg_name(fcinfo, 0, "name");
	Caller		caller = caller_identify();
	CatalogSession session;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	require_superuser(name, "drop");
	require_primary("drop a usage source");

	catalog_begin(&session);
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("DELETE FROM phased_change.usage_source WHERE name = $1"
							  " RETURNING conninfo",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not drop usage source \"%s\"", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("usage source \"%s\" does not exist", name),
				 errhint("SELECT name FROM phased_change.usage_sources lists them.")));
	source_history(&caller, "usage_source_dropped", name,
				   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	catalog_end(&session);
	PG_RETURN_VOID();
}

/*
 * libpq_message
 *		A libpq error as one line: its lines joined by "; ", without the
 *		indented hints ("Is the server running on that host...?") and the
 *		double spaces of "FATAL:  ".
 */
static char *
libpq_message(const char *message)
{
	StringInfoData buf;
	bool		line_start = true;
	bool		skip_line = false;
	bool		space = false;

	initStringInfo(&buf);
	for (const char *c = message ? message : ""; *c; c++)
	{
		if (*c == '\n')
		{
			line_start = true;
			skip_line = false;
			continue;
		}
		if (line_start)
		{
			line_start = false;
			skip_line = (*c == '\t' || *c == ' ');
			if (!skip_line && buf.len > 0)
				appendStringInfoString(&buf, "; ");
			space = false;
		}
		if (skip_line)
			continue;
		if (*c == ' ' || *c == '\t')
			space = true;
		else
		{
			if (space)
				appendStringInfoChar(&buf, ' ');
			space = false;
			appendStringInfoChar(&buf, *c);
		}
	}
	return buf.len > 0 ? buf.data : pstrdup("unknown error");
}

/*
 * source_wait
 *		Wait until the connection's socket is ready for "events", the
 *		deadline passes (false), or an interrupt comes (handled at once:
 *		a cancel raises, the caller's PG_TRY closes the connection).
 */
static bool
source_wait(PGconn *conn, int events, TimestampTz deadline)
{
	for (;;)
	{
		long		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		int			rc;

		if (remaining <= 0)
			return false;
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
							   PQsocket(conn), remaining, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc & events)
			return true;
	}
}

/*
 * source_connect_params
 *		The source's connection string, completed: this database when it
 *		names none, the statement timeout and output formats in options, and
 *		an application_name that says who connects, as the keyword and value
 *		arrays of PQconnectStartParams (ending with NULL).
 */
static void
source_connect_params(const char *conninfo, const char ***keywords, const char ***values)
{
	PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
	int			n = 0;
	int			size = 4;
	bool		has_dbname = false;
	char	   *user_options = NULL;

	if (options == NULL)
		elog(ERROR, "could not parse a stored connection string");
	for (PQconninfoOption *option = options; option->keyword != NULL; option++)
		size++;
	*keywords = palloc0(sizeof(char *) * size);
	*values = palloc0(sizeof(char *) * size);
	for (PQconninfoOption *option = options; option->keyword != NULL; option++)
	{
		if (option->val == NULL || option->val[0] == '\0')
			continue;
		if (strcmp(option->keyword, "options") == 0)
		{
			user_options = pstrdup(option->val);
			continue;
		}
		has_dbname = has_dbname || strcmp(option->keyword, "dbname") == 0;
		(*keywords)[n] = pstrdup(option->keyword);
		(*values)[n++] = pstrdup(option->val);
	}
	PQconninfoFree(options);
	if (!has_dbname)
	{
		(*keywords)[n] = "dbname";
		(*values)[n++] = get_database_name(MyDatabaseId);
	}
	(*keywords)[n] = "options";
	(*values)[n++] = psprintf("%s%s-c statement_timeout=%d -c datestyle=ISO -c timezone=UTC",
							  user_options ? user_options : "", user_options ? " " : "",
							  usage_source_timeout);
	(*keywords)[n] = "fallback_application_name";
	(*values)[n++] = "phased_change usage collection";
}

/*
 * source_reserve_descriptor
 *		Reserve the descriptor of the connection's socket, as dblink and
 *		postgres_fdw do, so that it never takes one the backend's own files
 *		need; and make sure that one more is free for the wait set (epoll)
 *		that each wait creates and frees, which would otherwise raise an
 *		error in the middle of a collection.  Returns false, reserving
 *		nothing, when either is missing.
 */
static bool
source_reserve_descriptor(void)
{
	if (!AcquireExternalFD())
		return false;
	if (!AcquireExternalFD())
	{
		ReleaseExternalFD();
		return false;
	}
	ReleaseExternalFD();		/* the wait set's: only checked */
	return true;
}

/*
 * source_query
 *		Connect to one source and run SOURCE_QUERY, within the timeout
 *		(twice usage_source_timeout at most: once to connect, once to
 *		answer).  Returns the result, or NULL with *error set.  The
 *		connection never outlives the call, an interrupt included.
 *
 *		The connection's socket is reserved (source_reserve_descriptor):
 *		when no descriptor is left, the source is unreadable for this
 *		collection.
 */
static PGresult *
source_query(const char *conninfo, char **error)
{
	const char **keywords;
	const char **values;
	PGconn	   *volatile conn = NULL;
	PGresult   *volatile result = NULL;

	source_connect_params(conninfo, &keywords, &values);
	*error = NULL;
	if (!source_reserve_descriptor())
	{
		*error = pstrdup("too many open files on this server: no file descriptor is left for the connection"
						 " (raise max_files_per_process or \"ulimit -n\")");
		return NULL;
	}
	PG_TRY();
	{
		PostgresPollingStatusType status = PGRES_POLLING_WRITING;
		TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   usage_source_timeout);

		conn = PQconnectStartParams(keywords, values, 0);
		if (conn == NULL)
			*error = pstrdup("out of memory");
		else if (PQstatus(conn) == CONNECTION_BAD)
			*error = libpq_message(PQerrorMessage(conn));
		while (*error == NULL && status != PGRES_POLLING_OK)
		{
			if (!source_wait(conn, status == PGRES_POLLING_READING ?
							 WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE, deadline))
				*error = psprintf("could not connect within %d ms", usage_source_timeout);
			else if ((status = PQconnectPoll(conn)) == PGRES_POLLING_FAILED)
				*error = libpq_message(PQerrorMessage(conn));
		}

		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), usage_source_timeout);
		if (*error == NULL && !PQsendQuery(conn, SOURCE_QUERY))
			*error = libpq_message(PQerrorMessage(conn));
		while (*error == NULL)
		{
			PGresult   *next;

			while (*error == NULL && PQisBusy(conn))
			{
				if (!source_wait(conn, WL_SOCKET_READABLE, deadline))
					*error = psprintf("no answer within %d ms", usage_source_timeout);
				else if (!PQconsumeInput(conn))
					*error = libpq_message(PQerrorMessage(conn));
			}
			if (*error != NULL || (next = PQgetResult(conn)) == NULL)
				break;
			if (result == NULL)
				result = next;
			else
				PQclear(next);
		}
		if (*error == NULL && result == NULL)
			*error = pstrdup("no result");
		else if (*error == NULL && PQresultStatus(result) != PGRES_TUPLES_OK)
		{
			const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
			const char *message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);

			if (sqlstate && (strcmp(sqlstate, "3F000") == 0 || strcmp(sqlstate, "42883") == 0))
				*error = psprintf("phased_change 1.4 is not installed in that database (%s)",
								  libpq_message(message));
			else
				*error = libpq_message(message ? message : PQerrorMessage(conn));
		}
	}
	PG_CATCH();
	{
		if (result != NULL)
			PQclear(result);
		if (conn != NULL)
			PQfinish(conn);
		ReleaseExternalFD();
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	ReleaseExternalFD();
	if (*error != NULL && result != NULL)
	{
		PQclear(result);
		result = NULL;
	}
	return result;
}

/*
 * source_read
 *		Read one source and judge what it answered: a standby of this
 *		system, answering for this database (object ids come from a
 *		per-database sequence: another database's counts would be taken for
 *		this one's), with the library preloaded and its tracking complete,
 *		is collected; the primary itself is "this server"; anything else is
 *		unreadable, with the reason.
 */
static SourceReading
source_read(const char *conninfo)
{
	SourceReading reading = {"unreadable", NULL, NULL};
	PGresult   *result = source_query(conninfo, &reading.error);
	char	   *system_identifier = psprintf(INT64_FORMAT, (int64) GetSystemIdentifier());
	char	   *database_oid = psprintf("%u", MyDatabaseId);

	if (result == NULL)
		return reading;
	if (PQntuples(result) < 1)
		reading.error = pstrdup("it answered no row");
	else if (strcmp(PQgetvalue(result, 0, SQ_KEY), server_key()) == 0)
	{
		reading.status = "this server";
		reading.error = pstrdup("it is this server: its uses are counted as the primary's");
	}
	else if (strcmp(PQgetvalue(result, 0, SQ_IN_RECOVERY), "t") != 0)
		reading.error = pstrdup("it is not in recovery: a usage source must be a hot standby of this server");
	else if (strcmp(PQgetvalue(result, 0, SQ_SYSTEM_IDENTIFIER), system_identifier) != 0)
		reading.error = psprintf("it is a standby of another system (system identifier %s, this server's is %s)",
								 PQgetvalue(result, 0, SQ_SYSTEM_IDENTIFIER), system_identifier);
	else if (strcmp(PQgetvalue(result, 0, SQ_DATABASE_OID), database_oid) != 0)
		reading.error = psprintf("it answers for database \"%s\", not for this database \"%s\":"
								 " its object ids are another database's (name this database in dbname=, or leave dbname= out)",
								 PQgetvalue(result, 0, SQ_DATABASE_NAME),
								 get_database_name(MyDatabaseId));
	else if (strcmp(PQgetvalue(result, 0, SQ_PRELOADED), "t") != 0)
		reading.error = pstrdup("phased_change is not in shared_preload_libraries there: its uses are not counted");
	else if (strcmp(PQgetvalue(result, 0, SQ_UNCOUNTED), "0") != 0)
		reading.error = psprintf("its usage tracking is full (phased_change.max_tracked_columns): %s uses went uncounted",
								 PQgetvalue(result, 0, SQ_UNCOUNTED));
	else
	{
		reading.status = "collected";
		reading.result = result;
		return reading;
	}
	PQclear(result);
	return reading;
}

/* A text parameter from a result cell, NULL for SQL NULL. */
#define CELL(res, row, col) \
	(PQgetisnull((res), (row), (col)) ? (Datum) 0 : CStringGetTextDatum(PQgetvalue((res), (row), (col))))
#define CELL_NULL(res, row, col) (PQgetisnull((res), (row), (col)) ? 'n' : ' ')

/*
 * source_store
 *		Keep the outcome of a collection: the source's status and, when
 *		collected, its counts in place of the previous ones.
 */
static void
source_store(const char *name, const SourceReading *reading, TimestampTz at)
{
	bool		collected = strcmp(reading->status, "collected") == 0;
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	PGresult   *result = reading->result;

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(reading->status);
	values[2] = TimestampTzGetDatum(at);
	values[3] = reading->error ? CStringGetTextDatum(reading->error) : (Datum) 0;
	nulls[3] = reading->error ? ' ' : 'n';
	values[4] = collected ? CELL(result, 0, SQ_TRACKING_SINCE) : (Datum) 0;
	nulls[4] = collected ? CELL_NULL(result, 0, SQ_TRACKING_SINCE) : 'n';
	values[5] = collected ? CELL(result, 0, SQ_REPLICATION_NAME) : (Datum) 0;
	nulls[5] = collected ? CELL_NULL(result, 0, SQ_REPLICATION_NAME) : 'n';
	if (SPI_execute_with_args("UPDATE phased_change.usage_source SET"
							  " status = $2, attempted_at = $3, last_error = $4,"
							  " collected_at = CASE WHEN $2 = 'collected' THEN $3 ELSE collected_at END,"
							  " tracking_since = CASE WHEN $2 = 'collected' THEN $5::pg_catalog.timestamptz"
							  "                  ELSE tracking_since END,"
							  " replication_name = COALESCE($6, replication_name)"
							  " WHERE name = $1",
							  6, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update usage source \"%s\"", name);
	if (strcmp(reading->status, "unreadable") == 0)
		return;					/* its last counts stay: they are still uses */

	if (SPI_execute_with_args("DELETE FROM phased_change.usage_source_count WHERE source = $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not update the counts of usage source \"%s\"", name);
	for (int row = 0; collected && row < PQntuples(result); row++)
	{
		Oid			count_types[SQ_COUNT_COLUMNS + 1];
		Datum		count_values[SQ_COUNT_COLUMNS + 1];
		char		count_nulls[SQ_COUNT_COLUMNS + 1];

		if (PQgetisnull(result, row, SQ_OBJECT_ID))
			continue;			/* no counts: the one row of the tracker */
		count_types[0] = TEXTOID;
		count_values[0] = values[0];
		count_nulls[0] = ' ';
		for (int col = 0; col < SQ_COUNT_COLUMNS; col++)
		{
			count_types[col + 1] = TEXTOID;
			count_values[col + 1] = CELL(result, row, SQ_OBJECT_ID + col);
			count_nulls[col + 1] = CELL_NULL(result, row, SQ_OBJECT_ID + col);
		}
		if (SPI_execute_with_args("INSERT INTO phased_change.usage_source_count"
								  " (source, object_id, reads, writes, first_seen, last_seen,"
								  "  last_role, last_application_name)"
								  " VALUES ($1, $2::pg_catalog.int8, $3::pg_catalog.int8,"
								  "  $4::pg_catalog.int8, $5::pg_catalog.timestamptz,"
								  "  $6::pg_catalog.timestamptz, $7::pg_catalog.name, $8)"
								  " ON CONFLICT (source, object_id) DO NOTHING",
								  SQ_COUNT_COLUMNS + 1, count_types, count_values, count_nulls,
								  false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the counts of usage source \"%s\"", name);
	}
}

/*
 * primary_store
 *		Keep this server's own counts as the primary's, under its system
 *		identifier and timeline: replicated, they tell a standby promoted
 *		later how far this server's evidence reaches.  Only when usage
 *		tracking runs here.
 */
static void
primary_store(TimestampTz at)
{
	Oid			argtypes[3] = {INT8OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[3];

	values[0] = Int64GetDatum((int64) GetSystemIdentifier());
	values[1] = Int32GetDatum((int32) GetWALInsertionTimeLine());
	values[2] = TimestampTzGetDatum(at);
	if (SPI_execute_with_args("INSERT INTO phased_change.usage_primary"
							  " (system_identifier, timeline, noticed_at, collected_at, tracking_since)"
							  " SELECT $1, $2, $3, $3, t.tracking_since"
							  " FROM phased_change.usage_tracking() t WHERE t.preloaded"
							  " ON CONFLICT (system_identifier, timeline) DO UPDATE"
							  " SET collected_at = excluded.collected_at,"
							  "     tracking_since = excluded.tracking_since",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_processed == 0)
		return;
	if (SPI_execute_with_args("DELETE FROM phased_change.usage_primary_count"
							  " WHERE system_identifier = $1 AND timeline = $2",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("INSERT INTO phased_change.usage_primary_count"
							  " SELECT $1, $2, c.object_id, c.reads, c.writes, c.first_seen,"
							  "  c.last_seen, c.last_role, c.last_application_name"
							  " FROM phased_change.usage_counts() c",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the primary's usage counts");
}

/*
 * counts_prune
 *		Collected counts of objects whose plan has ended are evidence of
 *		nothing: drop them, as usage.c drops its own.
 */
static void
counts_prune(void)
{
	static const char *const tables[] = {"usage_source_count", "usage_primary_count"};

	for (int i = 0; i < lengthof(tables); i++)
	{
		char	   *sql = psprintf("DELETE FROM phased_change.%s c WHERE NOT EXISTS ("
								   " SELECT FROM phased_change.object o"
								   " JOIN phased_change.plan p ON p.plan_id = o.plan_id"
								   " WHERE o.object_id = c.object_id AND p.status = 'active')",
								   tables[i]);

		if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not prune %s", tables[i]);
	}
}

/*
 * usage_sources_catalog_present
 *		Whether the catalog has the tables of usage sources: the library may
 *		be newer than a catalog that ALTER EXTENSION UPDATE has not reached
 *		yet, whose plans must keep working.
 */
static bool
usage_sources_catalog_present(void)
{
	Oid			namespace = get_namespace_oid(PHASED_CHANGE_EXTENSION, true);

	return OidIsValid(namespace) && OidIsValid(get_relname_relid("usage_source", namespace));
}

/*
 * usage_sources_collect_all
 *		Collect from every usage source of the current database, and keep
 *		this server's own counts: the scheduler's per-database tick, and
 *		phase_verify / phase_advance in contract.  Must run in a transaction
 *		with the extension installed; does nothing during recovery.
 */
void
usage_sources_collect_all(void)
{
	CatalogSession session;
	int			nsources;
	char	  **names;
	char	  **conninfos;

	if (RecoveryInProgress() || !usage_sources_catalog_present())
		return;
	catalog_begin(&session);
	if (SPI_execute("SELECT name, conninfo FROM phased_change.usage_source ORDER BY name",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the usage sources");
	nsources = (int) SPI_processed;
	names = palloc(sizeof(char *) * Max(nsources, 1));
	conninfos = palloc(sizeof(char *) * Max(nsources, 1));
	for (int i = 0; i < nsources; i++)
	{
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		conninfos[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}

	for (int i = 0; i < nsources; i++)
	{
		SourceReading reading = source_read(conninfos[i]);

		PG_TRY();
		{
			source_store(names[i], &reading, GetCurrentTimestamp());
		}
		PG_FINALLY();
		{
			if (reading.result != NULL)
				PQclear(reading.result);
		}
		PG_END_TRY();
	}
	primary_store(GetCurrentTimestamp());
	counts_prune();
	catalog_end(&session);
}

/*
 * phased_change.usage_sources_collect()
 *		Collect now, on the primary.
 */
Datum
usage_sources_collect(PG_FUNCTION_ARGS)
{
	require_primary("collect usage evidence");
	usage_sources_collect_all();
	PG_RETURN_VOID();
}

/*
 * replication_name
 *		The application_name this standby's WAL receiver gives the primary
 *		(pg_stat_replication.application_name there): that of its
 *		primary_conninfo, else its fallback (cluster_name, or
 *		"walreceiver").  NULL when it is not receiving.
 */
static char *
replication_name(void)
{
	char		conninfo[MAXCONNINFO];
	PQconninfoOption *options;
	char	   *name = NULL;
	char	   *fallback = NULL;

	if (WalRcv == NULL)
		return NULL;
	SpinLockAcquire(&WalRcv->mutex);
	memcpy(conninfo, (char *) WalRcv->conninfo, MAXCONNINFO);
	SpinLockRelease(&WalRcv->mutex);
	conninfo[MAXCONNINFO - 1] = '\0';
	if (conninfo[0] == '\0' || (options = PQconninfoParse(conninfo, NULL)) == NULL)
		return NULL;
	for (PQconninfoOption *option = options; option->keyword != NULL; option++)
	{
		if (option->val == NULL || option->val[0] == '\0')
			continue;
		if (strcmp(option->keyword, "application_name") == 0)
			name = pstrdup(option->val);
		else if (strcmp(option->keyword, "fallback_application_name") == 0)
			fallback = pstrdup(option->val);
	}
	PQconninfoFree(options);
	return name ? name : fallback;
}

/*
 * phased_change.usage_node()
 *		This server as a usage source: whether it is in recovery, its system
 *		identifier and timeline, its start, the key that tells it from any
 *		other server, its WAL receiver's application_name, and the database
 *		that answers (its OID is the same on a physical standby as on the
 *		primary).
 */
Datum
usage_node(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false};
	bool		in_recovery = RecoveryInProgress();
	TimeLineID	timeline;
	char	   *name = in_recovery ? replication_name() : NULL;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (in_recovery)
		(void) GetXLogReplayRecPtr(&timeline);
	else
		timeline = GetWALInsertionTimeLine();
	values[0] = BoolGetDatum(in_recovery);
	values[1] = Int64GetDatum((int64) GetSystemIdentifier());
	values[2] = Int32GetDatum((int32) timeline);
	values[3] = TimestampTzGetDatum(PgStartTime);
	values[4] = CStringGetTextDatum(server_key());
	values[5] = name ? CStringGetTextDatum(name) : (Datum) 0;
	nulls[5] = name == NULL;
	values[6] = ObjectIdGetDatum(MyDatabaseId);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
