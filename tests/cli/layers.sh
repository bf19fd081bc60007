#!/bin/bash
# tests/cli/layers.sh: the map of the tree holds. No `#include` runs upward through the layers
# of doc/architecture.md (cmd -> secrets -> registry, keys -> libage; registry and keys are
# siblings), every file the map names exists, and the README's Layout section points to it.
. "$(dirname "$0")/../lib.sh"

# Files of branch i20a that the map names before i20a is merged: each is accepted while it is
# absent from the tree only if that branch holds it. Drop this list once i20a is on main.
PENDING_I20A=(registry/fromjson.c registry/fsdir.c registry/fsbuiltins.c registry/nixload.c
    registry/layout.c cmd/nix.c)

# pending_in_i20a PATH: PATH is one of PENDING_I20A and branch i20a holds it.
pending_in_i20a() {
    local q
    for q in "${PENDING_I20A[@]}"; do
        [ "$q" = "$1" ] && git -C "$SRCDIR" cat-file -e "i20a:$1" 2>/dev/null && return 0
    done
    return 1
}

# upward_includes ROOT: one line "FILE:LINE: LAYER includes HEADER" per #include under ROOT's
# five layer folders that names a folder not below its own (or a sibling); prints nothing when
# the layering holds. Quoted and angle-bracket includes are both read; "../" is resolved.
upward_includes() {
    (cd "$1" && find cmd secrets registry keys libage -name '*.[ch]' 2>/dev/null | sort |
        xargs -r grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' /dev/null |
        awk '
        BEGIN { rank["libage"] = 0; rank["keys"] = 1; rank["registry"] = 1
                rank["secrets"] = 2; rank["cmd"] = 3 }
        {
            split($0, f, ":"); file = f[1]; line = f[2]
            split(file, parts, "/"); own = parts[1]
            inc = $0; sub(/^[^"<]*["<]/, "", inc); sub(/[">].*$/, "", inc)
            while (inc ~ /^\.\.?\//) sub(/^\.\.?\//, "", inc)
            n = split(inc, ip, "/")
            if (n < 2 || !(ip[1] in rank) || ip[1] == own) next
            if (rank[ip[1]] >= rank[own])
                printf "%s:%s: %s/ includes %s\n", file, line, own, inc
        }')
}

test_no_include_runs_upward() {
    upward_includes "$SRCDIR" >found
    [ ! -s found ] || _fail "includes that run upward (see doc/architecture.md): $(cat found)"
}

test_an_upward_include_is_caught() {
    # The checker itself, on a small tree with one include of each kind it must refuse and
    # the ones it must allow.
    mkdir -p t/libage t/keys t/registry t/secrets t/cmd
    printf '#include "libage/age.h"\n#include "keys/keys.h"\n' >t/libage/a.c
    printf '#include "libage/age.h"\n#include "registry/registry.h"\n' >t/keys/k.c
    printf '#include "libage/error.h"\n#include "../secrets/repo.h"\n' >t/registry/r.c
    printf '#include <stdio.h>\n#include "registry/registry.h"\n# include <cmd/cmd.h>\n' >t/secrets/s.c
    printf '#include "secrets/repo.h"\n#include "libage/age.h"\n#include "io.h"\n' >t/cmd/c.c
    upward_includes t >found
    assert_lines found 4
    assert_contains found "libage/a.c:2: libage/ includes keys/keys.h"
    assert_contains found "keys/k.c:2: keys/ includes registry/registry.h"
    assert_contains found "registry/r.c:2: registry/ includes secrets/repo.h"
    assert_contains found "secrets/s.c:3: secrets/ includes cmd/cmd.h"
}

test_the_map_names_only_files_that_exist() {
    local doc="$SRCDIR/doc/architecture.md" p missing=""
    assert_exists "$doc"
    grep -oE '[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+\.(c|h|sh|md|1|nix|inc|bash|fish)\b|completions/_m3age' \
        "$doc" | sort -u >paths
    [ -s paths ] || _fail "no file paths found in doc/architecture.md"
    while read -r p; do
        # NAME and NN stand for what a recipe's reader chooses.
        case $p in *NAME* | *NN-*) continue ;; esac
        [ -e "$SRCDIR/$p" ] || pending_in_i20a "$p" || missing="$missing $p"
    done <paths
    [ -z "$missing" ] || _fail "doc/architecture.md names files that do not exist:$missing"
    # Every folder the map names as a layer is one.
    for p in cmd secrets registry keys libage; do
        grep -qF "\`$p/\`" "$doc" || _fail "doc/architecture.md does not name the layer $p/"
    done
}

test_the_map_names_only_functions_that_exist() {
    # `reg_load_path`, `secrets_rekey_run`...: each is defined or declared in a layer.
    local f missing=""
    grep -oE '`(age|keys|reg|secrets|m3|cmd)_[a-z0-9_]+`' "$SRCDIR/doc/architecture.md" |
        tr -d '`' | sort -u >names
    [ -s names ] || _fail "no function names found in doc/architecture.md"
    while read -r f; do
        grep -rqw -- "$f" "$SRCDIR"/{cmd,secrets,registry,keys,libage} || missing="$missing $f"
    done <names
    [ -z "$missing" ] || _fail "doc/architecture.md names what the code does not have:$missing"
}

test_readme_layout_points_to_the_map() {
    sed -n '/^## Layout$/,/^## /p' "$SRCDIR/README.md" >layout
    [ -s layout ] || _fail "README.md has no '## Layout' section"
    assert_contains layout "doc/architecture.md"
}

run_tests
