# m3age build. `make` builds build/m3age; `make check` runs every test; `make asan` runs the
# whole suite under ASan + UBSan; `make bench`, `make demo`, `make install`; `make fresh-check`
# runs `make demo` and `make check` in a minimal Debian 12 root (as root).
# V=1 shows the commands; WERROR=1 turns warnings into errors (CI).

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=
BUILD      ?= build
# One spelling of the build folder: BUILD=$PWD/build (as tests/cli/install.sh passes it) and
# BUILD=build must name the same targets, or the dependency files (.d) that one writes are
# lost on the other, which then misses header changes and relinks at a later, odd time.
override BUILD := $(patsubst $(CURDIR)/%,%,$(abspath $(BUILD)))
CC         ?= cc
PKG_CONFIG ?= pkg-config
VERSION    := 0.1.0

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection -fPIE
ifeq ($(SAN),1)
OPT    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
HARDEN := -fPIE
SANLD  := -fsanitize=address,undefined
else
OPT    ?= -O2 -g
endif

# What depends on the installed packages (pkg-config's flags, whether libsodium and libbsd
# are linked from static archives, the SONAMEs of libssh and libcrypto, the libc run path) is
# found out by build-aux/config.sh into $(BUILD)/config.mk, after build-aux/deps.sh has
# installed what was missing (rule below): make remakes that file and reads it again before
# it builds anything, so the binary is the same whether the packages were there before
# `make` or `make` installed them (issue 27). The objects and programs depend on it, so a
# change of flags (STATIC_DEPS=0, another CC) rebuilds them.
#
# libssh and libcrypto are not linked into m3age: keys/sshlib.c and libage/cryptolib.c open
# them with dlopen when first needed (see there), by the SONAME of the library found at build
# time. Tests and benchmarks that call OpenSSL themselves link libcrypto (TEST_LIBS).
# libsodium and libbsd (with the libmd it needs) are linked from their static archives when
# those are installed (Debian's -dev packages ship them), so m3age needs only libc at start:
# each shared library costs every process its mapping, relocations and symbol binding (about
# 15 page faults here, where a fault is dear). A security update of either library then
# needs m3age rebuilt, as with any statically linked program; STATIC_DEPS=0 links the shared
# libraries instead (the Nix package does, its libraries having no archives).
STATIC_DEPS ?= 1
# The folder of the C library m3age is linked against becomes its run path: the loader then
# opens libc.so.6 there (and the libraries m3age opens later, which live beside it) instead of
# mapping /etc/ld.so.cache and unmapping it again, which took 0.3 ms of every process on the
# virtual machines this was measured on (changes to page tables are dear there): 6-8% of a
# registry evaluation. LD_LIBRARY_PATH still comes first (a run path, not an rpath); where
# the folder does not hold the library at run time the loader goes on to the cache as usual.
# LIBC_RUNPATH= (empty) leaves it out (the Nix package does: its libc is in the store).
# LIBSSH_SONAME and LIBCRYPTO_SONAME, when given, are used as given (the Nix package names
# them by store path).
CONFIG     := $(BUILD)/config.mk
CONFIG_GIVEN := $(foreach v,LIBC_RUNPATH LIBSSH_SONAME LIBCRYPTO_SONAME,$(if \
                  $(filter undefined default,$(origin $v)),,$v))
CONFIG_ENV := $(addprefix -u ,$(filter-out $(CONFIG_GIVEN),LIBC_RUNPATH LIBSSH_SONAME \
                LIBCRYPTO_SONAME)) CC='$(CC)' PKG_CONFIG='$(PKG_CONFIG)' \
              STATIC_DEPS='$(STATIC_DEPS)' $(foreach v,$(CONFIG_GIVEN),$v='$($v)')
# Goals that build nothing read no configuration (and install no package).
NO_CONFIG_GOALS := clean format lint-man uninstall fresh-check
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(NO_CONFIG_GOALS),$(MAKECMDGOALS)),)
CONFIG :=
endif
endif
ifneq ($(CONFIG),)
include $(CONFIG)
endif

