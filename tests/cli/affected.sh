#!/bin/bash
# tests/cli/affected.sh: `m3age affected [REV]` in a real git repository (keys from
# ssh-keygen, secrets encrypted by Go age): each kind of change names exactly the hosts it
# touches, in text, --json and --format matrix; nothing touched is exit 0 with an empty list.
. "$(dirname "$0")/../lib.sh"

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

need_tools() {
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v git >/dev/null || skip "git not installed"
    command -v age >/dev/null || skip "age not installed"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
}

# The repository (made once per file, copied per test): hosts m3-atlas, m3-helios, m3-hermes;
# keys in keys.nix, which secrets.nix imports; db.age for atlas and helios, mail.age for
# hermes, wifi.age (in the registry, used by no host).
fixture() {
    local fx=$T_ROOT/fixture h
    if [ ! -d "$fx" ]; then
        mkdir -p "$fx.tmp/repo/secrets" "$fx.tmp/keys"
        for h in m3-atlas m3-helios m3-hermes m3tam3re; do
            ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$fx.tmp/keys/$h"
        done
        cd "$fx.tmp/repo"
        {
            echo '{'
            for h in m3-atlas m3-helios m3-hermes m3tam3re; do
                echo "  $h = \"$(cut -d' ' -f1,2 "../keys/$h.pub")\";"
            done
            echo '}'
        } >keys.nix
        cat >secrets.nix <<'NIX'
let
  keys = import ./keys.nix;
  user = [ keys.m3tam3re ];
in
{
  "secrets/db.age".publicKeys = user ++ [ keys.m3-atlas keys.m3-helios ];
  "secrets/mail.age".publicKeys = user ++ [ keys.m3-hermes ];
  "secrets/wifi.age".publicKeys = user;
}
NIX
        for h in m3-atlas m3-helios m3-hermes; do mkdir -p "hosts/$h"; done
        printf '{ ... }:\n{\n  age.secrets.db.file = ../../secrets/db.age;\n}\n' >hosts/m3-atlas/default.nix
        printf '{ ... }:\n{\n  age.secrets.db = {\n    file = ../../secrets/db.age;\n    mode = "0400";\n  };\n}\n' >hosts/m3-helios/default.nix
        printf '{ ... }:\n{\n  age.secrets.mail.file = ../../secrets/mail.age;\n}\n' >hosts/m3-hermes/default.nix
        echo 'postgres://db' | age -R ../keys/m3tam3re.pub -R ../keys/m3-atlas.pub -R ../keys/m3-helios.pub -o secrets/db.age
        echo 'smtp-pw' | age -R ../keys/m3tam3re.pub -R ../keys/m3-hermes.pub -o secrets/mail.age
        echo 'psk' | age -R ../keys/m3tam3re.pub -o secrets/wifi.age
        git init -q -b main .
        git add -A
        git commit -qm init
        cd - >/dev/null
        mv "$fx.tmp" "$fx"
    fi
    cp -a "$fx/repo" repo
    cp -a "$fx/keys" keys
}

affected() { # affected ARGS...: m3age affected in ./repo
    run bash -c 'cd repo && "$@"' _ "$M3AGE" affected "$@"
}

commit() { (cd repo && git add -A && git commit -qm "$1"); }

test_nothing_changed_is_an_empty_list() {
    need_tools
    fixture
    affected HEAD
    assert_status 0
    assert_eq "$(cat out)" "no host affected (compared with $(cd repo && git rev-parse --short=12 HEAD), HEAD)" "text"
    assert_empty err
    affected HEAD --format matrix
    assert_status 0
    assert_eq "$(cat out)" '{"host":[]}' "matrix"
    affected HEAD --json
    assert_status 0
    assert_contains out '"hosts": [],'
    assert_contains out '"secrets": []'
}

test_a_change_that_touches_no_secret() {
    need_tools
    fixture
    echo '# notes' >repo/README.md
    printf '{ ... }:\n{\n  services.nginx.enable = true;\n}\n' >repo/hosts/m3-atlas/web.nix
    commit "docs and a module without secrets"
    affected HEAD~1 --format matrix
    assert_status 0
    assert_eq "$(cat out)" '{"host":[]}' "matrix"
}

