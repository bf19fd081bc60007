#!/bin/bash
# tests/cli/build_order.sh: the binary `make` builds is the same whether the build's Debian
# packages were installed before `make` or by it (issue 27: the Makefile decided the link
# flags while it was read, before build-aux/deps.sh had installed the packages, and kept the
# binary of that first run). A copy of the sources is built with the real Makefile, deps.sh,
# compiler and linker; only what a machine without the packages answers is played by
# programs put first on PATH: until deps.sh "installs" the packages (an apt-get that only
# records that it ran), dpkg-query calls them not installed, pkg-config knows none of them
# and there is no C compiler (gcc is among them).
. "$(dirname "$0")/../lib.sh"

need_tools() {
    local t
    # (under make valgrind: this file builds, and runs no m3age for memcheck to watch)
    [ -z "${M3AGE_WRAPPER:-}" ] || skip "checks the build, not m3age (no m3age runs under the wrapper)"
    for t in make cc pkg-config readelf objdump; do
        command -v "$t" >/dev/null || skip "$t not installed"
    done
}

# fake_machine DIR: programs in DIR/bin that answer as a Debian machine without the build's
# packages would until DIR/installed exists (which their apt-get creates).
fake_machine() {
    local d=$1 real_cc real_pc
    real_cc=$(command -v cc) real_pc=$(command -v pkg-config)
    mkdir -p "$d/bin"
    cat >"$d/bin/dpkg-query" <<EOF
#!/bin/sh
if [ -e "$d/installed" ]; then printf installed; else printf not-installed; fi
EOF
    cat >"$d/bin/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$d/apt.log"
touch "$d/installed"
EOF
    printf '#!/bin/sh\nexec "$@"\n' >"$d/bin/sudo"
    cat >"$d/bin/pkg-config" <<EOF
#!/bin/sh
[ -e "$d/installed" ] && exec "$real_pc" "\$@"
echo "Package \$* was not found in the pkg-config search path." >&2
exit 1
EOF
    cat >"$d/bin/cc" <<EOF
#!/bin/sh
[ -e "$d/installed" ] && exec "$real_cc" "\$@"
echo "cc: command not found" >&2
exit 127
EOF
    chmod +x "$d"/bin/*
}

# copy_sources DIR: what `make` builds m3age from, without any build folder.
copy_sources() {
    mkdir -p "$1"
    cp -r "$SRCDIR"/{Makefile,build-aux,libage,keys,registry,secrets,cmd} "$1"/
}

# build DIR FAKE [VAR=VALUE...]: `make` in DIR with FAKE's programs first on PATH (-O0: the
# flags under test are the linker's); the dynamic section's NEEDED and RUNPATH in DIR/flags.
build() {
    local dir=$1 fake=$2
    shift 2
    # (none of the test run's make variables: BUILD, CC, SAN, WERROR... in the environment)
    run env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u CC -u CFLAGS -u CPPFLAGS -u LDFLAGS \
        -u OPT -u SAN -u WERROR -u V -u STATIC_DEPS -u LIBC_RUNPATH -u PKG_CONFIG \
        PATH="$fake/bin:$PATH" \
        make -C "$dir" --no-print-directory OPT=-O0 "$@"
    assert_status 0
    readelf -d "$dir/build/m3age" | grep -E '\((NEEDED|RUNPATH)\)' | sed 's/^ *0x[0-9a-f]* *//' \
        >"$dir/flags"
}

test_packages_installed_by_make_give_the_binary_of_packages_installed_before() {
    need_tools
    # a machine where `make` installs the packages, as the README's first command does
    fake_machine "$PWD/bare"
    copy_sources first
    build first "$PWD/bare"
    assert_exists bare/apt.log # deps.sh did install them during this make
    # a machine where they were there before
    fake_machine "$PWD/ready"
    touch ready/installed
    copy_sources before
    build before "$PWD/ready"
    assert_absent ready/apt.log
    assert_contains before/flags 'RUNPATH'
    [ "$(cat first/flags)" = "$(cat before/flags)" ] ||
        _fail "installed by make: $(tr '\n' ' ' <first/flags); installed before: $(tr '\n' ' ' <before/flags)"
    # and a later make keeps it: nothing is left to rebuild
    build first "$PWD/bare"
    assert_contains out 'Nothing to be done'
}

test_a_change_of_link_flags_relinks() {
    need_tools
    fake_machine "$PWD/m"
    touch m/installed
    copy_sources src
    build src "$PWD/m" LIBC_RUNPATH=
    assert_not_contains src/flags 'RUNPATH'
    # the same tree, the default run path again: relinked, not kept from the last run
    build src "$PWD/m"
    assert_contains src/flags 'RUNPATH'
    cp src/flags default
    build src "$PWD/m" STATIC_DEPS=0
    assert_contains src/flags 'libsodium'
    build src "$PWD/m"
    assert_eq "$(cat src/flags)" "$(cat default)" "flags after going back to the defaults"
}

run_tests
