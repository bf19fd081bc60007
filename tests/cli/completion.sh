#!/bin/bash
# tests/cli/completion.sh: the shell completions. The bash one is sourced and asked for
# candidates as bash's programmable completion would (COMP_WORDS/COMP_CWORD, then COMPREPLY):
# commands, options, secret names from the registry, host names from hosts/. The fish one is
# asked through `complete -C`; the zsh one is checked for syntax and for registering itself.
. "$(dirname "$0")/../lib.sh"

BASHCOMP="$SRCDIR/completions/m3age.bash"

# comp LINE: candidates bash would offer at the end of LINE, one per line in ./out.
# M3AGE_COMP_NO_EVAL=1 makes the completion use its grep fallback even with m3age on PATH;
# COMP_DIR runs the completion in another folder (out and err stay here).
comp() {
    run bash -c '
        cd "$3" || exit 9
        . "$1"
        [ -n "${M3AGE_COMP_NO_EVAL:-}" ] && _m3age_bin() { :; }
        read -r -a COMP_WORDS <<<"$2"
        [[ $2 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$2 COMP_POINT=${#2}
        _m3age
        [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' _ "$BASHCOMP" "$1" "${COMP_DIR:-.}"
    assert_status 0
    sort out -o out
}

# expect_comp LINE WORD...: exactly these candidates (any order).
expect_comp() {
    local line=$1
    shift
    comp "$line"
    local want=""
    [ $# -eq 0 ] || want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    assert_eq "$(tr '\n' ' ' <out)" "$want" "candidates for '$line'"
}

make_repo() {
    mkdir -p secrets hosts/m3-ares hosts/m3-atlas hosts/m3-aether
    touch hosts/README.md
    cat >secrets.nix <<'NIX'
let
  m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1c3RlZCBrZXkgZm9yIHRlc3RzIG9ubHkK m3tam3re";
  m3-atlas = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
  # "secrets/retired.age" was removed
in
{
  "secrets/wifi.age".publicKeys = [ m3tam3re m3-atlas ];
  "secrets/db-password.age" = { publicKeys = [ m3tam3re ]; armor = true; };
  "secrets/wireguard-atlas.age".publicKeys = [ m3-atlas ];
}
NIX
}

test_affected() {
    expect_comp 'm3age affected --' --format --help --json --nix --no-nix --rules
    expect_comp 'm3age affected --format ' json matrix text
    git init -q -b main .
    expect_comp 'm3age affected HEAD' HEAD HEAD~1
}

test_commands() {
    expect_comp 'm3age ' affected audit check decrypt diff edit encrypt git git-setup help hosts \
        keygen keys registry rekey version
    expect_comp 'm3age re' registry rekey
    expect_comp 'm3age git' git git-setup
    expect_comp 'm3age git -' --help --identity -i
    expect_comp 'm3age help ed' edit
}

test_subcommands() {
    expect_comp 'm3age registry ' add eval hosts rm rm-key set-key
    expect_comp 'm3age registry rm' rm rm-key
    expect_comp 'm3age keys ' convert inspect
    expect_comp 'm3age hosts ' add list rm sync
}

test_options_per_command() {
    expect_comp 'm3age rekey --' --allow-lockout --dry-run --force --help --host --identity --jobs \
        --json --nix --no-nix --partial --rules
    expect_comp 'm3age audit --' --color --help --host --identity --json --nix --no-nix --require-pq --rules
    expect_comp 'm3age check --' --color --help --host --json --key --nix --no-nix --rules --scan --timeout
    expect_comp 'm3age registry eval --' --help --json --nix --no-nix --rules
    expect_comp 'm3age hosts sync --' --accept-new --dry-run --from --help --known-hosts --pq --rekey --scan
    expect_comp 'm3age encrypt -' --armor --help --output --passphrase --recipient --recipients-file \
        -R -a -o -p -r
}

test_secret_names_from_the_registry() {
    make_repo
    export M3AGE_COMP_NO_EVAL=1
    # the commented-out name and the keys are not offered
    expect_comp 'm3age edit ' secrets/db-password.age secrets/wifi.age secrets/wireguard-atlas.age
    expect_comp 'm3age edit secrets/w' secrets/wifi.age secrets/wireguard-atlas.age
    expect_comp 'm3age rekey --force secrets/d' secrets/db-password.age
    expect_comp 'm3age decrypt secrets/wif' secrets/wifi.age
    expect_comp 'm3age keys inspect secrets/wir' secrets/wireguard-atlas.age
}

test_secret_names_from_a_parent_folder_and_from_rules() {
    make_repo
    export M3AGE_COMP_NO_EVAL=1
    mkdir -p hosts/m3-ares/sub
    cd hosts/m3-ares/sub
    expect_comp 'm3age diff secrets/wif' secrets/wifi.age
    cd "$OLDPWD"
    mkdir other
    printf '{ "api-token.age".publicKeys = [ ]; }\n' >other/rules.nix
    RULES=other/rules.nix expect_comp 'm3age edit ' api-token.age
    # RULES naming a missing file: files, not the names of ./secrets.nix
    touch secrets/on-disk.age
    RULES=missing.nix expect_comp 'agenix -e secrets/' secrets/on-disk.age
}

test_secret_names_through_registry_eval() {
    make_repo
    [ -x "$M3AGE" ] || skip "m3age not built"
    # a name the grep fallback cannot see: it is built by interpolation
    cat >secrets.nix <<'NIX'
let dir = "secrets"; k = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"; in
{ "${dir}/computed.age".publicKeys = [ k ]; "plain.age".publicKeys = [ k ]; }
NIX
    run "$M3AGE" registry eval --json --rules secrets.nix
    [ "$status" -eq 0 ] || skip "m3age registry eval not available in this build yet"
    PATH="$BUILD:$PATH" expect_comp 'm3age edit ' plain.age secrets/computed.age
    M3AGE_COMP_NO_EVAL=1 expect_comp 'm3age edit ' plain.age
    if command -v fish >/dev/null; then
        PATH="$BUILD:$PATH" fish_comp 'm3age edit '
        assert_eq "$(tr '\n' ' ' <out)" "plain.age secrets/computed.age " "fish, through registry eval"
    fi
    if command -v zsh >/dev/null; then
        ZTMP=$(mktemp -d "${TMPDIR:-/tmp}/m3z.XXXXXX")
        trap 'rm -rf "$ZTMP"' EXIT
        PATH="$BUILD:$PATH" expect_zsh 'm3age edit ' plain.age secrets/computed.age
    fi
}

test_key_and_list_names_from_the_registry() {
    make_repo
    sed -i 's/^in$/  servers = [ m3-atlas ];\nin/' secrets.nix
    expect_comp 'm3age registry add secrets/new.age ' m3-atlas m3tam3re servers
    expect_comp 'm3age registry add secrets/new.age m3tam3re m3-' m3-atlas
    expect_comp 'm3age registry rm-key ' m3-atlas m3tam3re
    expect_comp 'm3age registry set-key m3t' m3tam3re
    expect_comp 'm3age registry set-key m3tam3re ' # the new key is free text
    expect_comp 'm3age hosts add m3-hermes --to ' servers
}

# The demo repository (examples/nixos-config): what a user of it would be offered.
test_demo_repository() {
    local demo="$SRCDIR/examples/nixos-config"
    [ -f "$demo/secrets.nix" ] || skip "no demo repository"
    export COMP_DIR=$demo M3AGE_COMP_NO_EVAL=1
    expect_comp 'm3age edit ' secrets/m3tam3re-password.age secrets/mail-relay.age \
        secrets/nextcloud-admin.age secrets/restic-atlas.age secrets/wifi.age \
        secrets/wireguard-aether.age
    expect_comp 'm3age check --host ' m3-aether m3-ares m3-atlas m3-daedalus m3-helios m3-hermes \
        m3-kratos
    expect_comp 'm3age hosts add m3-new --to ' servers users workstations
    expect_comp 'm3age registry rm-key m3tam' m3tam3re m3tam3re-age
}

# The grep fallback agrees with Nix on the demo registry's names.
test_demo_names_match_nix() {
    local demo="$SRCDIR/examples/nixos-config"
    [ -f "$demo/secrets.nix" ] || skip "no demo repository"
    command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json -E "builtins.attrNames (import $demo/secrets.nix)"
    assert_status 0
    tr -d '[]"' <out | tr ',' '\n' | sort >want
    [ "$(wc -l <want)" -ge 2 ] || _fail "nix gave no names: $(cat out)"
    COMP_DIR=$demo M3AGE_COMP_NO_EVAL=1 comp 'm3age edit '
    assert_same_file out want
}

test_rules_option_on_the_command_line() {
    make_repo
    export M3AGE_COMP_NO_EVAL=1
    mkdir other
    printf '{ "api-token.age".publicKeys = [ ]; }\n' >other/rules.nix
    expect_comp 'm3age edit --rules other/rules.nix ' api-token.age
    expect_comp 'm3age rekey --rules other/rules.nix --force a' api-token.age
    # without it, ./secrets.nix
    expect_comp 'm3age rekey --force secrets/wif' secrets/wifi.age
    if command -v fish >/dev/null; then
        PATH=$(path_without_m3age) fish_comp 'm3age edit --rules other/rules.nix '
        assert_eq "$(tr '\n' ' ' <out)" "api-token.age " "fish --rules"
    fi
    if command -v zsh >/dev/null; then
        ZTMP=$(mktemp -d "${TMPDIR:-/tmp}/m3z.XXXXXX")
        trap 'rm -rf "$ZTMP"' EXIT
        PATH=$(path_without_m3age) expect_zsh 'm3age edit --rules other/rules.nix ' api-token.age
    fi
}

# bash splits words at "=": `--host=m3-a` arrives as `--host` `=` `m3-a`.
test_option_values_after_equals() {
    make_repo
    run bash -c '. "$1"
        COMP_WORDS=(m3age rekey --host = m3-at); COMP_CWORD=4; _m3age; echo "${COMPREPLY[*]}"
        COMP_WORDS=(m3age audit --host =); COMP_CWORD=3; _m3age; echo "${COMPREPLY[*]}"
        COMP_WORDS=(m3age rekey --host = m3-atlas secrets/wif); COMP_CWORD=5; _m3age_bin() { :; }
        _m3age; echo "${COMPREPLY[*]}"' _ "$BASHCOMP"
    assert_status 0
    assert_eq "$(sed -n 1p out)" "m3-atlas" "after --host=m3-at"
    assert_eq "$(sed -n 2p out)" "m3-aether m3-ares m3-atlas" "after --host="
    assert_eq "$(sed -n 3p out)" "secrets/wifi.age" "after --host=m3-atlas"
}

test_no_registry_offers_files() {
    mkdir work
    touch work/notes.age work/other.txt
    expect_comp 'm3age edit work/no' work/notes.age
    expect_comp 'm3age edit work/' work/notes.age work/other.txt
}

test_host_names_from_hosts_folder() {
    make_repo
    expect_comp 'm3age rekey --host ' m3-aether m3-ares m3-atlas
    expect_comp 'm3age check --host m3-a' m3-aether m3-ares m3-atlas
    expect_comp 'm3age hosts sync m3-at' m3-atlas
    expect_comp 'm3age hosts rm ' m3-aether m3-ares m3-atlas
    expect_comp 'm3age audit --host m3-ae' m3-aether
}

test_agenix_flags_and_arguments() {
    make_repo
    export M3AGE_COMP_NO_EVAL=1
    expect_comp 'agenix -' --decrypt --edit --help --identity --rekey --verbose -d -e -h -i -r -v
    expect_comp 'agenix -e secrets/wif' secrets/wifi.age
    expect_comp 'agenix --decrypt secrets/db' secrets/db-password.age
    expect_comp 'agenix -i secrets.n' secrets.nix
    expect_comp '/usr/bin/agenix -r -' --decrypt --edit --help --identity --rekey --verbose \
        -d -e -h -i -r -v
}

test_age_mode_flags() {
    touch in.txt key.txt
    expect_comp 'm3age -' --armor --decrypt --encrypt --help --identity --output --passphrase \
        --recipient --recipients-file --version -R -a -d -e -i -o -p -r
    expect_comp 'm3age -d -i ke' key.txt
    expect_comp 'm3age --decrypt -i key.txt -' --armor --decrypt --encrypt --identity --output \
        --passphrase --recipient --recipients-file --version -R -a -d -e -i -o -p -r
    expect_comp 'm3age -d -i key.txt in' in.txt
}

test_registered_for_both_names() {
    run bash -c '. "$1"; complete -p m3age; complete -p agenix' _ "$BASHCOMP"
    assert_status 0
    assert_contains out 'complete -F _m3age m3age'
    assert_contains out 'complete -F _m3age agenix'
}

# path_without_m3age: $PATH less the folders holding an m3age (so the completions use their
# grep fallback for names whatever is installed).
path_without_m3age() {
    local d out="" IFS=:
    for d in $PATH; do
        [ -x "$d/m3age" ] || out="$out${out:+:}$d"
    done
    printf '%s\n' "$out"
}

# fish_comp LINE: what fish offers (candidates only, descriptions dropped), sorted, in ./out.
fish_comp() {
    command -v fish >/dev/null || skip "fish not installed"
    run env HOME="$PWD" fish --no-config -c 'source $argv[1]; complete -C $argv[2]' \
        "$SRCDIR/completions/m3age.fish" "$1"
    assert_status 0
    cut -f1 out | sort -o out
}

test_fish_completion() {
    make_repo
    fish_comp 'm3age '
    assert_eq "$(tr '\n' ' ' <out)" "affected audit check decrypt diff edit encrypt git git-setup help hosts keygen keys registry rekey version " "fish commands"
    PATH=$(path_without_m3age) fish_comp 'm3age edit '
    assert_eq "$(tr '\n' ' ' <out)" "secrets/db-password.age secrets/wifi.age secrets/wireguard-atlas.age " "fish secrets"
    fish_comp 'm3age rekey --host '
    assert_eq "$(tr '\n' ' ' <out)" "m3-aether m3-ares m3-atlas " "fish hosts"
    fish_comp 'm3age registry hosts '
    assert_empty out
    PATH=$(path_without_m3age) fish_comp 'agenix -e secrets/wif'
    assert_eq "$(tr '\n' ' ' <out)" "secrets/wifi.age " "fish agenix -e"
    fish_comp 'm3age registry rm-key '
    assert_eq "$(tr '\n' ' ' <out)" "m3-atlas m3tam3re " "fish key names"
}

test_zsh_completion_parses_and_registers() {
    command -v zsh >/dev/null || skip "zsh not installed"
    run zsh -n "$SRCDIR/completions/_m3age"
    assert_status 0
    mkdir fpath
    cp "$SRCDIR/completions/_m3age" fpath/
    run env HOME="$PWD" zsh -fc 'fpath=($PWD/fpath $fpath); autoload -Uz compinit
        compinit -u -d $PWD/zcompdump; print -r -- $_comps[m3age] $_comps[agenix]'
    assert_status 0
    assert_eq "$(cat out)" "_m3age _m3age" "zsh completion functions"
}

# zsh_comp LINE: what zsh offers after LINE and a Tab (tests/cli/zsh/complete.zsh), in ./out.
zsh_comp() {
    command -v zsh >/dev/null || skip "zsh not installed"
    zsh -fc 'zmodload zsh/zpty && zpty t true && zpty -d t' >/dev/null 2>&1 ||
        skip "zsh cannot open a pseudo-terminal (zpty) here"
    mkdir -p "$ZTMP/fpath"
    cp "$SRCDIR/completions/_m3age" "$ZTMP/fpath/"
    run env HOME="$ZTMP" M3_ZOUT="$ZTMP/cands" M3_ZCAP="$SRCDIR/tests/cli/zsh/capture.zsh" \
        M3_ZFPATH="$ZTMP/fpath" M3_ZDUMP="$ZTMP/zcompdump" \
        zsh -f "$SRCDIR/tests/cli/zsh/complete.zsh" "$1"
    assert_status 0
}

expect_zsh() {
    local line=$1
    shift
    zsh_comp "$line"
    assert_eq "$(tr '\n' ' ' <out)" "$(printf '%s\n' "$@" | sort | tr '\n' ' ')" "zsh candidates for '$line'"
}

test_zsh_completion_candidates() {
    ZTMP=$(mktemp -d "${TMPDIR:-/tmp}/m3z.XXXXXX")
    trap 'rm -rf "$ZTMP"' EXIT
    make_repo
    PATH=$(path_without_m3age) # the grep fallback for names
    expect_zsh 'm3age ' affected audit check decrypt diff edit encrypt git git-setup help hosts \
        keygen keys registry rekey version
    expect_zsh 'm3age git --' --help --identity
    expect_zsh 'm3age edit ' secrets/db-password.age secrets/wifi.age secrets/wireguard-atlas.age
    expect_zsh 'm3age rekey --host ' m3-aether m3-ares m3-atlas
    expect_zsh 'm3age registry ' add eval hosts rm rm-key set-key
    expect_zsh 'm3age hosts sync ' m3-aether m3-ares m3-atlas
    expect_zsh 'm3age hosts sync --' --accept-new --dry-run --from --help --known-hosts --pq --rekey --scan
    expect_zsh 'agenix -e ' secrets/db-password.age secrets/wifi.age secrets/wireguard-atlas.age
    expect_zsh 'm3age audit --' --color --help --host --identity --json --nix --no-nix --require-pq --rules
    expect_zsh 'm3age registry rm-key ' m3-atlas m3tam3re
    expect_zsh 'm3age registry add secrets/new.age ' m3-atlas m3tam3re
    expect_zsh 'm3age keys inspect secrets/wif' secrets/wifi.age
}

run_tests
