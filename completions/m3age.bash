# bash completion for m3age and for `agenix`, its agenix-compatible name.
# Installed as share/bash-completion/completions/m3age (and an `agenix` link to it), or
# sourced by hand: `. completions/m3age.bash`. Needs nothing from the bash-completion package.
#
# Candidates: commands and their options; secret names from the registry (RULES, else the
# nearest secrets.nix from the working directory up), read with `m3age registry eval --json`
# when that works, else by picking the quoted "....age" strings out of the file; host names
# from the folders under the nearest hosts/.

_m3age_commands="encrypt decrypt keygen keys registry edit rekey audit diff check affected git git-setup hosts version help"

# _m3age_find NAME: print the path of the nearest NAME from the working directory up.
_m3age_find() {
    local dir=$PWD
    while :; do
        if [ -e "$dir/$1" ]; then
            printf '%s\n' "$dir/$1"
            return 0
        fi
        [ -z "$dir" ] || [ "$dir" = / ] && return 1
        dir=${dir%/*}
    done
}

# _m3age_registry: print the registry file completion reads, or fail.
_m3age_registry() {
    if [ -n "${_m3age_rules:-}" ]; then # --rules FILE on the command line
        [ -r "$_m3age_rules" ] && printf '%s\n' "$_m3age_rules"
        return
    fi
    if [ -n "${RULES:-}" ]; then
        [ -r "$RULES" ] && printf '%s\n' "$RULES"
        return
    fi
    _m3age_find secrets.nix
}

# _m3age_bin: the m3age program to ask (the one being completed when it is m3age itself).
_m3age_bin() {
    local w=${COMP_WORDS[0]:-}
    case ${w##*/} in
    m3age) [[ $w == */* ]] && [ -x "$w" ] && { printf '%s\n' "$w"; return; } ;;
    esac
    command -v m3age 2>/dev/null
}

# _m3age_secret_names: one registry secret name per line.
_m3age_secret_names() {
    local rules bin json
    rules=$(_m3age_registry) || return 0
    [ -n "$rules" ] || return 0
    bin=$(_m3age_bin)
    if [ -n "$bin" ]; then
        json=$("$bin" registry eval --json --no-nix --rules "$rules" 2>/dev/null </dev/null) || json=
    fi
    if [ -n "${json:-}" ]; then
        # Top-level keys are the names; values hold keys, which never end in .age".
        printf '%s\n' "$json" | grep -o '"[^"]*\.age" *:' | sed 's/^"//; s/" *:$//'
    else
        sed 's/#.*//' "$rules" 2>/dev/null | grep -o '"[^"$]*\.age"' | tr -d '"'
    fi | _m3age_relative "$rules"
}