test_content_reencrypted_names_the_hosts_using_it() {
    need_tools
    fixture
    echo 'postgres://db-2' | age -R keys/m3tam3re.pub -R keys/m3-atlas.pub -R keys/m3-helios.pub -o repo/secrets/db.age
    # the working tree against HEAD: uncommitted changes count
    affected HEAD
    assert_status 0
    assert_eq "$(cat out)" "m3-atlas
  secrets/db.age: re-encrypted to the same recipients (new content or file key)
m3-helios
  secrets/db.age: re-encrypted to the same recipients (new content or file key)
2 of 3 hosts affected (compared with $(cd repo && git rev-parse --short=12 HEAD), HEAD)" "text"
    affected HEAD --format matrix
    assert_eq "$(cat out)" '{"host":["m3-atlas","m3-helios"]}' "matrix"
}

test_recipients_changed_in_the_header() {
    need_tools
    fixture
    # mail.age re-encrypted without hermes' key: the header's recipients differ
    echo 'smtp-pw' | age -R keys/m3tam3re.pub -o repo/secrets/mail.age
    commit "drop hermes"
    affected HEAD~1
    assert_status 0
    assert_contains out 'm3-hermes
  secrets/mail.age: re-encrypted to other recipients'
    assert_contains out '1 of 3 hosts affected'
    affected HEAD~1 --json
    assert_contains out '{"host": "m3-hermes", "reasons": ["secrets/mail.age: re-encrypted to other recipients"]}'
    assert_contains out '"secrets": ["secrets/mail.age"]'
}

test_registry_entry_changed_through_an_imported_file() {
    need_tools
    fixture
    # a new key for m3-helios in keys.nix (imported by secrets.nix): read at both revisions
    ssh-keygen -q -t ed25519 -N '' -C m3-helios -f keys/helios2
    sed -i "s|^  m3-helios = .*|  m3-helios = \"$(cut -d' ' -f1,2 keys/helios2.pub)\";|" repo/keys.nix
    commit "new helios key"
    affected HEAD~1
    assert_status 0
    # db.age's entry changed for both of its hosts; nothing of hermes'
    assert_eq "$(grep -v '^ ' out | head -2)" "m3-atlas
m3-helios" "hosts"
    assert_contains out '  secrets/db.age: recipients changed in the registry'
    assert_not_contains out 'm3-hermes'
}

test_registry_entry_added_and_removed() {
    need_tools
    fixture
    # wifi.age (no host uses it) removed with its file; vpn.age added and used by hermes
    sed -i '/wifi.age/d' repo/secrets.nix
    rm repo/secrets/wifi.age
    sed -i 's|^}$|  "secrets/vpn.age".publicKeys = user ++ [ keys.m3-hermes ];\n}|' repo/secrets.nix
    echo 'wg-key' | age -R keys/m3tam3re.pub -R keys/m3-hermes.pub -o repo/secrets/vpn.age
    printf '{ ... }:\n{\n  age.secrets.vpn.file = ../../secrets/vpn.age;\n}\n' >repo/hosts/m3-hermes/vpn.nix
    commit "vpn"
    affected HEAD~1 --json
    assert_status 0
    assert_contains out '"secrets": ["secrets/vpn.age", "secrets/wifi.age"]'
    assert_contains out '{"host": "m3-hermes", "reasons": ["secrets/vpn.age: now used (age.secrets.vpn in hosts/m3-hermes/vpn.nix)", "secrets/vpn.age: registry entry added, file added", "hosts/m3-hermes/vpn.nix: a module defining age.secrets changed"]}'
    affected HEAD~1 --format matrix
    assert_eq "$(cat out)" '{"host":["m3-hermes"]}' "matrix"
}

test_host_module_changed_to_use_another_secret() {
    need_tools
    fixture
    sed -i 's|db.age|mail.age|' repo/hosts/m3-atlas/default.nix
    commit "atlas uses mail"
    affected HEAD~1
    assert_status 0
    assert_eq "$(cat out)" "m3-atlas
  secrets/mail.age: now used (age.secrets.db in hosts/m3-atlas/default.nix)
  secrets/db.age: no longer used (age.secrets.db was in hosts/m3-atlas/default.nix)
  hosts/m3-atlas/default.nix: a module defining age.secrets changed
1 of 3 hosts affected (compared with $(cd repo && git rev-parse --short=12 HEAD~1), HEAD~1)" "text"
}

