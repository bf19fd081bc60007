#!/bin/bash
# tests/cli/ci_gate.sh: the CI deploy gate of examples/ci/: its script run as the workflows
# run it, with the built m3age, on the demo repository (examples/nixos-config) in a temporary
# git repository; and the Gitea and GitHub workflows run the same steps.
. "$(dirname "$0")/../lib.sh"

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
GATE="$SRCDIR/examples/ci/deploy-gate.sh"
DEMO="$SRCDIR/examples/nixos-config"

need_tools() {
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v git >/dev/null || skip "git not installed"
    command -v age >/dev/null || skip "age not installed"
    [ -f "$DEMO/secrets.nix" ] || skip "no demo repository"
}

# demo_repo: ./repo, the demo repository committed once (private keys left out, as in a
# real configuration repository); ./keys holds the public keys to encrypt with.
demo_repo() {
    mkdir keys
    cp -r "$DEMO" repo
    cp repo/demo-keys/m3tam3re_id_ed25519.pub keys/m3tam3re.pub
    age-keygen -y repo/demo-keys/m3tam3re-age.txt >keys/m3tam3re-age.txt
    rm -rf repo/demo-keys
    local h
    for h in repo/hosts/*/; do
        h=$(basename "$h")
        cp "repo/hosts/$h/ssh_host_ed25519_key.pub" "keys/$h.pub"
    done
    (cd repo && git init -q -b main . && git add -A && git commit -qm init)
}

commit() { (cd repo && git add -A && git commit -qm "$1"); }

# gate [BASE]: the script in ./repo, as a workflow step runs it.
gate() {
    run env M3AGE="$M3AGE" GITHUB_STEP_SUMMARY="$PWD/summary.md" bash -c 'cd repo && bash "$@"' _ \
        "$GATE" "$@"
}

test_gate_passes_when_no_secret_is_touched() {
    need_tools
    demo_repo
    echo '# notes' >>repo/README.md
    commit "docs"
    gate HEAD~1
    assert_status 0
    assert_contains out 'no host affected (compared with'
    assert_contains out 'deploy gate: passed'
    assert_contains out "  no host's secrets touched"
    assert_not_contains out 'm3age check --host'
    assert_contains summary.md '### Secrets deploy gate: passed'
}

test_gate_checks_each_affected_host() {
    need_tools
    demo_repo
    local r=()
    for k in m3tam3re m3-ares m3-kratos m3-daedalus; do r+=(-R "keys/$k.pub"); done
    echo 'psk=new' | age "${r[@]}" -R keys/m3tam3re-age.txt -o repo/secrets/wifi.age
    commit "new wifi password"
    gate HEAD~1
    assert_status 0
    assert_contains out '3 of 7 hosts affected'
    for h in m3-ares m3-daedalus m3-kratos; do
        assert_contains out "::group::m3age check --host $h"
        assert_contains out "  check $h: ready"
    done
    assert_not_contains out 'check m3-atlas'
    assert_contains out 'deploy gate: passed'
}

test_gate_fails_with_the_findings() {
    need_tools
    demo_repo
    # restic-atlas.age re-encrypted without m3-atlas' key: atlas would boot without it
    echo 'restic=new' | age -R keys/m3tam3re.pub -R keys/m3tam3re-age.txt -o repo/secrets/restic-atlas.age
    commit "restic for the user only"
    gate HEAD~1
    assert_status 1
    assert_contains out 'm3-atlas
  secrets/restic-atlas.age: re-encrypted to other recipients'
    assert_contains out 'not encrypted to m3-atlas'
    assert_contains out '  audit: failed (exit 1)'
    assert_contains out '  check m3-atlas: not ready (exit 1)'
    assert_contains out 'deploy gate: failed'
    assert_contains summary.md '- check m3-atlas: not ready (exit 1)'
}

test_gate_base_from_the_environment_and_a_new_branch() {
    need_tools
    demo_repo
    echo 'x' | age -R keys/m3-aether.pub -R keys/m3tam3re.pub -R keys/m3tam3re-age.txt -o repo/secrets/wireguard-aether.age
    commit "aether"
    echo '# notes' >>repo/README.md
    commit "docs"
    # the pull request's base, as the workflows pass it
    run env M3AGE="$M3AGE" DEPLOY_GATE_BASE=HEAD~2 bash -c 'cd repo && bash "$1"' _ "$GATE"
    assert_status 0
    assert_contains out '  check m3-aether: ready'
    # a push that created the branch: github.event.before is all zeros, the default is used
    # (HEAD~1 here: the docs commit touches nothing)
    run env M3AGE="$M3AGE" DEPLOY_GATE_BASE=0000000000000000000000000000000000000000 \
        bash -c 'cd repo && bash "$1"' _ "$GATE"
    assert_status 0
    assert_contains out "  no host's secrets touched"
    # a force push: the commit before it is in no clone; the default again, with a warning
    run env M3AGE="$M3AGE" DEPLOY_GATE_BASE=1234567890abcdef1234567890abcdef12345678 \
        bash -c 'cd repo && bash "$1"' _ "$GATE"
    assert_status 0
    assert_contains err 'deploy-gate: DEPLOY_GATE_BASE 1234567890abcdef1234567890abcdef12345678 is not in this clone (a force push?): using the default'
    assert_contains out "  no host's secrets touched"
}

test_gate_that_cannot_run_fails_with_2() {
    need_tools
    demo_repo
    gate no-such-rev
    assert_status 2
    assert_contains err "m3age: error: 'no-such-rev': no such revision"
    assert_contains out '  affected: could not run (exit 2)'
}

# The two workflows: the same triggers and steps (the Gitea one names the Nix installer by
# its GitHub address), a full clone, and the gate script as the step that runs.
test_workflows_run_the_same_steps() {
    command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null || skip "no python3 yaml"
    cat >same.py <<'PY'
import sys, yaml
docs = [yaml.safe_load(open(p)) for p in sys.argv[1:]]
for d in docs:
    for s in d["jobs"]["gate"]["steps"]:
        if "uses" in s:
            s["uses"] = s["uses"].replace("https://github.com/", "")
gitea, github = docs
assert gitea[True] == github[True] == {"push": None, "pull_request": None}, (gitea[True], github[True])
assert gitea["jobs"] == github["jobs"], "the jobs differ"
steps = github["jobs"]["gate"]["steps"]
assert steps[0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}, steps[0]
print(steps[-1]["run"])
print(steps[-1]["env"]["DEPLOY_GATE_BASE"])
PY
    run python3 same.py "$SRCDIR/examples/ci/gitea-deploy-gate.yml" \
        "$SRCDIR/examples/ci/github-deploy-gate.yml"
    assert_status 0
    assert_contains out 'nix shell github:m3tam3re/m3age --command bash .ci/deploy-gate.sh'
    assert_contains out "format('origin/{0}', github.base_ref) || github.event.before"
    run bash -n "$GATE"
    assert_status 0
}

test_gate_is_documented() {
    local f
    for f in README.md man/m3age-audit.1; do
        grep -q 'examples/ci/deploy-gate.sh' "$SRCDIR/$f" || _fail "$f does not name the gate script"
        grep -q 'examples/ci/gitea-deploy-gate.yml' "$SRCDIR/$f" || _fail "$f does not name the Gitea workflow"
        grep -q 'examples/ci/github-deploy-gate.yml' "$SRCDIR/$f" || _fail "$f does not name the GitHub workflow"
    done
    for f in gitea-deploy-gate.yml github-deploy-gate.yml; do
        assert_exists "$SRCDIR/examples/ci/$f"
    done
}

run_tests
