# mkimage — build, test, demo. See README.md.
#
#   make            build/mkimage (never installs; a missing library names `make deps`)
#   make deps       install the Debian packages below (as root; apt-get)
#   make check      deps, then unit tests (plain + ASan/UBSan), golden, bad-input, QEMU
#   make keys       build/keys: the signing key and the Secure Boot development set
#   make image      build/demo.img from models/demo-x86_64.yaml
#   make demo       make image, then show it
#   make install    PREFIX=/usr/local DESTDIR=
#   make format     clang-format the sources (format-check: fail if one is not)
#   make fuzz       run every libFuzzer target FUZZ_SECONDS (default 60) each
#   make bench      cold benchmark against gensquashfs + veritysetup (not a test)

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= gcc
VERSION := 0.1.0
export SOURCE_DATE_EPOCH ?= 1767225600

PKGS := libsquashfs1 fdisk libsodium yaml-0.1 libarchive libcrypto ext2fs com_err libcryptsetup json-c libzstd

# Debian packages the build, the tests and the demo need.
DEB_PKGS := gcc make pkg-config libc6-dev \
	libsquashfs-dev squashfs-tools-ng squashfs-tools libzstd-dev \
	libfdisk-dev fdisk libsodium-dev libyaml-dev libarchive-dev \
	libext2fs-dev e2fsprogs libcryptsetup-dev cryptsetup-bin libssl-dev libjson-c-dev \
	minisign busybox-static zstd xz-utils gzip tar dosfstools mtools systemd-boot-efi cpio \
	clang clang-format libclang-rt-14-dev valgrind bmap-tools time python3-cryptography \
	qemu-system-x86 ovmf kmod qemu-utils gdisk systemd-boot systemd-container \
	sbsigntool efitools swtpm swtpm-tools openssl binutils mmdebstrap

# pkg-config runs once, lazily: after `deps` has installed the packages.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread)$(PKG_LIBS)

WERROR   := $(if $(CI),-Werror,)
WARN     := -Wall -Wextra -Wmissing-prototypes -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
# Includes are written from the top of the tree ("signing/base/error.h"); build
# paths never reach an object (-ffile-prefix-map), so outputs do not depend on
# where the checkout lives.
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(WERROR) -I. -ffile-prefix-map=$(CURDIR)=. \
	-DMKIMAGE_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Two libraries (docs/architecture.md):
#   libmkimage-core.a  signing/: the trust core; the only library a program that
#                      runs on the device links (with libsodium and libyaml)
#   libmkimage.a       builder/ without builder/cli/: the image builder
CORE_SRCS := $(sort $(wildcard signing/*/*.c))
LIB_SRCS  := $(sort $(filter-out builder/cli/%,$(wildcard builder/*/*.c)))
CLI_SRCS  := $(sort $(wildcard builder/cli/*.c))
VERIFY_SRCS := $(sort $(wildcard qemu-boot/verifier/*.c))
UPDATE_SRCS := $(sort $(wildcard qemu-boot/updater/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
ALL_HDRS  := $(sort $(wildcard signing/*/*.h builder/*/*.h qemu-boot/*/*.h tests/lib/*.h tests/unit/*.h tests/fuzz/*.h))

CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
VERIFY_OBJS := $(VERIFY_SRCS:%.c=$(BUILD)/obj/%.o)
UPDATE_OBJS := $(UPDATE_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_CORE_OBJS := $(CORE_SRCS:%.c=$(BUILD)/asan/obj/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/obj/%.o)
ASAN_CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/asan/obj/%.o)
CORE_LIB  := $(BUILD)/libmkimage-core.a
BUILDER_LIB := $(BUILD)/libmkimage.a
LIBS      := $(BUILDER_LIB) $(CORE_LIB)
ASAN_LIBS := $(BUILD)/asan/libmkimage.a $(BUILD)/asan/libmkimage-core.a
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
ASAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/tests/%)

.PHONY: all deps have-deps check unit-bins image demo components keys install uninstall format format-check clean bench fuzz

# Example components: each components/NAME/build.sh OUTDIR assembles a tree,
# which is packed with components/NAME/component.yaml and signed with the
# development key (generated on first use, never committed).
COMPONENTS := $(patsubst components/%/build.sh,%,$(sort $(wildcard components/*/build.sh)))
DEV_KEY := $(BUILD)/keys/dev.key
COMP_FILES := $(COMPONENTS:%=$(BUILD)/components/%.comp)
all: $(BUILD)/mkimage

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "make deps: missing Debian packages; run as root:" >&2; \
	    echo "  apt-get update && apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