# a module shared through `imports` (the host scan follows them): the hosts importing it
test_shared_module_imported_by_hosts() {
    need_tools
    fixture
    mkdir repo/modules
    printf '{ ... }:\n{\n  age.secrets.backup.file = ../secrets/wifi.age;\n}\n' >repo/modules/backup.nix
    printf '{ ... }:\n{\n  imports = [ ../../modules/backup.nix ];\n}\n' >repo/hosts/m3-atlas/backup.nix
    printf '{ ... }:\n{\n  imports = [ ../../modules/backup.nix ];\n}\n' >repo/hosts/m3-hermes/backup.nix
    commit "shared backup module"
    affected HEAD~1 --format matrix
    assert_eq "$(cat out)" '{"host":["m3-atlas","m3-hermes"]}' "hosts now importing it"
    echo 'psk-2' | age -R keys/m3tam3re.pub -o repo/secrets/wifi.age
    affected HEAD --json
    assert_contains out '{"host": "m3-atlas", "reasons": ["secrets/wifi.age: re-encrypted to the same recipients (new content or file key)"]}'
    assert_contains out '{"host": "m3-hermes", "reasons": ["secrets/wifi.age: re-encrypted to the same recipients (new content or file key)"]}'
    assert_not_contains out 'm3-helios'
}

test_secret_options_changed_in_a_module() {
    need_tools
    fixture
    sed -i 's|"0400"|"0440"|' repo/hosts/m3-helios/default.nix
    affected HEAD --format matrix
    assert_eq "$(cat out)" '{"host":["m3-helios"]}' "a mode change"
}

test_default_rev_is_the_merge_base_with_upstream() {
    need_tools
    fixture
    git clone -q repo upstream.git --bare
    (cd repo && git remote add origin ../upstream.git && git fetch -q origin &&
        git branch -q -u origin/main)
    echo 'smtp-pw-2' | age -R keys/m3tam3re.pub -R keys/m3-hermes.pub -o repo/secrets/mail.age
    commit "mail 2"
    echo 'postgres://db-2' | age -R keys/m3tam3re.pub -R keys/m3-atlas.pub -R keys/m3-helios.pub -o repo/secrets/db.age
    commit "db 2"
    # HEAD~1 alone would miss mail.age; the merge base with origin/main has both
    affected --format matrix
    assert_status 0
    assert_eq "$(cat out)" '{"host":["m3-atlas","m3-helios","m3-hermes"]}' "since upstream"
    affected
    assert_contains out "(compared with $(cd repo && git rev-parse --short=12 HEAD~2), merge base with origin/main)"
}

test_default_rev_without_upstream_is_head_1() {
    need_tools
    fixture
    echo 'smtp-pw-2' | age -R keys/m3tam3re.pub -R keys/m3-hermes.pub -o repo/secrets/mail.age
    commit "mail 2"
    affected --format matrix
    assert_status 0
    assert_eq "$(cat out)" '{"host":["m3-hermes"]}' "HEAD~1"
}

test_one_commit_and_no_upstream_says_so() {
    need_tools
    fixture
    affected
    assert_status 2
    assert_eq "$(head -1 err)" "m3age: error: $(cd repo && pwd -P): the repository has one commit and its branch no upstream: nothing to compare with by default (name a revision)" "message"
    assert_contains err 'm3age: hint: name the revision to compare with: m3age affected REV'
    assert_empty out
}

test_bad_input() {
    need_tools
    fixture
    affected no-such-rev
    assert_status 2
    assert_one_error_line "m3age: error: 'no-such-rev': no such revision in "
    affected HEAD --format yaml
    assert_status 2
    assert_one_error_line "m3age: error: --format yaml: unknown format (text, json or matrix)"
    affected HEAD extra
    assert_status 2
    assert_contains err "m3age: error: unexpected argument 'extra'"
    run bash -c 'cd repo && PATH=/nonexistent "$1" affected HEAD' _ "$M3AGE"
    assert_status 2
    assert_one_error_line "m3age: error: cannot run 'git'"
    mkdir plain && cp repo/secrets.nix repo/keys.nix plain/
    run bash -c 'cd plain && "$1" affected HEAD' _ "$M3AGE"
    assert_status 2
    assert_one_error_line "m3age: error: $(pwd -P)/plain: not in a git repository"
}

test_registry_broken_at_the_revision_names_it() {
    need_tools
    fixture
    echo '{ broken' >repo/secrets.nix
    commit "broken"
    git -C repo checkout -q HEAD~1 -- secrets.nix
    affected HEAD
    assert_status 2
    assert_contains err "m3age: error: $(cd repo && git rev-parse --short=12 HEAD):secrets.nix:"
    assert_not_contains err 'm3age-rev.'
    assert_lines err 1
}

