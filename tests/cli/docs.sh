#!/bin/bash
# What a user reads is what works: m3age(1) lists every command and its page, the pages
# `man m3age-COMMAND` finds exist, the README's and the demo README's examples run verbatim.
. "$(dirname "$0")/../lib.sh"

test_m3age_1_lists_every_command_with_its_page() {
    run "$M3AGE" --help
    cmds=$(sed -n 's/^  \([a-z-]*\)  .*/\1/p' out)
    [ -n "$cmds" ] || _fail "no commands in --help: $(cat out)"
    for c in $cmds; do
        grep -q "^\.It Cm $c\b\|Cm $c ,\|, Cm $c\b" "$SRCDIR/man/m3age.1" || _fail "m3age(1) does not list '$c'"
        case $c in encrypt | decrypt | keygen | version | help) continue ;; esac
        [ -e "$SRCDIR/man/m3age-$c.1" ] || _fail "no page man/m3age-$c.1 for '$c'"
        grep -q "^\.Xr m3age-$c 1" "$SRCDIR/man/m3age.1" || _fail "m3age(1) does not name m3age-$c(1)"
    done
}

test_alias_pages_render() {
    command -v mandoc >/dev/null || skip "mandoc not installed"
    for c in rekey check diff git-setup git; do
        run mandoc -Tascii "$SRCDIR/man/m3age-$c.1"
        assert_status 0
        grep -q "m3age $c" out || grep -q "$c" out || _fail "m3age-$c(1) does not describe $c"
    done
}

test_readme_keygen_example_runs_on_a_fresh_account() {
    export HOME=$PWD/home
    mkdir "$HOME"
    line=$(grep -o 'mkdir -p -m 700 ~/.config/m3age && m3age keygen -o ~/.config/m3age/m3tam3re.txt' "$SRCDIR/README.md")
    [ -n "$line" ] || _fail "the README's keygen example changed"
    mkdir bin && ln -s "$M3AGE" bin/m3age # (under make valgrind $M3AGE is a wrapper script)
    run bash -c "PATH=$PWD/bin:\$PATH; $line"
    assert_status 0
    assert_exists "$HOME/.config/m3age/m3tam3re.txt"
    assert_eq "$(stat -c %a "$HOME/.config/m3age/m3tam3re.txt")" 600
}

test_keygen_into_a_missing_folder_hints_mkdir() {
    run "$M3AGE" keygen -o nodir/key.txt
    assert_status 2
    assert_contains err "m3age: error: nodir/key.txt: cannot create output: No such file or directory"
    assert_contains err "m3age: hint: its folder does not exist: create it first ('mkdir -p -m 700 nodir')"
}

test_demo_readme_examples_run_verbatim() {
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    export HOME=$PWD/home XDG_RUNTIME_DIR=$(mktemp -d /dev/shm/m3t.XXXXXX)
    mkdir -p "$HOME"
    # the README's block, with the copy made here and m3age the build's
    block=$(sed -n '/^```sh$/,/^```$/p' "$SRCDIR/examples/nixos-config/README.md" | sed '1d;$d')
    [ -n "$block" ] || _fail "no example block in the demo README"
    cp -r "$SRCDIR/examples/nixos-config" demo
    block=$(printf '%s\n' "$block" | sed -e '/^cp -r /d' -e 's|^m3age |"$M3AGE" |')
    printf 'wifi ok\n' >in
    (cd demo && eval "$(printf '%s\n' "$block" | sed 's|"$M3AGE" edit |"$M3AGE" edit --editor true |')") >out 2>err ||
        _fail "the demo README's examples failed: $(cat err)"
    assert_not_contains err "accessible by others"
    assert_not_contains err "error"
    rm -rf "$XDG_RUNTIME_DIR"
}

run_tests