# Plain `make` never installs anything: when a library or the compiler is
# missing it says so and names `make deps`. The goals that need the whole tool
# set (check, demo, image, bench, fuzz, components) run `make deps` first.
NEEDS_DEPS := $(filter check demo image bench fuzz components keys,$(MAKECMDGOALS))
have-deps: $(if $(NEEDS_DEPS),deps)
	@command -v $(CC) >/dev/null && pkg-config --exists $(PKGS) 2>/dev/null || { \
	  echo "make: missing build dependencies (compiler or one of: $(PKGS))." >&2; \
	  echo "  run 'make deps' as root (Debian 12: installs them with apt-get), then 'make' again" >&2; exit 1; }

$(BUILD)/obj/%.o: %.c | have-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/obj/%.o: %.c | have-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILDER_LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/asan/libmkimage-core.a: $(ASAN_CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/asan/libmkimage.a: $(ASAN_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mkimage: $(CLI_OBJS) $(LIBS)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(LIBS) $(PKG_LIBS)

# The boot-chain verifier for the initrd (qemu-boot/verifier/): static,
# stripped, no build paths, so the kernel component's initrd is reproducible.
# It runs on the device, so it links the trust core and nothing of builder/:
# make stops before anything is built if a device program's link line names
# a builder object or the builder library (tests/cases/architecture.sh
# shows that it does, with DEVICE_LINK_EXTRA).
DEVICE_LINK_EXTRA ?=
MKIMAGE_VERIFY_LINK := $(VERIFY_OBJS) $(CORE_LIB) $(DEVICE_LINK_EXTRA)
MKIMAGE_UPDATE_LINK := $(UPDATE_OBJS) $(CORE_LIB) $(DEVICE_LINK_EXTRA)
DEVICE_BAD := $(filter $(BUILD)/obj/builder/% %/libmkimage.a,$(MKIMAGE_VERIFY_LINK) $(MKIMAGE_UPDATE_LINK))
$(if $(DEVICE_BAD),$(error mkimage-verify and mkimage-update run on the device and may link only the trust core \
	(signing/, libmkimage-core.a); a link line names builder code: $(DEVICE_BAD)))
$(BUILD)/mkimage-verify: $(MKIMAGE_VERIFY_LINK)
	$(CC) $(CFLAGS) -static -s -o $@ $(MKIMAGE_VERIFY_LINK) -lsodium -lyaml

# The updater (qemu-boot/updater/, docs/update.md): static like the verifier,
# for the device's root, and run on the host against disk images by the tests.
$(BUILD)/mkimage-update: $(MKIMAGE_UPDATE_LINK)
	$(CC) $(CFLAGS) -static -s -o $@ $(MKIMAGE_UPDATE_LINK) -lsodium -lyaml

$(BUILD)/asan/mkimage: $(ASAN_CLI_OBJS) $(ASAN_LIBS)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $(ASAN_CLI_OBJS) $(ASAN_LIBS) $(PKG_LIBS)

# Unit tests: one program per tests/unit/test-*.c, plain and sanitized; -MMD
# so a change to tests/lib/check.h (or any header) rebuilds them.
$(BUILD)/tests/%: tests/unit/%.c $(LIBS) | have-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/lib -MMD -MP -MF $@.d -o $@ $< $(LIBS) $(PKG_LIBS)

$(BUILD)/asan/tests/%: tests/unit/%.c $(ASAN_LIBS) | have-deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/lib -MMD -MP -MF $@.d -o $@ $< $(ASAN_LIBS) $(PKG_LIBS)

unit-bins: $(UNIT_BINS) $(ASAN_UNIT_BINS) $(BUILD)/asan/mkimage


$(DEV_KEY): | $(BUILD)/mkimage
	@mkdir -p $(dir $@)
	$(BUILD)/mkimage keygen $(BUILD)/keys/dev

# The demo model's Secure Boot development set: PK, KEK, db and their .auth
# files (docs/secure-boot.md). Made once, like the signing key.
SB_KEYS := $(BUILD)/keys/sb/db.auth
$(SB_KEYS): | $(BUILD)/mkimage
	@mkdir -p $(BUILD)/keys
	$(BUILD)/mkimage sb-keygen $(BUILD)/keys/sb
keys: $(DEV_KEY) $(SB_KEYS)

.SECONDEXPANSION:
$(BUILD)/components/%.comp: $(BUILD)/mkimage $(DEV_KEY) $$(shell find components/$$* -type f)
	@mkdir -p $(dir $@)
	@rm -rf $(BUILD)/components/$*.tree $(BUILD)/components/$*.tree.meta.yaml $@ $@.minisig
	bash components/$*/build.sh $(BUILD)/components/$*.tree
	@# A recipe may write TREE.meta.yaml (the kernel: the version it really used).
	meta=components/$*/component.yaml; [ -f $(BUILD)/components/$*.tree.meta.yaml ] && meta=$(BUILD)/components/$*.tree.meta.yaml; \
	$(BUILD)/mkimage component pack $(BUILD)/components/$*.tree --meta $$meta --cache $(BUILD)/cache/components -o $@
	$(BUILD)/mkimage sign $@ --key $(DEV_KEY) || { rm -f $@; exit 1; }
	@rm -rf $(BUILD)/components/$*.tree $(BUILD)/components/$*.tree.meta.yaml

# The kernel component (Debian's kernel + the initrd) also holds the verifier
# and qemu-boot/initrd/init. MKIMAGE_VERIFY=FILE puts another static binary in its place.
MKIMAGE_VERIFY ?= $(BUILD)/mkimage-verify
$(BUILD)/components/kernel.comp: $(MKIMAGE_VERIFY) qemu-boot/initrd/init qemu-boot/initrd/mkinitrd.sh
$(BUILD)/components/kernel.comp: export MKIMAGE_VERIFY := $(MKIMAGE_VERIFY)

# The base component and a systemd root's systemd-device hold the updater (docs/update.md).
$(BUILD)/components/base.comp $(BUILD)/components/systemd-device.comp: $(BUILD)/mkimage-update
$(BUILD)/components/base.comp $(BUILD)/components/systemd-device.comp: export MKIMAGE_UPDATE := $(BUILD)/mkimage-update

components: $(COMP_FILES)

check: $(BUILD)/mkimage $(BUILD)/mkimage-update unit-bins components $(SB_KEYS) $$(FUZZERS) format-check
	@BUILD=$(BUILD) bash tests/run

# A benchmark against the standard tools, not a test (never part of check):
# fetches a ~590 MB Debian test root once, then times both sides. See
# tests/bench/README.md. BENCH_ROUNDS=N sets the paired runs (default 3).
bench: $(BUILD)/mkimage $(BUILD)/mkimage-update components $(SB_KEYS) $$(DATA_KEY)
	BENCH_DIR=$(BUILD)/bench bash tests/bench/fetch-root.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage SIGN_KEY=$(DEV_KEY) bash tests/bench/run.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage bash tests/bench/factory.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage SIGN_KEY=$(DEV_KEY) bash tests/bench/warm.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage SIGN_KEY=$(DEV_KEY) bash tests/bench/update.sh
	BENCH_DIR=$(BUILD)/bench BUILD=$(BUILD) bash tests/bench/debian-boot.sh

# The demo device's data-partition key (per device in a factory; never committed).
DATA_KEY := $(BUILD)/keys/data.key
$(DATA_KEY):
	@mkdir -p $(dir $@)
	@umask 077 && head -c 64 /dev/urandom >$@.tmp && mv $@.tmp $@

image: $(BUILD)/mkimage components $(DATA_KEY) $(SB_KEYS)
	$(BUILD)/mkimage build models/demo-x86_64.yaml --data-key $(DATA_KEY) -o $(BUILD)/demo.img

# Build, inspect and verify the demo image, then boot it under QEMU as a new
# machine (OVMF with Secure Boot, an empty variable store: systemd-boot enrols
# the development keys and resets, then the firmware checks every signature)
# and show the console up to MKIMAGE-BOOT-OK and SecureBoot=1.
demo: image
	$(BUILD)/mkimage inspect $(BUILD)/demo.img
	$(BUILD)/mkimage verify $(BUILD)/demo.img --pub $(BUILD)/keys/dev.pub --sb-cert $(BUILD)/keys/sb/db.crt
	qemu-boot/run --timeout 300 --data-key $(DATA_KEY) --expect 'MKIMAGE-BOOT-OK' \
		--expect 'mkimage base: SecureBoot=1' $(BUILD)/demo.img

# What `make install` puts where; `make uninstall` removes exactly these.
INSTALLED := $(PREFIX)/bin/mkimage $(PREFIX)/share/man/man1/mkimage.1 \
	$(PREFIX)/share/bash-completion/completions/mkimage

install: $(BUILD)/mkimage
	install -D -m 0755 $(BUILD)/mkimage $(DESTDIR)$(PREFIX)/bin/mkimage
	install -D -m 0644 docs/mkimage.1 $(DESTDIR)$(PREFIX)/share/man/man1/mkimage.1
	install -D -m 0644 builder/cli/mkimage.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/mkimage

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

FORMAT_FILES = $(CORE_SRCS) $(LIB_SRCS) $(CLI_SRCS) $(VERIFY_SRCS) $(UPDATE_SRCS) $(UNIT_SRCS) $(FUZZ_SRCS) $(ALL_HDRS)
format:
	clang-format -i $(FORMAT_FILES)

# Part of `make check`: every C file is as clang-format (.clang-format) writes it.
format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) || { \
	  echo "make format-check: the files above are not clang-formatted; run 'make format'" >&2; exit 1; }

clean:
	rm -rf $(BUILD)

# ---- fuzzing (docs/fuzzing.md) -------------------------------------------
# The library again, built with clang for libFuzzer + ASan + UBSan, and one
# fuzzer per parser (tests/fuzz/fuzz-NAME.c -> build/fuzz/fuzz-NAME).
#   make fuzz   runs each for FUZZ_SECONDS over a scratch copy of its corpus
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=gnu11 -D_GNU_SOURCE -g -O1 $(WARN) $(WERROR) -I. -ffile-prefix-map=$(CURDIR)=. \
	-DMKIMAGE_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZERS      := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIBS    := $(BUILD)/fuzz/libmkimage.a $(BUILD)/fuzz/libmkimage-core.a

$(BUILD)/fuzz/obj/%.o: %.c | have-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/libmkimage-core.a: $(CORE_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/libmkimage.a: $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_LIBS) | have-deps
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz -fsanitize=fuzzer $(FUZZ_SAN) -MMD -MP -MF $@.d -o $@ $< \
		$(FUZZ_LIBS) $(PKG_LIBS)

fuzz: $(FUZZERS)
	BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

# Header dependencies of every object, unit test and fuzzer (-MMD above).
-include $(shell find $(BUILD) -type f -name '*.d' 2>/dev/null)