test_leaves_the_repository_and_tmp_as_they_were() {
    need_tools
    fixture
    echo 'smtp-pw-2' | age -R keys/m3tam3re.pub -R keys/m3-hermes.pub -o repo/secrets/mail.age
    (cd repo && git status --porcelain) >before
    mkdir tmp
    run env TMPDIR="$PWD/tmp" bash -c 'cd repo && "$1" affected HEAD' _ "$M3AGE"
    assert_status 0
    (cd repo && git status --porcelain) >after
    assert_same_file before after
    assert_eq "$(ls -A tmp)" "" "temporary folder left"
}

# interrupted (SIGINT, SIGTERM) while git writes the revision's files (a git first in PATH
# that hangs there, as a large repository's checkout takes its time): git is stopped, the
# temporary folder removed, and m3age ends as the signal would have ended it
test_interrupted_leaves_no_temporary_folder() {
    need_tools
    fixture
    local sig want pid st i real_git
    real_git=$(command -v git)
    mkdir bin tmp
    cat >bin/git <<EOF
#!/bin/sh
case " \$* " in *" checkout-index "*) echo \$\$ >"$PWD/hanging"; exec sleep 60 ;; esac
exec "$real_git" "\$@"
EOF
    chmod +x bin/git
    (cd repo && git status --porcelain) >before
    for sig in INT TERM; do
        rm -f hanging
        (cd repo && PATH="$PWD/../bin:$PATH" TMPDIR="$PWD/../tmp" exec "$M3AGE" affected HEAD \
            >../out 2>../err </dev/null) &
        pid=$!
        for i in $(seq 300); do [ -s hanging ] && break; sleep 0.1; done
        [ -s hanging ] || _fail "git checkout-index never ran: $(cat err)"
        [ -n "$(ls -A tmp)" ] || _fail "no temporary folder while git runs"
        kill -"$sig" "$pid"
        set +e
        wait "$pid"
        st=$?
        set -e
        assert_eq "$(ls -A tmp)" "" "SIG$sig: temporary folder left"
        want=$((128 + $(kill -l "$sig")))
        assert_eq "$st" "$want" "SIG$sig: exit status"
        assert_eq "$(cat err)" "m3age: error: interrupted by SIG$sig" "SIG$sig: message"
        assert_empty out
        if kill -0 "$(cat hanging)" 2>/dev/null; then _fail "SIG$sig: git left running"; fi
    done
    (cd repo && git status --porcelain) >after
    assert_same_file before after
}

# a secret committed as a link is not followed, at either revision: the command fails closed
test_a_linked_secret_is_refused() {
    need_tools
    fixture
    echo 'outside' >outside.age
    ln -sf "$PWD/outside.age" repo/secrets/wifi.age
    commit "wifi is a link"
    affected HEAD~1
    assert_status 2
    assert_one_error_line "m3age: error: secrets/wifi.age: a symbolic link, or in a linked folder (refused"
    affected HEAD
    assert_status 2
}

# the agenix layout: secrets/secrets.nix importing ../keys.nix, hosts/ at the top; at the
# revision the import is read inside the same root as in the working tree
test_registry_in_a_subfolder_importing_a_parent_file() {
    need_tools
    fixture
    (cd repo && git mv secrets.nix secrets/secrets.nix)
    sed -i -e 's|import ./keys.nix|import ../keys.nix|' -e 's|"secrets/|"|' repo/secrets/secrets.nix
    commit "agenix layout"
    ssh-keygen -q -t ed25519 -N '' -C m3-hermes -f keys/hermes2
    sed -i "s|^  m3-hermes = .*|  m3-hermes = \"$(cut -d' ' -f1,2 keys/hermes2.pub)\";|" repo/keys.nix
    run bash -c 'cd repo/secrets && "$1" affected HEAD' _ "$M3AGE"
    assert_status 0
    assert_eq "$(head -2 out)" "m3-hermes
  secrets/mail.age: recipients changed in the registry" "hosts"
    assert_contains out '1 of 3 hosts affected'
}

test_help() {
    [ -x "$M3AGE" ] || skip "m3age not built"
    run "$M3AGE" affected --help
    assert_status 0
    assert_contains out 'Usage: m3age affected [REV]'
    assert_contains out '--format matrix'
    run "$M3AGE" --help
    assert_contains out 'affected'
}

run_tests
