# pymigrate: the only thing a user types.
#
#   make demo    the main job: two throwaway clusters, the migration story
#   make test    unit, pg_regress, integration and end-to-end tests
#   make bench   benchmarks against real peers, printing ratios
#   make         build everything;  make install  install it (as root)
#
# Every target that needs system packages depends on `deps`, which installs
# them with apt-get only when something is missing.

include version.mk

SHELL        := /bin/bash
TOP          := $(abspath .)
BUILD        ?= $(TOP)/build
PG_CONFIG    ?= /usr/lib/postgresql/15/bin/pg_config
PREFIX       ?= /usr/local
JOBS         ?= $(shell nproc)
# CI sets CI=1: warnings become errors everywhere.
WERROR       ?= $(if $(CI),1,0)
CMAKE_TYPE   ?= RelWithDebInfo

# Tests never touch the system's PostgreSQL: like PostgreSQL's own
# `make check`, they run from a private install tree (a relocated copy of
# the server with our extension added), so two checkouts can test at once.
TMP_INSTALL  := $(BUILD)/tmp_install
TEST_PGBIN   := $(TMP_INSTALL)/usr/lib/postgresql/15/bin

DEB_PACKAGES := \
	build-essential cmake ninja-build pkg-config clang-format \
	postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib libpq-dev \
	libxxhash-dev libpg-query-dev libigraph-dev nlohmann-json3-dev libyaml-cpp-dev \
	libcli11-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev \
	graphviz python3-fastapi python3-uvicorn python3-httpx python3-psycopg \
	python3-psycopg-pool python3-pytest \
	postgresql-15-pglogical postgresql-comparator pgbouncer \
	clang libclang-rt-14-dev libsqlite3-dev sqlite3 nodejs python3-networkx linux-perf valgrind \
	curl procps

export PYMIGRATE_VERSION

.PHONY: all deps build client extension install tmp-install test unit regress integration e2e \
	demo bench format check-format clean

all: build

deps:
	@scripts/install-deps.sh $(DEB_PACKAGES)

build: client extension

client: deps
	@cmake -S $(TOP) -B $(BUILD)/cmake -G Ninja -DCMAKE_BUILD_TYPE=$(CMAKE_TYPE) \
		-DPYMIGRATE_WERROR=$(WERROR) -DPYMIGRATE_VERSION=$(PYMIGRATE_VERSION) >/dev/null
	@cmake --build $(BUILD)/cmake -j$(JOBS)

extension: deps
	@$(MAKE) -s --no-print-directory -C extension PG_CONFIG=$(PG_CONFIG) WERROR=$(WERROR) -j$(JOBS)

install: build
	$(MAKE) --no-print-directory -C extension PG_CONFIG=$(PG_CONFIG) WERROR=$(WERROR) install
	cmake --install $(BUILD)/cmake --prefix $(PREFIX)

# The private server tree the tests run from (see TMP_INSTALL above).
tmp-install: build
	@scripts/make-tmp-install.sh $(TMP_INSTALL)
	@$(MAKE) --no-print-directory -C extension PG_CONFIG=$(PG_CONFIG) WERROR=$(WERROR) \
		install DESTDIR=$(TMP_INSTALL) >/dev/null

TEST_ENV := PYMIGRATE_PGBIN=$(TEST_PGBIN) PYMIGRATE_BUILD=$(BUILD) PYMIGRATE_TOP=$(TOP)

test: tmp-install
	@$(TEST_ENV) test/run-all.sh

# The stages of `make test`, one at a time.
unit integration regress e2e: tmp-install
	@$(TEST_ENV) test/run-all.sh $@

# The demo installs for real (as a user would) and runs from the system tree.
demo: install
	@PYMIGRATE_BUILD=$(BUILD) PYMIGRATE_TOP=$(TOP) demo/demo.sh

bench: tmp-install
	@$(TEST_ENV) bench/run-all.sh

format: deps
	@git ls-files '*.cpp' '*.hpp' '*.h' | xargs clang-format -i

check-format: deps
	@git ls-files '*.cpp' '*.hpp' '*.h' | xargs clang-format --dry-run --Werror

clean:
	-@$(MAKE) --no-print-directory -C extension PG_CONFIG=$(PG_CONFIG) clean >/dev/null 2>&1
	rm -rf $(BUILD)
