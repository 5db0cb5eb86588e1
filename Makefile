# yibao-gateway: build, test and run.  `make help` lists the targets.

SHELL := /bin/bash
NGX_SRC     ?= /usr/share/nginx/src
BUILD       := $(CURDIR)/build
PYTHON      := /usr/bin/python3
CC          ?= cc

# the floors, from the bottom: base/ (types every unit shares), mappings/
# (national codes and tables), adapters/ (everything that decides), and
# module/ (the nginx glue).  Each pure folder is compiled with the include
# path of its own floor and those below it only, so that an include that
# reaches up fails the build (and tests/lint/layers.py names it).
PURE_SRCS   := $(sort $(wildcard base/*.c mappings/*.c adapters/*.c))
PURE_HDRS   := $(sort $(wildcard base/*.h mappings/*.h adapters/*.h))
floor_incs   = $(if $(filter base/%,$1),-Ibase,$(if $(filter mappings/%,$1),\
               -Ibase -Imappings,-Ibase -Imappings -Iadapters))
PURE_INCS   := -Ibase -Imappings -Iadapters
# the one C++ file: the simdjson binding behind a C interface
PURE_CXX    := adapters/yibao_json.cpp
CXX_STD     := -std=c++17
GLUE_SRCS   := $(sort $(wildcard module/*.c))
GLUE_HDRS   := $(sort $(wildcard module/*.h))
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
MODULE_SO   := $(BUILD)/ngx_http_yibao_module.so
MAPTOOL     := $(BUILD)/yibao-maptool

UNIT_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Werror -Wpointer-arith \
               -Wmissing-prototypes -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
UNIT_OBJS   := $(patsubst %.c,$(BUILD)/unit/obj/%.o,$(PURE_SRCS)) \
               $(BUILD)/unit/yibao_json.o
UNIT_CXXFLAGS := $(CXX_STD) -g -O1 -Wall -Wextra -Werror -Wpointer-arith \
               -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
UNIT_LIBS   := -lcmocka -ljansson -lcrypto -lsimdjson -lstdc++

NGX_CC_OPT  := -g -O2 -fPIC -fstack-protector-strong -Wformat \
               -Werror=format-security -D_FORTIFY_SOURCE=2 -Wextra
NGX_LD_OPT  := -Wl,-z,relro -Wl,-z,now -fPIC

TOOL_CFLAGS := -std=gnu99 -O2 -Wall -Wextra -Wpointer-arith \
               -Wmissing-prototypes -fstack-protector-strong \
               -D_FORTIFY_SOURCE=2 $(PURE_INCS)
TOOL_LIBS   := -ljansson -lcrypto -lsimdjson -lstdc++

PYTEST      := $(PYTHON) -m pytest -q -p no:cacheprovider

# libFuzzer targets (tests/fuzz, docs/fuzzing.md): Debian clang with
# libclang-rt-14-dev; the pure sources are instrumented once, each
# target links them.  Each run works on a copy of its seed corpus in
# $(BUILD)/fuzz/corpus, so the repository is never modified.
FUZZ_SECONDS ?= 60
FUZZ_CC     := clang
FUZZ_CXX    := clang++
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Wpointer-arith \
               -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRCS))
FUZZ_BINS   := $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_NAMES))
FUZZ_RUNS   := $(addprefix fuzz-run-,$(FUZZ_NAMES))
FUZZ_OBJS   := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(PURE_SRCS)) \
               $(patsubst %.cpp,$(BUILD)/fuzz/obj/%.o,$(PURE_CXX))
FUZZ_LIBS   := -ljansson -lcrypto -lsimdjson -lstdc++
FUZZ_DICT    = $(if $(filter map registry rules audit audit_map,$*),tests/fuzz/tsv.dict, \
               $(if $(filter envelope answer translate limit journal json,$*), \
                    tests/fuzz/json.dict))
FUZZ_OPTS   := -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
               -timeout=30 -print_final_stats=1

# make soak: a bounded run at a realistic mix, worker memory must not
# grow (tests/soak/soak.py); SOAK_SECONDS=60 for a short one
SOAK_SECONDS ?= 600

# make hostile: the hostile-request campaigns of
# tests/integration/test_hostile.py for HOSTILE_SECONDS each, with a
# random seed (printed; HOSTILE_SEED=n repeats a campaign)
HOSTILE_SECONDS ?= 300
HOSTILE_SEED    ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')

# make memcheck: these integration tests with nginx under valgrind
# memcheck (YIBAO_VALGRIND=1: one process, master_process off; any
# memcheck error not in tests/valgrind.supp fails the test), and
# test_memcheck.py (leaks do not grow with requests); docs/memcheck.md.
# Not here: reloads (nginx's single-process reload closes files that
# running requests still use) and the fault suite's process faults.
IT          := tests/integration
MEMCHECK_TESTS := \
    $(IT)/test_memcheck.py \
    $(IT)/test_translate.py::test_local_codes_arrive_national \
    $(IT)/test_translate.py::test_unmapped_codes_all_listed_nothing_sent \
    $(IT)/test_translate.py::test_fee_amount_and_id_number_checks \
    $(IT)/test_gateway_core.py::test_outpatient_flow_township_and_own \
    $(IT)/test_gateway_core.py::test_caller_authentication_failures \
    $(IT)/test_gateway_core.py::test_hostile_bodies \
    $(IT)/test_gateway_core.py::test_malformed_envelope_fields \
    $(IT)/test_gateway_core.py::test_method_content_type_size_chunked \
    $(IT)/test_gateway_core.py::test_platform_unreachable \
    $(IT)/test_gateway_core.py::test_platform_faults \
    $(IT)/test_journal.py \
    $(IT)/test_store.py::test_limit_by_clinic \
    $(IT)/test_store.py::test_redis_killed_policy_then_back \
    $(IT)/test_store.py::test_redis_paused_no_hung_request \
    $(IT)/test_store.py::test_noscript_recovered \
    $(IT)/test_store.py::test_caller_gone_while_waiting_nothing_sent \
    $(IT)/test_status.py::test_outcomes_counted_in_json_and_prometheus \
    $(IT)/test_faults.py::test_msgid_kept_locally_is_not_resent_after_redis_returns \
    $(IT)/test_journal_forget.py::test_without_persistence_the_loss_is_noticed_and_repeats_resolved \
    $(IT)/test_journal_forget.py::test_forgotten_msgid_not_settled_is_sent_once \
    $(IT)/test_hostile.py \
    $(IT)/test_audit.py \
    $(IT)/test_outage.py \
    $(IT)/test_offline.py \
    $(IT)/test_keys.py

# make deb: the Debian packages (debian/, docs/deployment.md), built by
# dpkg-buildpackage in a copy of the tree in $(DEB_DIR), then lintian;
# done again only when a file git knows (but the tests) has changed since
DEB_DIR     := $(BUILD)/deb
DEB_SRCS    := $(filter-out tests/% .ci/%, \
                 $(wildcard $(shell git ls-files --cached --others \
                                    --exclude-standard 2>/dev/null)))

.PHONY: help all deps module tools smoke unit integration test run bench \
        lint clean fuzz fuzz-short fuzz-build $(FUZZ_RUNS) soak memcheck \
        hostile deb

all: module

help:
	@echo "make deps         install the Debian packages (root)"
	@echo "make module       build $(notdir $(MODULE_SO)) against nginx-dev"
	@echo "make tools        build $(notdir $(MAPTOOL)) (tables: validate, lookup)"
	@echo "make unit         cmocka unit tests under ASan/UBSan"
	@echo "make fuzz         libFuzzer targets, FUZZ_SECONDS=$(FUZZ_SECONDS) each"
	@echo "make fuzz-short   the same, 10 s each (part of make test)"
	@echo "make integration  real nginx + simulator (+ redis) tests"
	@echo "make test         deps, lint, unit, fuzz-short, module, smoke, integration,"
	@echo "                  memcheck"
	@echo "make run          start the demo gateway and simulator"
	@echo "make bench        benchmarks"
	@echo "make soak         $(SOAK_SECONDS) s at a realistic mix, RSS growth <= 1%"
	@echo "make memcheck     integration subset under valgrind memcheck"
	@echo "make hostile      hostile-request campaigns, HOSTILE_SECONDS=$(HOSTILE_SECONDS) each"
	@echo "make lint         style and boundary checks"
	@echo "make deb          the Debian packages in $(DEB_DIR), lintian"

deps:
	@sh tools/deps.sh

# configure is slow (~40 s): rerun it only when config or the set of
# source files changes.
$(BUILD)/srclist: FORCE
	@mkdir -p $(BUILD)
	@echo $(PURE_SRCS) $(PURE_CXX) $(GLUE_SRCS) $(PURE_HDRS) $(GLUE_HDRS) \
	    > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@
	@rm -f $@.tmp

$(BUILD)/nginx/Makefile: config $(BUILD)/srclist
	@mkdir -p $(BUILD)/nginx
	@echo "configure: nginx-dev in $(NGX_SRC), build folder $(BUILD)/nginx"
	cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(BUILD)/nginx \
	    > $(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

module: $(MODULE_SO)

$(MODULE_SO): $(BUILD)/nginx/Makefile $(PURE_SRCS) $(PURE_CXX) $(PURE_HDRS) \
              $(GLUE_SRCS) $(GLUE_HDRS)
	$(MAKE) -s -f $(BUILD)/nginx/Makefile -C $(NGX_SRC) modules
	@# a running nginx may have the old file mapped: replace, never rewrite
	cp $(BUILD)/nginx/ngx_http_yibao_module.so $@.tmp
	mv -f $@.tmp $@

# the mapping tables' tool, built from the gateway's own pure sources so
# that it validates exactly as nginx does (tools/yibao-mappings runs it)
tools: $(MAPTOOL)

# (CPPFLAGS, CFLAGS, CXXFLAGS, LDFLAGS: the Debian package's build passes
# dpkg-buildflags' hardening flags here)
$(MAPTOOL): tools/yibao-maptool.c $(PURE_SRCS) $(PURE_CXX) $(PURE_HDRS)
	@mkdir -p $(BUILD)/tools
	@echo "cc $(notdir $@)"
	@$(CXX) $(CXX_STD) -O2 -Wall -Wextra $(CPPFLAGS) $(CXXFLAGS) \
	    $(call floor_incs,$(PURE_CXX)) -c \
	    -o $(BUILD)/tools/yibao_json.o $(PURE_CXX)
	@$(CC) $(TOOL_CFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(PURE_SRCS) \
	    $(BUILD)/tools/yibao_json.o $(LDFLAGS) $(TOOL_LIBS)

smoke: module
	@sh tests/lint/smoke.sh $(MODULE_SO)

$(BUILD)/unit/yibao_json.o: $(PURE_CXX) $(PURE_HDRS)
	@mkdir -p $(BUILD)/unit
	@echo "c++ $(notdir $@)"
	@$(CXX) $(UNIT_CXXFLAGS) $(call floor_incs,$<) -c -o $@ $<

# each pure source once, with its floor's include path
$(BUILD)/unit/obj/%.o: %.c $(PURE_HDRS)
	@mkdir -p $(dir $@)
	@echo "cc $<"
	@$(CC) $(UNIT_CFLAGS) $(call floor_incs,$<) -c -o $@ $<

.SECONDARY: $(UNIT_OBJS)

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(BUILD)/unit
	@echo "cc $(notdir $@)"
	@$(CC) $(UNIT_CFLAGS) $(PURE_INCS) -Itests/unit -o $@ $< $(UNIT_OBJS) \
	    $(UNIT_LIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
	    echo "== $$(basename $$t)"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1 \
	    YIBAO_TEST_DATA=$(CURDIR)/tests/unit/data $$t; \
	done

# the fuzz targets (-Werror for them; the pure sources are held to it by
# the unit build with cc): a crash, a sanitizer report, a leak, a timeout
# or a violated property (abort) fails the run; the input is kept in
# $(BUILD)/fuzz/artifacts/<target>/ and the log in $(BUILD)/fuzz/<target>.log
$(BUILD)/fuzz/obj/%.o: %.c $(PURE_HDRS)
	@mkdir -p $(dir $@)
	@echo "clang $(notdir $@) (fuzz)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $(call floor_incs,$<) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/yibao_fuzz.h \
                      $(FUZZ_OBJS) $(PURE_HDRS)
	@echo "clang $(notdir $@)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $(PURE_INCS) -Itests/fuzz -Werror \
	    -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_OBJS) $(FUZZ_LIBS)

$(BUILD)/fuzz/obj/%.o: %.cpp $(PURE_HDRS)
	@mkdir -p $(dir $@)
	@echo "clang++ $(notdir $@) (fuzz)"
	@$(FUZZ_CXX) $(CXX_STD) -g -O1 -Wall -Wextra -fno-omit-frame-pointer \
	    $(FUZZ_SAN) -fno-sanitize=vptr $(call floor_incs,$<) \
	    -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

# kept between builds (make would remove them as intermediates)
.SECONDARY: $(FUZZ_OBJS)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_RUNS): fuzz-run-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(BUILD)/fuzz/corpus/$* $(BUILD)/fuzz/artifacts/$*
	@cp tests/fuzz/corpus/$*/* $(BUILD)/fuzz/corpus/$*/
	@echo "fuzz $* for $(FUZZ_SECONDS) s"
	@if ! $< $(FUZZ_OPTS) -artifact_prefix=$(BUILD)/fuzz/artifacts/$*/ \
	    $(if $(strip $(FUZZ_DICT)),-dict=$(strip $(FUZZ_DICT))) \
	    $(BUILD)/fuzz/corpus/$* > $(BUILD)/fuzz/$*.log 2>&1; \
	then \
	    tail -60 $(BUILD)/fuzz/$*.log; \
	    echo "fuzz $*: FAILED, input in $(BUILD)/fuzz/artifacts/$*/"; \
	    exit 1; \
	fi
	@awk '/stat::number_of_executed_units/ { n = $$2 } \
	      /stat::average_exec_per_sec/ { r = $$2 } \
	      /stat::peak_rss_mb/ { m = $$2 } \
	      END { printf "fuzz $*: ok, %s runs, %s exec/s, %s MB\n", \
	            n, r, m }' $(BUILD)/fuzz/$*.log

fuzz: $(FUZZ_RUNS)

fuzz-short:
	@$(MAKE) --no-print-directory -j2 FUZZ_SECONDS=10 fuzz

integration: module tools
	$(PYTEST) tests/integration

lint:
	@sh tests/lint/style.sh

test: deps
	@$(MAKE) --no-print-directory lint unit fuzz-short smoke integration \
	    memcheck

run: deps module
	@$(PYTHON) tools/run-demo.py

bench: deps module
	@sh tests/bench/run.sh

memcheck: module tools
	YIBAO_VALGRIND=1 $(PYTEST) $(MEMCHECK_TESTS)

hostile: deps module tools
	HOSTILE_SECONDS=$(HOSTILE_SECONDS) HOSTILE_SEED=$(HOSTILE_SEED) \
	    $(PYTEST) -s tests/integration/test_hostile.py

deb: deps $(DEB_DIR)/lintian.txt

$(DEB_DIR)/lintian.txt: $(DEB_SRCS)
	@sh tools/build-deb.sh $(DEB_DIR)

soak: deps module
	@SOAK_SECONDS=$(SOAK_SECONDS) $(PYTHON) tests/soak/soak.py

clean:
	rm -rf $(BUILD)

FORCE:
