# mod_jklg — build, test, run.  `make help` lists the targets.
#
# Flags are computed lazily (`=`, not `:=`), so that `make test` on a fresh
# machine can install apxs and the libraries (target deps) before anything
# asks them for include paths.

APXS     ?= apxs
PYTHON   ?= /usr/bin/python3
CC       ?= gcc
PORT     ?= 8080
VERSION  := 0.1.0

LIBS_PC   = jansson libsodium libcurl libpq libcrypt libcrypto
APU_INC   = $(shell apu-1-config --includes)
APR_INC   = $(shell apr-1-config --includes --cppflags)
HTTPD_INC = -I$(shell $(APXS) -q INCLUDEDIR)
PC_CFLAGS = $(shell pkg-config --cflags $(LIBS_PC))
PC_LIBS   = $(shell pkg-config --libs $(LIBS_PC)) -lcrack

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter

# Sanitizers: `make test SANITIZE=-fsanitize=address[,undefined]`. Such a
# build goes to its own directory, so that it never mixes objects with the
# normal build; a flags stamp rebuilds it when SANITIZE changes.
SANITIZE ?=
BUILD    := $(if $(strip $(SANITIZE)),build-sanitize,build)
CFLAGS  += -std=gnu11 -O2 -g -fPIC -pthread $(WARN) $(SANITIZE) \
           -DJKLG_VERSION='"$(VERSION)"'
CPPFLAGS_ALL = $(HTTPD_INC) $(APR_INC) $(APU_INC) $(PC_CFLAGS) -Imod_jklg -I$(BUILD)

CORE_SRC   = $(wildcard mod_jklg/jklg_*.c)
MODULE_SRC = $(wildcard mod_jklg/mod_jklg*.c)
# NAME.PART in en, LANG/NAME.PART in LANG (scripts/embed_templates.sh).
TEMPLATES  = $(wildcard mod_jklg/templates/*.* mod_jklg/templates/*/*.*)
CORE_OBJ   = $(CORE_SRC:mod_jklg/%.c=$(BUILD)/%.o) $(BUILD)/jklg_templates_builtin.o
MODULE_OBJ = $(MODULE_SRC:mod_jklg/%.c=$(BUILD)/%.o)
UNIT_SRC   = $(wildcard tests/unit/*.c)

MODULE   = $(BUILD)/mod_jklg.so
CORE_LIB = $(BUILD)/libjklg.a
UNIT_BIN = $(BUILD)/unit_tests
FUZZ_BIN = $(BUILD)/fuzz_jwt
FLAGS_STAMP = $(BUILD)/.cflags

# What the HTTP harness (tests/harness/httpd.py, so also `make run` and
# `make bench`) reads: which module to load and, for an ASan build, the
# runtime to preload into Debian's uninstrumented apache2 (it must come
# first in the process, before the module is dlopen()ed).
export JKLG_MODULE = $(abspath $(MODULE))
export JKLG_SANITIZE = $(strip $(SANITIZE))
export JKLG_SANITIZE_PRELOAD := $(if $(findstring address,$(SANITIZE)),$(shell $(CC) -print-file-name=libasan.so))

.PHONY: all deps test unit-test http-test run reset migrate install clean bench fuzz help FORCE

all: $(MODULE)

help:
	@echo "make            build $(MODULE)"
	@echo "make deps       install missing Debian packages (root)"
	@echo "make test       deps + build + C unit tests + HTTP suite"
	@echo "make run        deps + build + local instance on 127.0.0.1:$(PORT)"
	@echo "make reset      remove all state of make run (database, mail, keys)"
	@echo "make migrate DATABASE_URL=postgres://...   apply sql/ migrations"
	@echo "make install    install the module, conf/ and the pages (web/) into Debian's Apache"
	@echo "make bench      wrk against a local instance"
	@echo "make fuzz       libFuzzer on the JWT verifier (clang, FUZZ_TIME=60)"
	@echo "SANITIZE=-fsanitize=address[,undefined] with test, unit-test, http-test,"
	@echo "                run or fuzz: build in build-sanitize/, Apache runs with the"
	@echo "                ASan runtime preloaded (docs/testing.md)"

	@echo "make deb        Debian package build/deb/libapache2-mod-jklg_$(VERSION)_<arch>.deb (+ lintian)"
	@echo "make deb-test   install the package in a Debian 12 root (debootstrap) and check it"

deps:
	@scripts/deps.sh

$(BUILD):
	@mkdir -p $(BUILD)

# Rewritten only when the compiler flags change, so that every object is
# rebuilt with the new ones (e.g. -fsanitize=address then ...,undefined).
$(FLAGS_STAMP): FORCE | $(BUILD)
	@echo '$(CC) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS)' > $@

$(BUILD)/%.o: mod_jklg/%.c mod_jklg/*.h $(FLAGS_STAMP) | $(BUILD)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c $< -o $@

# Built-in templates are compiled into the module from mod_jklg/templates/.
$(BUILD)/jklg_templates_builtin.c: $(TEMPLATES) scripts/embed_templates.sh | $(BUILD)
	scripts/embed_templates.sh $(TEMPLATES) > $@

$(BUILD)/jklg_templates_builtin.o: $(BUILD)/jklg_templates_builtin.c $(FLAGS_STAMP)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c $< -o $@

# Made afresh: an object whose source was removed must not linger in it.
$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(MODULE): $(MODULE_OBJ) $(CORE_LIB)
	$(CC) -shared $(CFLAGS) -o $@ $(MODULE_OBJ) $(CORE_LIB) $(PC_LIBS) \
	    $(shell apu-1-config --link-ld --libs) $(shell apr-1-config --link-ld --libs)

$(UNIT_BIN): $(UNIT_SRC) tests/unit/*.h $(CORE_LIB) $(FLAGS_STAMP)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) $(shell pkg-config --cflags check) -Itests/unit \
	    -o $@ $(UNIT_SRC) $(CORE_LIB) $(shell pkg-config --libs check) $(PC_LIBS) \
	    $(shell apu-1-config --link-ld --libs) $(shell apr-1-config --link-ld --libs)

# The one command for a newcomer: installs what is missing, then builds and
# runs everything. Recursive so that flags are read after deps installed.
test: deps
	@$(MAKE) --no-print-directory unit-test http-test

unit-test: $(UNIT_BIN)
	CK_FORK=yes $(UNIT_BIN)

http-test: $(MODULE)
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# Everything make run keeps (database, mail, keys), wherever var/ points.
reset:
	@$(PYTHON) scripts/run.py --reset

run: deps
	@$(MAKE) --no-print-directory $(MODULE)
	@$(PYTHON) scripts/run.py --port $(PORT)

migrate:
	@test -n "$(DATABASE_URL)" || { echo "usage: make migrate DATABASE_URL=postgres://user@host/db"; exit 2; }
	@scripts/migrate.sh "$(DATABASE_URL)"

# The customer pages go to WEBDIR (docs/web.md); the example vhost includes
# conf/jklg-web.conf from beside them.
WEBDIR ?= /usr/share/jklg/web

install: $(MODULE)
	$(APXS) -i -n jklg $(MODULE)
	install -m 644 conf/jklg.load /etc/apache2/mods-available/jklg.load
	install -m 644 conf/jklg.conf /etc/apache2/sites-available/jklg.conf
	rm -rf $(WEBDIR)
	mkdir -p $(WEBDIR)
	cp -R web/. $(WEBDIR)/
	find $(WEBDIR) -type d -exec chmod 755 {} + && find $(WEBDIR) -type f -exec chmod 644 {} +
	install -m 644 conf/jklg-web.conf $(dir $(WEBDIR))jklg-web.conf
	@echo "Installed. Edit /etc/apache2/sites-available/jklg.conf, then: a2enmod jklg && a2ensite jklg && systemctl reload apache2"

# The bare one-query handler bench compares /me and the webhook with
# (bench/mod_jklg_bare.c): built for `make bench` only, never installed.
BARE_MODULE = $(BUILD)/mod_jklg_bare.so
export JKLG_BARE_MODULE = $(abspath $(BARE_MODULE))

$(BARE_MODULE): bench/mod_jklg_bare.c $(FLAGS_STAMP) | $(BUILD)
	$(CC) -shared $(CFLAGS) $(CPPFLAGS_ALL) -o $@ $< \
	    $(shell apu-1-config --link-ld --libs) $(shell apr-1-config --link-ld --libs)

bench: deps
	@$(MAKE) --no-print-directory $(MODULE) $(BARE_MODULE)
	@scripts/bench.sh

# libFuzzer needs clang; the target links the core sources directly (not
# libjklg.a, which gcc built without -fsanitize=fuzzer coverage).
FUZZ_SRC      = mod_jklg/jklg_jwt.c mod_jklg/jklg_token.c mod_jklg/jklg_json.c
FUZZ_SANITIZE = -fsanitize=address,undefined
FUZZ_TIME    ?= 60

$(FUZZ_BIN): tests/fuzz/fuzz_jwt.c $(FUZZ_SRC) mod_jklg/*.h $(FLAGS_STAMP)
	clang -g -O1 -fsanitize=fuzzer $(or $(strip $(SANITIZE)),$(FUZZ_SANITIZE)) \
	    $(APR_INC) $(shell pkg-config --cflags jansson libsodium) -Imod_jklg \
	    tests/fuzz/fuzz_jwt.c $(FUZZ_SRC) \
	    $(shell pkg-config --libs jansson libsodium) \
	    $(shell apr-1-config --link-ld --libs) -o $@

fuzz: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz_jwt_corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=4200 $(BUILD)/fuzz_jwt_corpus \
	    tests/fuzz/seeds

# The Debian package (docs/packaging.md), built in a copy of the tree.
.PHONY: deb deb-test
deb:
	@JKLG_DEB=1 scripts/deps.sh
	@scripts/deb.sh

# Not part of `make test`: root, network to a Debian mirror, ~1 GB in build/deb-root.
deb-test: deb
	@JKLG_DEB_TEST=1 scripts/deps.sh
	@scripts/deb-test.sh

clean:
	rm -rf build build-sanitize
