#!/usr/bin/env bash
# deploy-gate.sh: the secrets gate of a NixOS configuration repository, for CI.
#
#   1. `m3age audit`: the whole repository (registry, age headers, host modules);
#   2. `m3age affected BASE`: the hosts whose deployed secrets this change touches;
#   3. `m3age check --host H` for each of them.
#
# Every step runs (a CI log shows all findings at once); the gate fails when one fails.
# No private key is involved. Copy this file into your repository (e.g. .ci/deploy-gate.sh);
# examples/ci/{gitea,github}-deploy-gate.yml call it.
#
# Usage: deploy-gate.sh [BASE]
#   BASE  the revision the change is compared with (default: the DEPLOY_GATE_BASE variable,
#         else what `m3age affected` picks: the merge base with the upstream branch, else
#         HEAD~1). A revision of all zeros (a push that created the branch) means the default,
#         and so does a DEPLOY_GATE_BASE this clone does not have (the tip before a force push).
# Environment: M3AGE (the m3age to run, default: m3age on PATH); GITHUB_STEP_SUMMARY (set by
# GitHub and Gitea Actions: the result is appended there as Markdown).
# Exit status: 0 the change may be deployed, 1 a finding, 2 the gate could not run.
set -u

m3age=${M3AGE:-m3age}
base=${1:-${DEPLOY_GATE_BASE:-}}
case $base in *[!0]*) ;; *) base= ;; esac
# The commit before a force push is in no clone: the default is compared with instead.
if [ $# -eq 0 ] && [ -n "$base" ] && ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    echo "deploy-gate: DEPLOY_GATE_BASE $base is not in this clone (a force push?): using the default" >&2
    base=
fi

status=0
summary=()
fail() { # fail STATUS: the gate's status becomes the worse of it and STATUS
    [ "$1" -gt "$status" ] && status=$1
    return 0
}

echo "::group::m3age audit"
"$m3age" audit
rc=$?
echo "::endgroup::"
fail "$rc"
summary+=("audit: $([ "$rc" -eq 0 ] && echo ok || echo "failed (exit $rc)")")

matrix=$("$m3age" affected ${base:+"$base"} --format matrix)
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "deploy-gate: m3age affected failed (exit $rc)" >&2
    fail 2
    summary+=("affected: could not run (exit $rc)")
    hosts=()
else
    "$m3age" affected ${base:+"$base"}
    # {"host":["m3-atlas","m3-helios"]}: host names are folder names under hosts/
    list=${matrix#'{"host":['}
    list=${list%']}'}
    IFS=, read -r -a hosts <<<"${list//\"/}"
fi

for h in "${hosts[@]}"; do
    echo "::group::m3age check --host $h"
    "$m3age" check --host "$h"
    rc=$?
    echo "::endgroup::"
    fail "$rc"
    summary+=("check $h: $([ "$rc" -eq 0 ] && echo ready || echo "not ready (exit $rc)")")
done
[ "${#hosts[@]}" -gt 0 ] || summary+=("no host's secrets touched")

echo
echo "deploy gate: $([ "$status" -eq 0 ] && echo passed || echo failed)"
printf '  %s\n' "${summary[@]}"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    {
        echo "### Secrets deploy gate: $([ "$status" -eq 0 ] && echo passed || echo failed)"
        printf -- '- %s\n' "${summary[@]}"
    } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
