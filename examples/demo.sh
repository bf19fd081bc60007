#!/bin/bash
# make demo: run m3age on a throwaway copy of examples/nixos-config and show what it does.
# Later features add their steps at the end (one `step` each).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
m3age="$BUILD/m3age"
work=$(mktemp -d "${TMPDIR:-/tmp}/m3age-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$here/nixos-config" "$work/repo"
chmod 600 "$work"/repo/demo-keys/*
cd "$work/repo"
export PATH="$BUILD:$PATH"
# a git repository, as a configuration repository is (m3age affected compares revisions)
git init -q && git add -A &&
    git -c user.name=m3tam3re -c user.email=m3tam3re@example.invalid commit -qm "as cloned"

if [ -t 1 ]; then b=$(printf '\033[1m') n=$(printf '\033[0m'); else b= n=; fi
step() { printf '\n%s$ %s%s\n' "$b" "$*" "$n"; "$@"; }
say() { printf '\n# %s\n' "$*"; }

echo "m3age demo in a throwaway copy of examples/nixos-config ($work/repo)"
step m3age version

say "A new age identity for the user m3tam3re (mode 0600, never overwritten):"
step m3age keygen -o m3tam3re.key
ls -l m3tam3re.key
recipient=$(m3age keygen -y m3tam3re.key)

say "Encrypt to it, binary and armored; decrypt again:"
printf 'hunter2 for m3-atlas\n' >plain.txt
step m3age encrypt -r "$recipient" -o note.age plain.txt
step m3age encrypt -a -r "$recipient" -o note.asc plain.txt
step head -3 note.asc
step m3age decrypt -i m3tam3re.key note.asc

say "The repository's secrets were made with Go age; m3age opens them with the user's age key:"
step m3age decrypt -i demo-keys/m3tam3re-age.txt secrets/wifi.age

say "A tampered file is refused with one clear line and no output file:"
cp note.age tampered.age
printf 'X' | dd of=tampered.age bs=1 seek=$(($(stat -c %s note.age) - 3)) conv=notrunc status=none
step m3age decrypt -i m3tam3re.key -o out.txt tampered.age || echo "(exit status $?)"
ls out.txt 2>/dev/null || echo "no out.txt left behind"

say "Called with age's flags (as the agenix NixOS module calls its age binary):"
( umask 0277 && step m3age --decrypt -i m3tam3re.key -o wifi.tmp note.age )
ls -l wifi.tmp
step m3age --decrypt -o none.tmp note.age || echo "(exit status $?: no identity, no none.tmp: $(ls none.tmp 2>&1 | tail -1))"

if command -v age >/dev/null 2>&1; then
    say "Interoperable with the reference age both ways:"
    step sh -c "age -r $recipient plain.txt | m3age decrypt -i m3tam3re.key"
    step sh -c "m3age encrypt -r $recipient plain.txt | age -d -i m3tam3re.key"
fi
say "Edit a secret (decrypted on tmpfs, re-encrypted to exactly the registry's keys):"
printf '#!/bin/sh\nprintf "# edited by the demo\\n" >>"$1"\n' >"$work/editor.sh"
chmod +x "$work/editor.sh"
me=demo-keys/m3tam3re_id_ed25519
step m3age edit -i $me --editor "$work/editor.sh" secrets/wifi.age
step m3age decrypt -i $me secrets/wifi.age

say "Give the cloud VM m3-aether the wifi too: the plan, then a lazy rekey (one file):"
sed -i 's|"secrets/wifi.age".publicKeys = users ++ workstations;|"secrets/wifi.age".publicKeys = users ++ workstations ++ [ m3-aether ];|' secrets.nix
step m3age rekey -i $me --dry-run --host m3-aether || echo "(exit status $?: the plan has changes)"
step m3age rekey -i $me
step m3age rekey -i $me --host m3-aether
say "Which hosts' deployed secrets this work changed since the last commit (headers, no key):"
step m3age affected HEAD


say "Before deploying: the audit reads the registry, the headers and the hosts' modules (no key):"
step m3age audit
say "The pre-deploy gate for one host, with its key file:"
step m3age check --host m3-atlas --key demo-keys/m3-atlas.ssh_host_ed25519_key
say "Take m3-kratos out of wifi.age's entry: the plan shows what a rekey would remove,"
say "and the gate stops the deployment of m3-kratos, which still uses the secret:"
sed -i 's|"secrets/wifi.age".publicKeys = .*;|"secrets/wifi.age".publicKeys = users ++ [ m3-ares m3-daedalus ];|' secrets.nix
step m3age diff || true
step m3age check --host m3-kratos || echo "(exit status $?)"
say "Host keys: the registry's key for each host against hosts/<host>/*.pub and known_hosts:"
step m3age hosts || echo "(exit status $?: some source disagrees)"
say "m3-atlas was reinstalled: its new host key arrives in a folder of <host>.pub files:"
mkdir -p "$work/newkeys"
ssh-keygen -q -t ed25519 -N '' -C root@m3-atlas -f "$work/newkeys/m3-atlas" 2>/dev/null ||
    printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFHlBpH/UXGR17p5LsGOT4v/QJClK/EGrMDUqKg19sxb root@m3-atlas\n' \
        >"$work/newkeys/m3-atlas.pub"
step m3age hosts sync m3-atlas --from "$work/newkeys" --dry-run || echo "(exit status $?: would change)"
cp secrets.nix "$work/secrets.nix.before"
step m3age hosts sync m3-atlas --from "$work/newkeys" --rekey -i demo-keys/m3tam3re_id_ed25519
say "Only the binding changed in secrets.nix:"
step diff "$work/secrets.nix.before" secrets.nix || true

say "Post-quantum: a public repository's files are what 'harvest now, decrypt later' collects."
say "1. The user gets a post-quantum identity; the registry lists it instead of the classical keys:"
step m3age keygen --pq -o m3tam3re-pq.key
step sh -c 'm3age registry set-key m3tam3re-pq "$(m3age keygen -y m3tam3re-pq.key)"'
sed -i -e 's|^  users = \[ m3tam3re m3tam3re-age \];|  users = [ m3tam3re-pq ];|' \
    -e 's|"secrets/wifi.age".publicKeys = .*;|"secrets/wifi.age".publicKeys = users ++ workstations;|' secrets.nix
step grep -n "users = " secrets.nix
say "2. Each host made its own at activation (m3age.hostPqIdentity.enable = true in its NixOS"
say "   configuration) and wrote its recipient to /var/lib/m3age/host-pq.pub; collected into"
say "   hosts/<host>/host-pq.pub (or read over ssh with --scan). Here the demo stands in for them:"
mkdir -p "$work/hostids"
for h in m3-ares m3-kratos m3-daedalus m3-atlas m3-helios m3-hermes m3-aether; do
    m3age keygen --pq -o "$work/hostids/$h.txt" 2>/dev/null
    m3age keygen -y "$work/hostids/$h.txt" >"hosts/$h/host-pq.pub"
done
step m3age hosts sync --pq
step m3age hosts || echo "(exit status $?: m3-atlas's new SSH key is not in hosts/ yet)"
say "3. Re-encrypt every secret to the post-quantum keys, then prove nothing is left classical:"
step m3age rekey -i demo-keys/m3tam3re_id_ed25519 -i m3tam3re-pq.key
step m3age audit --require-pq
step m3age keys inspect secrets/restic-atlas.age
step m3age decrypt -i "$work/hostids/m3-atlas.txt" secrets/restic-atlas.age
echo
echo "demo done."