# _m3age_relative RULES: names (stdin) as typed from the working directory: in a folder below
# the registry's (cd secrets), "secrets/wifi.age" is offered as "wifi.age", the name m3age
# resolves there; other names stay as the registry gives them.
_m3age_relative() {
    local dir sub n
    dir=$(cd "$(dirname "$1")" 2>/dev/null && pwd -P) || { cat; return; }
    case $(pwd -P)/ in
    "$dir"/?*) sub=$(pwd -P) sub=${sub#"$dir"/} ;;
    *) cat; return ;;
    esac
    while IFS= read -r n; do
        n=${n#./}
        if [[ $n == "$sub"/* ]]; then printf '%s\n' "${n#"$sub"/}"; else printf '%s\n' "$n"; fi
    done
}

# _m3age_revisions: git revisions for `m3age diff FILE REV`: HEAD, branches and tags.
_m3age_revisions() {
    printf 'HEAD\nHEAD~1\n'
    git for-each-ref --format='%(refname:short)' refs/heads refs/tags 2>/dev/null
}

# _m3age_bindings KIND: names the registry binds to a key (KIND=keys) or to a list (lists),
# as written in its `let` (a cheap scan: `name = "ssh-..."`, `name = "age1..."`, `name = [`).
_m3age_bindings() {
    local rules re
    rules=$(_m3age_registry) || return 0
    [ -n "$rules" ] || return 0
    if [ "$1" = keys ]; then
        re='^[[:space:]]*([A-Za-z_][A-Za-z0-9_'"'"'-]*)[[:space:]]*=[[:space:]]*"(ssh-|age1|sk-ssh-|ecdsa-).*'
    else
        re='^[[:space:]]*([A-Za-z_][A-Za-z0-9_'"'"'-]*)[[:space:]]*=[[:space:]]*\[.*'
    fi
    sed -nE "s/$re/\1/p" "$rules" 2>/dev/null
}

# _m3age_host_names: one host per line (the folders under the nearest hosts/).
_m3age_host_names() {
    local hosts d
    hosts=$(_m3age_find hosts) || return 0
    for d in "$hosts"/*/; do
        [ -d "$d" ] || continue
        d=${d%/}
        printf '%s\n' "${d##*/}"
    done
}

# _m3age_reply_words WORDS: candidates from a word list.
_m3age_reply_words() {
    local w
    while IFS= read -r w; do COMPREPLY+=("$w"); done < <(compgen -W "$1" -- "$cur")
}

_m3age_reply_lines() { # _m3age_reply_lines TEXT: candidates from newline-separated items
    local IFS=$'\n' w
    for w in $1; do
        [[ $w == "$cur"* ]] && COMPREPLY+=("$w")
    done
}

_m3age_reply_files() {
    local w
    compopt -o filenames 2>/dev/null
    while IFS= read -r w; do COMPREPLY+=("$w"); done < <(compgen -f -- "$cur")
}

_m3age_reply_secrets() { # registry names; files when there is no registry
    local names
    names=$(_m3age_secret_names)
    if [ -n "$names" ]; then
        _m3age_reply_lines "$names"
    else
        _m3age_reply_files
    fi
}

# _m3age_value OPTION: complete the value of OPTION; fail when OPTION takes no value.
_m3age_value() {
    case $1 in
    -i | --identity | -o | --output | -R | --recipients-file | --key | --rules | -y)
        _m3age_reply_files ;;
    --from) compopt -o dirnames 2>/dev/null; _m3age_reply_files ;;
    --host) _m3age_reply_lines "$(_m3age_host_names)" ;;
    -e | --edit | -d | --decrypt) [ "$mode" = agenix ] && _m3age_reply_secrets || _m3age_reply_files ;;
    -r | --recipient) [ "$mode" = agenix ] && return 1 ;; # agenix: -r is --rekey
    --to) _m3age_reply_lines "$(_m3age_bindings lists)" ;;
    --format) _m3age_reply_words "text json matrix" ;;
    --jobs | --editor) ;; # free text
    *) return 1 ;;
    esac
    return 0
}

_m3age_age_flags="-e --encrypt -d --decrypt -r --recipient -R --recipients-file -i --identity -a --armor -p --passphrase -o --output --version"
_m3age_agenix_flags="-e --edit -d --decrypt -r --rekey -i --identity -v --verbose -h --help"

