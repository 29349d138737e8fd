# senko - keep MicroPython boards running the files of a git repository.
#
#   make deps       install the Debian packages needed to build and test
#   make            build build/senko and build/senkod
#   make check      build and run every test; ends with "N passed, M failed"
#   make check SANITIZE=1   the same under AddressSanitizer + UBSan
#   make bench      run the benchmarks (real-speed serial; slow)
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60)
#   make demo       senko end to end on a fake GitHub and two emulated boards
#   make deb        a Debian package in build/deb/ (dpkg-buildpackage)
#   make install    PREFIX=/usr/local DESTDIR=
#   make uninstall  the same variables; /etc/senko and state_dir stay
#
# CFLAGS, CPPFLAGS and LDFLAGS are honoured (dpkg-buildflags); WERROR=1
# turns warnings into errors (CI does).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/senko
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

# `git describe` in a tagged checkout, else the VERSION file; baked into
# the programs through $(BUILD)/version.h (senko --version).
VERSION := $(shell git describe --tags --dirty 2>/dev/null || cat VERSION)

# The test build is some hundred objects and programs: build them on
# every core (half the minute a serial build takes on two).  Only for
# the test targets; an explicit -j on the command line wins.
ifneq ($(filter check check-build,$(MAKECMDGOALS)),)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif
endif

# Debian package names; keep in sync with the README.
DEBIAN_PACKAGES = build-essential pkg-config libcurl4-openssl-dev \
	libssl-dev libjansson-dev libinih-dev libcmocka-dev zlib1g-dev git \
	openssl groff-base man-db dpkg-dev debhelper lintian \
	libmosquitto-dev mosquitto mosquitto-clients clang libfuzzer-14-dev
# The tests' board emulator and fake GitHub run on Node.js.  A machine that
# already has node and npm (NodeSource ships npm inside its nodejs package,
# which conflicts with Debian's npm) keeps them.
NODE_PACKAGES = nodejs npm

PKGS = libcurl openssl jansson inih zlib libmosquitto
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
WERROR_FLAG = $(if $(filter 1,$(WERROR)),-Werror)
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE -Iinclude -I$(BUILD) -I$(BUILD)/gen $(CPPFLAGS) \
	$(WARN) $(WERROR_FLAG) $(CFLAGS) $(shell pkg-config --cflags $(PKGS))
LIBS = $(shell pkg-config --libs $(PKGS)) -lpthread
TEST_LIBS = $(shell pkg-config --libs cmocka)

ifeq ($(SANITIZE),1)
BUILD = build/sanitize
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
ALL_CFLAGS += $(SAN)
LDFLAGS += $(SAN)
else
BUILD = build
endif

MAIN_SRCS = src/senko.c src/senkod.c
# Modules may live in wings (src/board/, src/forge/): architecture notes.
# src/board/agent2c.c is a build tool, not part of the library.
BUILD_TOOL_SRCS = src/board/agent2c.c
LIB_SRCS = $(filter-out $(MAIN_SRCS) $(BUILD_TOOL_SRCS),\
	$(wildcard src/*.c src/*/*.c))
LIB_OBJS = $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB = $(BUILD)/libsenko.a
PROGS = $(BUILD)/senko $(if $(wildcard src/senkod.c),$(BUILD)/senkod)

UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_PROGS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS = $(wildcard tests/helpers/*.c)
HELPER_PROGS = $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/helper-%)
TEST_TOOLS = tests/board/ptybridge
# LD_PRELOAD libraries for tests (tests/daemon/clockshift.c steps the wall
# clock of one process).
TEST_PRELOADS = $(patsubst tests/daemon/%.c,$(BUILD)/tests/%.so,$(wildcard tests/daemon/*.c)) \
	$(patsubst tests/sync/%.c,$(BUILD)/tests/%.so,$(wildcard tests/sync/*.c))

# Fuzzing (libFuzzer): every tests/fuzz/fuzz_NAME.c is a target, linked
# against the library sources compiled again with clang and the same
# sanitizers (coverage-instrumented, so the fuzzer sees inside them).
FUZZ_CC = clang
FUZZ_BUILD = build/fuzz
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
# The library's own flags (include paths, warnings), optimisation and
# sanitizers aside.
FUZZ_CFLAGS = $(filter-out $(CFLAGS) $(SAN),$(ALL_CFLAGS)) -O1 -g $(FUZZ_SAN)
FUZZ_LIB = $(FUZZ_BUILD)/libsenko.a
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_PROGS = $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_SECONDS ?= 60
# make check builds them only where clang is; without it the fuzz suite
# fails and says to run make deps.
HAVE_CLANG := $(shell command -v $(FUZZ_CC) 2>/dev/null)

all: $(PROGS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# The on-board agent and its bootstrap: readable Python in the tree, shrunk
# into C strings at build time (agent2c.c says how).
$(BUILD)/agent2c: src/board/agent2c.c
	@mkdir -p $(@D)
	$(CC) -std=c17 -O2 $(WARN) $(WERROR_FLAG) -o $@ $<

$(BUILD)/gen/agent_code.h: src/board/agent.py src/board/boot.py \
    $(BUILD)/agent2c
	@mkdir -p $(@D)
	$(BUILD)/agent2c src/board/agent.py src/board/boot.py $@

$(BUILD)/obj/board/agent.o: $(BUILD)/gen/agent_code.h

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define SENKO_VERSION "$(VERSION)"' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/obj/senko.o $(BUILD)/obj/senkod.o: $(BUILD)/version.h

$(BUILD)/senko: $(BUILD)/obj/senko.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/senkod: $(BUILD)/obj/senkod.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP $(LDFLAGS) \
		-o $@ $< $(LIB) $(LIBS) $(TEST_LIBS)

# Test helpers (git's t/helper idea): small programs that drive one module.
$(BUILD)/tests/helper-%: tests/helpers/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP $(LDFLAGS) \
		-o $@ $< $(LIB) $(LIBS)

# After the regular library: headers it generates are then in place.
$(FUZZ_BUILD)/obj/%.o: src/%.c | $(LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(LIB_SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

# -Isrc: a target may #include a module's .c to reach its static parser
# (curl's UNITTEST idea); the archive then leaves that module's object out.
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc -Isrc/board -fsanitize=fuzzer -MMD -MP \
		-o $@ $< $(FUZZ_LIB) $(LIBS)

$(BUILD)/tests/%.so: tests/daemon/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

$(BUILD)/tests/%.so: tests/sync/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

tests/board/ptybridge: tests/board/ptybridge.c
	$(CC) $(CPPFLAGS) -O2 -Wall -Wextra $(WERROR_FLAG) $(LDFLAGS) -o $@ $<

# The emulator's interpreter comes from npm, pinned by the lock file.
tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

NODE_DEPS = $(if $(wildcard tests/package.json),tests/node_modules/.installed)
TOOLS = $(filter $(wildcard $(TEST_TOOLS:=.c)),$(TEST_TOOLS:=.c))

# Everything the suites use, built; then tests/run.sh PATTERN runs a few.
check-build: $(PROGS) $(UNIT_PROGS) $(HELPER_PROGS) $(TEST_PRELOADS) \
	$(TOOLS:.c=) $(NODE_DEPS) $(if $(HAVE_CLANG),$(FUZZ_PROGS))

# '+': a suite that runs make itself shares the -j above instead of being
# warned that the jobserver is unavailable.
check: check-build
	+@SENKO_BUILD=$(BUILD) tests/run.sh

# New inputs go to $(FUZZ_BUILD)/new/NAME, never to the committed corpus.
fuzz: $(FUZZ_PROGS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_KEEP=1 tests/fuzz/fuzz.test.sh \
		$(FUZZ_TARGETS)

bench: $(PROGS) $(HELPER_PROGS) $(TOOLS:.c=) $(NODE_DEPS)
	@SENKO_BUILD=$(BUILD) tests/bench/run.sh

# DEMO_FLAGS=--batch: do not wait for Enter before cleaning up.
demo: $(PROGS) $(TOOLS:.c=) $(NODE_DEPS)
	@SENKO_BUILD=$(BUILD) tests/demo/demo.sh $(DEMO_FLAGS)

# The package is built from a copy of the tree in build/deb/, where
# dpkg-buildpackage also leaves the .deb (it writes to the parent folder).
DEB_DIR = build/deb/senko-$(VERSION)
deb:
	rm -rf build/deb && mkdir -p $(DEB_DIR)
	tar -cf - --exclude=./build --exclude=./.git \
		--exclude=./tests/node_modules --exclude=./tests/board/ptybridge . | \
		tar -xf - -C $(DEB_DIR)
	cd $(DEB_DIR) && dpkg-buildpackage -us -uc -b

deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -q && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $(DEBIAN_PACKAGES) && \
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $(NODE_PACKAGES); \
	fi
	@# The emulator's interpreter too, so that make demo needs no network.
	$(MAKE) --no-print-directory tests/node_modules/.installed

# The unit names /usr/local/sbin/senkod; its copy names $(SBINDIR)/senkod.
install: $(PROGS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)
	install -m 755 $(BUILD)/senko $(DESTDIR)$(BINDIR)/senko
	$(if $(wildcard src/senkod.c),install -m 755 $(BUILD)/senkod \
		$(DESTDIR)$(SBINDIR)/senkod)
	for page in man/*.[158]; do \
		install -m 644 $$page \
			$(DESTDIR)$(MANDIR)/man$${page##*.}/$${page##*/}; \
	done
	install -m 644 senko.conf.example README.md LICENSE $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed 's|^ExecStart=/usr/local/sbin/|ExecStart=$(SBINDIR)/|' \
		systemd/senkod.service >$(DESTDIR)$(SYSTEMDDIR)/senkod.service
	chmod 644 $(DESTDIR)$(SYSTEMDDIR)/senkod.service
	install -m 644 systemd/senko.sysusers.conf \
		$(DESTDIR)$(SYSUSERSDIR)/senko.conf
	install -d $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(BASHCOMPDIR)
	install -m 644 systemd/senko.tmpfiles.conf \
		$(DESTDIR)$(TMPFILESDIR)/senko.conf
	install -m 644 contrib/completion/senko.bash $(DESTDIR)$(BASHCOMPDIR)/senko
	install -m 644 contrib/completion/senko.bash $(DESTDIR)$(BASHCOMPDIR)/senkod

# Removes what install wrote; the configuration in /etc/senko and the
# state folder are the administrator's and stay.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/senko $(DESTDIR)$(SBINDIR)/senkod \
		$(DESTDIR)$(SYSTEMDDIR)/senkod.service \
		$(DESTDIR)$(SYSUSERSDIR)/senko.conf \
		$(DESTDIR)$(TMPFILESDIR)/senko.conf \
		$(DESTDIR)$(BASHCOMPDIR)/senko $(DESTDIR)$(BASHCOMPDIR)/senkod \
		$(DESTDIR)$(DOCDIR)/senko.conf.example \
		$(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/LICENSE
	for page in man/*.[158]; do \
		rm -f $(DESTDIR)$(MANDIR)/man$${page##*.}/$${page##*/}; \
	done
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build tests/board/ptybridge

.PHONY: all check check-build bench fuzz demo deb deps install uninstall clean FORCE
.SECONDARY:

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/tests/*.d \
	$(FUZZ_BUILD)/obj/*.d $(FUZZ_BUILD)/obj/*/*.d $(FUZZ_BUILD)/*.d)
