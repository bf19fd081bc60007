#!/bin/bash
# m3age diff: the recipient plan, plaintext diffs between git revisions, --textconv.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "diff: skipped (no ssh-keygen)"; exit 0; }
command -v git >/dev/null || { echo "diff: skipped (no git)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_NOSYSTEM=1

git_repo() {
    export HOME=$PWD
    git init -q .
    make_repo
    git add -A && git commit -qm v1
}

put() { # put FILE TEXT: encrypt TEXT to alice and h1
    printf '%b' "$2" | "$M3AGE_FIXTURE" encrypt -r "$(pub alice)" -r "$(pub h1)" -o "$1"
}

test_plan_up_to_date() {
    make_repo
    run "$M3AGE" diff
    assert_status 0
    assert_contains out "secrets/a.age: up to date"
    assert_contains out "0 of 2 secrets would change on rekey"
}

test_plan_adds_and_removes_by_name() {
    make_repo
    enc secrets/a.age alice h2
    write_registry "" '  "secrets/a.age".publicKeys = users ++ [ h1 bob ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];
  "secrets/c.age".publicKeys = users;'
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "secrets/a.age: +h1 -h2 +1 X25519"
    assert_contains out "secrets/b.age: up to date"
    assert_contains out "secrets/c.age: no file"
    assert_contains out "1 of 3 secrets would change on rekey"
    enc secrets/a.age alice h1 bob
    run "$M3AGE" diff
    assert_status 0
}

test_plan_broken_file_is_exit_2() {
    make_repo
    printf 'age-encryption.org/v1\n--- \n' >secrets/a.age
    run "$M3AGE" diff
    assert_status 2
    assert_contains out "secrets/a.age: cannot read its header"
}

test_file_against_head_and_between_revisions() {
    git_repo
    put secrets/a.age 'one\ntwo\n'
    git commit -qam v2
    put secrets/a.age 'one\nTWO\nthree\n'
    run "$M3AGE" diff -i "$AK/alice" secrets/a.age
    assert_status 1
    assert_contains out "--- secrets/a.age	(HEAD)"
    assert_contains out "+++ secrets/a.age	(working tree)"
    assert_contains out "-two"
    assert_contains out "+TWO"
    assert_contains out "+three"
    run "$M3AGE" diff -i "$AK/h1" secrets/a.age HEAD~1 HEAD
    assert_status 1
    assert_contains out "-secret of secrets/a.age"
    assert_contains out "+two"
    git commit -qam v3
    run "$M3AGE" diff -i "$AK/alice" secrets/a.age
    assert_status 0
    assert_empty out
}

test_file_from_subfolder_and_new_file() {
    git_repo
    put secrets/new.age 'fresh\n'
    git add secrets/new.age && git commit -qm new
    cd secrets
    run "$M3AGE" diff -i "$AK/alice" new.age HEAD~1 HEAD
    assert_status 1
    assert_contains out "--- /dev/null	(HEAD~1)"
    assert_contains out "+fresh"
}

test_no_plaintext_needs_a_disk() {
    # valgrind itself needs a writable TMPDIR; the same diff runs under memcheck in the others
    [ -z "${M3AGE_WRAPPER:-}" ] || skip "m3age runs under valgrind, which needs a writable TMPDIR"
    git_repo
    put secrets/a.age 'changed\n'
    TMPDIR=/nonexistent run "$M3AGE" diff -i "$AK/alice" secrets/a.age
    assert_status 1
    assert_contains out "+changed"
    [ -z "$(find . -newer secrets/a.age -type f ! -path './.git/*' ! -name out ! -name err)" ] ||
        _fail "files were written: $(find . -newer secrets/a.age -type f ! -path './.git/*')"
}

test_errors() {
    git_repo
    run "$M3AGE" diff -i "$AK/alice" secrets/a.age nosuchrev
    assert_status 2
    assert_one_error_line "'nosuchrev' is not a git revision"
    run "$M3AGE" diff -i "$AK/h2" secrets/a.age
    assert_status 2
    assert_contains err "secrets/a.age at HEAD"
    run "$M3AGE" diff secrets/a.age
    assert_status 2
    assert_contains err "no identity to decrypt with"
    run "$M3AGE" diff -i "$AK/alice" secrets/none.age
    assert_status 2
    assert_contains err "no such file"
}

test_textconv() {
    make_repo
    run "$M3AGE" diff --textconv -i "$AK/h1" secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" "secret of secrets/a.age"
    run "$M3AGE" diff --textconv -i "$AK/h1" secrets/b.age
    assert_status 0
    assert_contains out "(m3age: cannot decrypt this version, sha256 "
    echo plain >p.age
    run "$M3AGE" diff --textconv -i "$AK/h1" p.age
    assert_status 0
    assert_eq "$(cat out)" plain
}

run_tests