_m3age() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev="" mode=m3age cmd="" sub="" nw=0 i w
    local _m3age_rules=""
    COMPREPLY=()
    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    # bash splits `--host=m3-a` at the `=`: complete the value of the option before it
    if [ "$cur" = = ] && [ "$COMP_CWORD" -gt 1 ]; then
        cur="" prev=${COMP_WORDS[COMP_CWORD - 1]}
    elif [ "$prev" = = ] && [ "$COMP_CWORD" -gt 2 ]; then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --rules) [ "${COMP_WORDS[i + 1]}" = = ] && _m3age_rules=${COMP_WORDS[i + 2]:-} ||
            _m3age_rules=${COMP_WORDS[i + 1]:-} ;;
        esac
    done
    [ "${COMP_WORDS[0]##*/}" = agenix ] && mode=agenix

    if [ "$mode" = m3age ] && [ "$COMP_CWORD" -gt 1 ] && [[ ${COMP_WORDS[1]} == -* ]]; then
        mode=age # m3age takes age's flags when its first argument is an option
    fi

    if [ "$mode" != m3age ]; then
        _m3age_value "$prev" && return 0
        if [[ $cur == -* ]]; then
            if [ "$mode" = agenix ]; then
                _m3age_reply_words "$_m3age_agenix_flags"
            else
                _m3age_reply_words "$_m3age_age_flags"
            fi
        else
            _m3age_reply_files
        fi
        return 0
    fi

    # Find the command and subcommand words before the cursor.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        [[ $w == -* ]] && continue
        [ "$w" = = ] && { i=$((i + 1)); continue; }
        case ${COMP_WORDS[i - 1]} in --rules | --host | -i | --identity | -o | --output | --key | --from | --to | --jobs | --editor | -r | --recipient | -R | --recipients-file) continue ;; esac
        if [ -z "$cmd" ]; then
            cmd=$w
        elif [ -z "$sub" ]; then
            sub=$w
        else
            nw=$((nw + 1)) # words after the subcommand
        fi
    done

    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            _m3age_reply_words "--help $_m3age_age_flags"
        else
            _m3age_reply_words "$_m3age_commands"
        fi
        return 0
    fi

    _m3age_value "$prev" && return 0

    local opts="--help" args=""
    case $cmd in
    encrypt) opts="$opts -r --recipient -R --recipients-file -p --passphrase -a --armor -o --output" args=files ;;
    decrypt) opts="$opts -i --identity -o --output" args=secrets ;;
    keygen) opts="$opts -o --output -y" ;;
    keys)
        case $sub in
        "") args="convert inspect" ;;
        convert) opts="$opts --private" args=files ;;
        inspect) opts="$opts -i --identity --rules --json --nix --no-nix" args=secrets ;;
        esac ;;
    registry)
        case $sub in
        "") args="eval add set-key rm rm-key hosts" ;;
        eval) opts="$opts --rules --json --nix --no-nix" ;;
        add) opts="$opts --rules" args=secrets
            [ "$nw" -ge 1 ] && args=bindings ;;
        rm) opts="$opts --rules" args=secrets ;;
        set-key | rm-key) opts="$opts --rules"
            [ "$nw" -eq 0 ] && args=keys ;;
        hosts) opts="$opts --rules --json" ;;
        esac ;;
    edit) opts="$opts -i --identity --editor --unsafe-tmp --allow-empty --rules --nix --no-nix" args=secrets ;;
    rekey) opts="$opts -i --identity --host --force --dry-run --json --jobs --partial --allow-lockout --rules --nix --no-nix" args=secrets ;;
    audit) opts="$opts -i --identity --host --json --require-pq --rules --color --nix --no-nix" ;;
    diff) opts="$opts -i --identity --textconv --json --rules --color --nix --no-nix" args=secrets
        [ -n "$sub" ] && args=revisions ;;
    check) opts="$opts --host --key --scan --timeout --json --rules --color --nix --no-nix" ;;
    affected) opts="$opts --json --format --rules --nix --no-nix"
        [ "$nw" -eq 0 ] && args=revisions ;;
    git) opts="$opts -i --identity" ;; # then git's own arguments
    git-setup) opts="$opts -i --identity --force --pre-commit --rules" ;;
    hosts)
        case $sub in
        "") args="list sync add rm" ;;
        list) opts="$opts --all --json" args=hosts ;;
        sync) opts="$opts --from --known-hosts --scan --accept-new --rekey --dry-run --pq" args=hosts ;;
        add) opts="$opts --scan --to --rekey --dry-run -i --identity" args=hosts ;;
        rm) opts="$opts -i --identity" args=hosts ;;
        esac ;;
    help) [ -z "$sub" ] && args="$_m3age_commands" ;;
    version) ;;
    esac

    if [[ $cur == -* ]]; then
        _m3age_reply_words "$opts"
        return 0
    fi
    case $args in
    files) _m3age_reply_files ;;
    secrets) _m3age_reply_secrets ;;
    hosts) _m3age_reply_lines "$(_m3age_host_names)" ;;
    keys) _m3age_reply_lines "$(_m3age_bindings keys)" ;;
    bindings) _m3age_reply_lines "$(_m3age_bindings keys; _m3age_bindings lists)" ;;
    revisions) _m3age_reply_lines "$(_m3age_revisions)" ;;
    "") ;;
    *) _m3age_reply_words "$args" ;;
    esac
    return 0
}

complete -F _m3age m3age agenix