CPPFLAGS += -I. -D_GNU_SOURCE -DM3AGE_VERSION='"$(VERSION)"'
ifneq ($(strip $(LIBSSH_SONAME)),)
CPPFLAGS += -DM3_LIBSSH_SONAME='"$(strip $(LIBSSH_SONAME))"'
endif
ifneq ($(strip $(LIBCRYPTO_SONAME)),)
CPPFLAGS += -DM3_LIBCRYPTO_SONAME='"$(strip $(LIBCRYPTO_SONAME))"'
endif
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SANLD)
ifneq ($(filter /%,$(LIBC_RUNPATH)),)
LDFLAGS  += -Wl,--enable-new-dtags,-rpath,$(LIBC_RUNPATH)
endif
LDLIBS   += $(PKG_LIBS) -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS  := $(sort $(wildcard libage/*.c keys/*.c registry/*.c secrets/*.c))
CMD_SRCS  := $(sort $(wildcard cmd/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
BENCH_SRCS:= $(sort $(wildcard bench/*.c))

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CMD_OBJS  := $(CMD_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_BINS:= $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
LIB       := $(BUILD)/libm3age.a
BIN       := $(BUILD)/m3age
MANS      := $(wildcard man/*.1 man/*.5 man/*.7)

.PHONY: all deps check test asan bench demo install uninstall clean format lint-man tools \
        fuzz fuzz-bins valgrind check-build asan-build fuzz-build fresh-check FORCE

all: $(BIN)

# Install missing Debian packages once per build folder (and whenever deps.sh changes).
$(BUILD)/.deps-%: build-aux/deps.sh
	@mkdir -p $(BUILD)
	$(Q)build-aux/deps.sh $*
	@touch $@

DEPS_BUILD := $(BUILD)/.deps-build
$(LIB_OBJS) $(CMD_OBJS): | $(DEPS_BUILD)

# The configuration (above), found out on every run after the build's packages are in place;
# rewritten only when it changes.
$(BUILD)/config.mk: build-aux/config.sh $(DEPS_BUILD) FORCE
	$(Q)env $(CONFIG_ENV) build-aux/config.sh $@
FORCE:

# What is compiled or linked with the configuration's flags is made again when they change.
$(LIB_OBJS) $(CMD_OBJS) $(BIN) $(UNIT_BINS) $(TOOL_BINS) $(BENCH_BINS): $(CONFIG)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The objects `m3age registry eval` runs are linked first, so that their code is contiguous
# next to _start: each 64 KiB of code a short process touches costs it a page fault (the
# kernel maps program text 64 KiB around each fault). The same objects are in $(LIB); the
# linker then takes nothing more from it for them. arena.o comes first for its data: its
# lock then shares a page with the data every process writes (stdout, environ), before
# io.o's 4 KiB of cleanup path (one page fault less).
HOT_OBJS := $(addprefix $(BUILD)/obj/,registry/arena.o cmd/main.o cmd/io.o cmd/registry.o \
              libage/error.o $(addprefix registry/,fsio.o lexer.o parser.o binds.o eval.o scopes.o \
              strings.o operators.o builtins.o json.o model.o))

$(BIN): $(CMD_OBJS) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(HOT_OBJS) $(filter-out $(HOT_OBJS),$(CMD_OBJS)) $(LIB) \
	    $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB) | $(BUILD)/.deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(TEST_LIBS) -lcriterion -lz

$(BUILD)/tools/%: tests/tools/%.c $(LIB) | $(BUILD)/.deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(TEST_LIBS) -lz -lutil

$(BUILD)/bench/%: bench/%.c $(LIB) | $(BUILD)/.deps-bench
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(TEST_LIBS)

# The do-nothing program again, linked -static-pie (glibc's libc.a, from libc6-dev): what a
# process costs here without the dynamic loader (bench_registry.sh's process floor).
$(BUILD)/bench/idle-static: bench/idle.c | $(BUILD)/.deps-bench
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(CFLAGS) -static-pie -o $@ $<

# Hardening (tests/fuzz, issue 8). `make fuzz FUZZ_SECONDS=N`: every tests/fuzz/fuzz_*.c
# harness built with clang + libFuzzer + ASan + UBSan in $(BUILD)/fuzz, then run N seconds
# each. `make valgrind`: the command-line tests with m3age under valgrind memcheck.
FUZZ_SECONDS ?= 10
FUZZ_JOBS    ?= 2
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link \
                -fno-sanitize-recover=undefined

# fuzz-build, asan-build and check-build only build what fuzz, asan and check run (.ci/run
# builds the next stages' programs at low priority while a stage's tests run).
fuzz: fuzz-build
	$(Q)BUILD=$(abspath $(BUILD)/fuzz) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
	    tests/fuzz/run.sh

fuzz-build: $(BUILD)/.deps-fuzz
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=clang SAN=1 OPT="$(FUZZ_OPT)" fuzz-bins

fuzz-bins: $(BIN) $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzzers/%)

$(BUILD)/fuzzers/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZER  $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) \
	    $(LDLIBS)

# VALGRIND_TESTS: which test files (regex over tests/run.sh names); default every cli test.
VALGRIND_TESTS ?= ^cli/
valgrind: $(BUILD)/.deps-valgrind $(BIN) $(TOOL_BINS)
	$(Q)BUILD=$(abspath $(BUILD)) M3AGE_WRAPPER=$(abspath tests/tools/valgrind-m3age.sh) \
	    M3AGE_VALGRIND_SUPP=$(abspath tests/tools/valgrind-known.supp) \
	    TEST_ONLY='$(VALGRIND_TESTS)' tests/tools/valgrind-run.sh tests/run.sh

deps: $(DEPS_BUILD)

tools: $(TOOL_BINS)

check-build: $(BUILD)/.deps-check $(BIN) $(UNIT_BINS) $(TOOL_BINS)

check: check-build
	$(Q)BUILD=$(abspath $(BUILD)) tests/run.sh

test: check

# clang's ASan and UBSan share one runtime, linked into each program: an m3age process costs
# ~40 ms CPU instead of gcc's ~55 ms (two shared runtimes, whose tables LeakSanitizer scans
# at every exit); the suite starts thousands. ASAN_CC=gcc builds with gcc.
ASAN_CC ?= clang
ASAN_MAKE = $(MAKE) --no-print-directory BUILD=$(BUILD)/asan SAN=1 CC=$(ASAN_CC)
asan: asan-build
	$(Q)$(ASAN_MAKE) check

asan-build: $(BUILD)/.deps-asan
	$(Q)$(ASAN_MAKE) check-build

bench: $(BUILD)/.deps-bench $(BIN) $(BENCH_BINS) $(BUILD)/bench/idle-static $(TOOL_BINS)
	$(Q)BUILD=$(abspath $(BUILD)) bench/run.sh

# The 1,000,000-test ML-KEM-768 known answer (a few minutes; also part of make bench).
.PHONY: mlkem-million
mlkem-million: $(BUILD)/bench/mlkem
	$(Q)$(BUILD)/bench/mlkem --million

demo: $(BUILD)/.deps-demo $(BIN)
	$(Q)BUILD=$(abspath $(BUILD)) examples/demo.sh

# The README's two commands, `make demo` and `make check`, as root in a minimal Debian 12 root
# made with debootstrap, on a clone of the last commit (build-aux/fresh-check.sh; needs root).
fresh-check:
	$(Q)build-aux/fresh-check.sh

lint-man: $(BUILD)/.deps-man
	$(Q)for m in $(MANS); do mandoc -Tlint -W warning $$m || exit 1; done; echo "man pages: lint clean"

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/m3age
	ln -sf m3age $(DESTDIR)$(BINDIR)/agenix
	for m in $(filter %.1,$(MANS)); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done
	for m in $(filter %.5,$(MANS)); do install -d $(DESTDIR)$(MANDIR)/man5 && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0644 completions/m3age.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/m3age
	ln -sf m3age $(DESTDIR)$(PREFIX)/share/bash-completion/completions/agenix
	install -m 0644 completions/_m3age $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_m3age
	install -m 0644 completions/m3age.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/m3age.fish
	ln -sf m3age.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/agenix.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/m3age $(DESTDIR)$(BINDIR)/agenix
	for m in $(notdir $(MANS)); do rm -f $(DESTDIR)$(MANDIR)/man*/$$m; done
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/m3age $(DESTDIR)$(PREFIX)/share/bash-completion/completions/agenix
	rm -f $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_m3age
	rm -f $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/m3age.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/agenix.fish

format:
	clang-format -i $(LIB_SRCS) $(CMD_SRCS) $(wildcard */*.h) $(UNIT_SRCS) $(TOOL_SRCS) $(BENCH_SRCS)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(CMD_OBJS:.o=.d)
