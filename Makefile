# phased_change: database-enforced expand / migrate / contract / cleanup
# schema changes.  PGXS build; `make test` and `make demo` are the two
# commands the README starts with.

MODULE_big = phased_change
OBJS = \
	src/module.o \
	src/catalog.o \
	src/history.o \
	src/db_worker.o \
	src/refusal_recorder.o \
	src/checks.o \
	src/objects.o \
	src/plan.o \
	src/verification.o \
	src/scheduler.o \
	src/guard_cache.o \
	src/guard_statement.o \
	src/guard_self.o \
	src/guard_settings.o \
	src/guard.o \
	src/guard_events.o \
	src/guard_hooks.o \
	src/usage.o \
	src/backfill.o \
	src/backfill_worker.o \
	src/usage_sources.o \
	src/sync.o \
	src/sync_trigger.o \
	src/sync_guard.o

EXTENSION = phased_change
DATA = phased_change--1.0.sql phased_change--1.0--1.1.sql phased_change--1.1--1.2.sql \
	phased_change--1.2--1.3.sql phased_change--1.3.sql phased_change--1.3--1.4.sql
# The install script of 1.4 is 1.3 with the 1.4 upgrade applied, built here
# so that a fresh install and an update run the very same statements.
DATA_built = phased_change--1.4.sql
PGFILEDESC = "phased_change - four-phase schema change plans enforced by the database"

# The regression suite runs twice: with the guard in event triggers only,
# and with the library preloaded (hooks, usage tracking).  The two lists
# differ only in the tests of what preloading changes.
REGRESS_COMMON = plans objects checks advance privileges owner guard unplanned bypass self_protection \
	hostile_input evidence verification_cost operations verify_all backfill usage_sources sync walkthrough
REGRESS = $(REGRESS_COMMON) settings_unloaded usage_unloaded
REGRESS_PRELOAD = $(REGRESS_COMMON) settings_preloaded usage_preloaded
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=test/regress.conf

ISOLATION = advance_concurrency guard_drop_vs_rollback guard_retire_vs_drop \
	verify_abandon_concurrency sync_concurrency
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=tmp_check_iso \
	--temp-config=test/regress.conf

TAP_TESTS = 1

# Usage sources read the standbys' counts over libpq, as contrib/dblink does.
PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)

PG_CONFIG ?= pg_config

# PostgreSQL 15 is the oldest major phased_change supports (src/compat.h).
PG_MAJOR_FOUND := $(shell $(PG_CONFIG) --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
ifneq ($(shell test "0$(PG_MAJOR_FOUND)" -ge 15 && echo ok),ok)
$(error phased_change needs PostgreSQL 15 or later, but $(PG_CONFIG) is PostgreSQL $(or $(PG_MAJOR_FOUND),(not found)))
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

phased_change--1.4.sql: phased_change--1.3.sql phased_change--1.3--1.4.sql
	{ cat phased_change--1.3.sql; \
	  sed '/^\\echo Use "ALTER EXTENSION/d' phased_change--1.3--1.4.sql; } > $@

# TAP tests live under test/t rather than the PGXS default t/.
PROVE_TESTS = test/t/*.pl

# Each suite on its own, so that make test can run and report all of them.
installcheck-regress: submake
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation: submake
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

# The isolation specs again with phased_change in shared_preload_libraries
# (the guard in hooks rather than event triggers).
installcheck-isolation-preload: submake
	$(pg_isolation_regress_installcheck) --inputdir=test/isolation \
		--temp-instance=tmp_check_iso_preload --temp-config=test/preload.conf \
		--outputdir=output_iso_preload $(ISOLATION)

installcheck-tap:
	$(prove_installcheck)

# The same suite with phased_change in shared_preload_libraries.
installcheck-preload: submake
	$(pg_regress_installcheck) --temp-instance=tmp_check_preload \
		--temp-config=test/preload.conf --outputdir=output_preload $(REGRESS_PRELOAD)

# PostgreSQL's own regression suite, stock and with phased_change preloaded
# and installed: the same results (test/pg_regress_neutral.sh).
installcheck-neutral:
	PG_CONFIG=$(PG_CONFIG) test/pg_regress_neutral.sh output_neutral

.PHONY: test test-versions demo bench installcheck-preload installcheck-regress \
	installcheck-isolation installcheck-isolation-preload installcheck-tap installcheck-neutral
test:
	scripts/test.sh

# make test against every major in PG_MAJORS (default 15 17 18), each in a
# Debian root of its own (as root; scripts/test-versions.sh).
test-versions:
	PG_MAJORS="$(or $(PG_MAJORS),15 17 18)" scripts/test-versions.sh

demo:
	scripts/demo.sh

# What phased_change costs, side by side with the same workload without it,
# in throwaway clusters (test/bench/README.md); about 15 minutes.
bench:
	bash test/bench/run.sh
