#!/bin/bash
# tests/cli/install.sh: `make install DESTDIR=... PREFIX=...` puts the binary, the `agenix`
# link, the man pages and the bash/zsh/fish completions where the Nix package expects them
# (nix/layout.nix, which the package's installCheckPhase also reads); uninstall removes them.
. "$(dirname "$0")/../lib.sh"

need_build() {
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v make >/dev/null || skip "make not installed"
}

# install_to DEST PREFIX [TARGET]: run the Makefile's install (or TARGET) into DEST.
install_to() {
    run env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -C "$SRCDIR" --no-print-directory BUILD="$BUILD" DESTDIR="$1" PREFIX="$2" "${3:-install}"
    assert_status 0
}

# layout NAME: the path nix/layout.nix gives NAME (relative to the prefix).
layout() {
    sed -n "s/^ *$1 = \"\\(.*\\)\";\$/\\1/p" "$SRCDIR/nix/layout.nix"
}

LAYOUT_NAMES="bin agenixLink man1 bashCompletion bashCompletionAgenix zshCompletion fishCompletion fishCompletionAgenix"

test_layout_read_here_is_what_nix_evaluates() {
    command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"
    local want="" n
    for n in $(echo "$LAYOUT_NAMES" | tr ' ' '\n' | sort); do
        want="$want,\"$n\":\"$(layout "$n")\""
    done
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json "$SRCDIR/nix/layout.nix"
    assert_status 0
    assert_eq "$(cat out)" "{${want#,}}" "nix/layout.nix"
}

test_install_puts_everything_where_the_package_expects_it() {
    need_build
    install_to "$PWD/dest" /usr
    local p=dest/usr
    [ -x "$p/$(layout bin)" ] || _fail "$(layout bin) not installed executable"
    assert_same_file "$p/$(layout bin)" "$BUILD/m3age"
    assert_eq "$(readlink "$p/$(layout agenixLink)")" m3age "agenix link target"
    assert_same_file "$p/$(layout bashCompletion)" "$SRCDIR/completions/m3age.bash"
    assert_same_file "$p/$(layout zshCompletion)" "$SRCDIR/completions/_m3age"
    assert_same_file "$p/$(layout fishCompletion)" "$SRCDIR/completions/m3age.fish"
    # agenix's completions are links to m3age's, so they resolve inside the prefix
    assert_eq "$(readlink "$p/$(layout bashCompletionAgenix)")" m3age "bash agenix link"
    assert_eq "$(readlink "$p/$(layout fishCompletionAgenix)")" m3age.fish "fish agenix link"
    assert_same_file "$p/$(layout bashCompletionAgenix)" "$SRCDIR/completions/m3age.bash"
    assert_same_file "$p/$(layout fishCompletionAgenix)" "$SRCDIR/completions/m3age.fish"
    [ "$(stat -c %a "$p/$(layout zshCompletion)")" = 644 ] || _fail "zsh completion not 0644"
}

test_install_puts_every_man_page() {
    need_build
    install_to "$PWD/dest" /usr
    local m n=0 want
    want=$(find "$SRCDIR/man" -maxdepth 1 -name '*.[157]' 2>/dev/null | wc -l)
    for m in "$SRCDIR"/man/*.1; do
        [ -f "$m" ] || continue
        assert_same_file "dest/usr/$(layout man1)/$(basename "$m")" "$m"
    done
    for m in "$SRCDIR"/man/*.5; do
        [ -f "$m" ] || continue
        assert_same_file "dest/usr/share/man/man5/$(basename "$m")" "$m"
    done
    n=$(find dest/usr/share/man -type f 2>/dev/null | wc -l)
    # section 7 pages are not installed by the Makefile; sections 1 and 5 all are
    want=$(find "$SRCDIR/man" -maxdepth 1 -name '*.[15]' 2>/dev/null | wc -l)
    assert_eq "$n" "$want" "man pages installed"
}

test_install_honours_prefix_and_agenix_is_the_same_program() {
    need_build
    install_to "$PWD/dest" /opt/m3
    assert_exists dest/opt/m3/bin/m3age
    assert_absent dest/usr
    # the link is relative, so it survives a move of the prefix (DESTDIR, the Nix store)
    mv dest/opt/m3 moved
    assert_eq "$(readlink -f moved/bin/agenix)" "$(readlink -f moved/bin/m3age)" "agenix resolves to"
    assert_same_file moved/bin/agenix "$BUILD/m3age"
}

test_installed_bash_completion_loads_under_the_agenix_name() {
    need_build
    install_to "$PWD/dest" /usr
    printf '{ "secrets/wifi.age".publicKeys = [ ]; }\n' >secrets.nix
    # bash-completion loads completions/<command> lazily: the agenix file must register agenix
    run bash -c '. dest/usr/share/bash-completion/completions/agenix
        COMP_WORDS=(agenix -e ""); COMP_CWORD=2; _m3age_bin() { :; }
        complete -p agenix && complete -p m3age && "$(complete -p agenix | sed "s/.*-F \([^ ]*\).*/\1/")"
        printf "%s\n" "${COMPREPLY[@]}"'
    assert_status 0
    assert_contains out 'complete -F _m3age agenix'
    assert_contains out 'secrets/wifi.age'
}

test_uninstall_removes_what_install_put() {
    need_build
    install_to "$PWD/dest" /usr
    install_to "$PWD/dest" /usr uninstall
    local left
    left=$(find dest \( -type f -o -type l \) | head -5)
    [ -z "$left" ] || _fail "left after uninstall: $left"
}

# This file runs make with an absolute BUILD while `make check` used a relative one: both
# must name the same targets, or the dependency files one writes are lost on the other (which
# then misses header changes, and relinked m3age while other test files ran).
test_build_folder_is_one_target_however_spelled() {
    need_build
    case $BUILD in "$SRCDIR"/*) ;; *) skip "the build folder is outside the source tree" ;; esac
    local rel=${BUILD#"$SRCDIR"/}
    run make -C "$SRCDIR" --no-print-directory -n -p BUILD="$BUILD" "$BUILD/m3age"
    grep -q "^$rel/obj/cmd/main.o:" out || _fail "no target $rel/obj/cmd/main.o in make's database"
    if grep -q "^$BUILD/obj/cmd/main.o:" out; then _fail "the object is named $BUILD/obj/cmd/main.o"; fi
}

run_tests
