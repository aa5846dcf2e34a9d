# phased_change: database-enforced expand / migrate / contract / cleanup
# schema changes.  PGXS build; `make test` and `make demo` are the two
# commands the README starts with.

MODULE_big = phased_change
OBJS = \
	src/module.o \
	src/catalog.o \
	src/history.o \
	src/preserve.o \
	src/checks.o \
	src/objects.o \
	src/plan.o \
	src/guard_cache.o \
	src/guard_statement.o \
	src/guard.o

EXTENSION = phased_change
DATA = phased_change--1.0.sql
PGFILEDESC = "phased_change - four-phase schema change plans enforced by the database"

REGRESS = plans objects checks advance privileges guard unplanned walkthrough
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=test/regress.conf

ISOLATION = advance_concurrency guard_drop_vs_rollback guard_retire_vs_drop
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=tmp_check_iso \
	--temp-config=test/regress.conf

TAP_TESTS = 1

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# TAP tests live under test/t rather than the PGXS default t/.
PROVE_TESTS = test/t/*.pl

.PHONY: test demo
test:
	scripts/test.sh

demo:
	scripts/demo.sh
