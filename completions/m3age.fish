# fish completion for m3age and for `agenix`, its agenix-compatible name.
# Installed as share/fish/vendor_completions.d/m3age.fish (and agenix.fish, a link to it).
# Secret names come from the registry (RULES, else the nearest secrets.nix upwards), through
# `m3age registry eval --json` when that works, else from the quoted "....age" strings in it;
# host names are the folders under the nearest hosts/.

function __m3age_find --argument-names name
    set -l dir $PWD
    while true
        if test -e "$dir/$name"
            echo "$dir/$name"
            return 0
        end
        if test -z "$dir" -o "$dir" = /
            return 1
        end
        set dir (string replace -r '/[^/]*$' '' -- $dir)
    end
end

function __m3age_registry
    # --rules FILE (or --rules=FILE) on the command line wins
    set -l w (commandline -opc)
    set -l i (contains -i -- --rules $w)
    if test -n "$i"; and set -q w[(math $i + 1)]
        set -l v $w[(math $i + 1)]
        test -r "$v"; and echo $v
        return
    end
    set -l eq (string replace -rf -- '^--rules=' '' $w)[1]
    if test -n "$eq"
        test -r "$eq"; and echo $eq
        return
    end
    if set -q RULES
        test -r "$RULES"; and echo $RULES
        return
    end
    __m3age_find secrets.nix
end

function __m3age_secrets
    set -l rules (__m3age_registry); or return 0
    set -l json
    if command -q m3age
        set json (command m3age registry eval --json --no-nix --rules $rules 2>/dev/null </dev/null | string collect)
    end
    if test -n "$json"
        string match -ar -g '"([^"]*\.age)" *:' -- $json
    else
        string replace -r '#.*' '' <$rules | string match -ar -g '"([^"$]*\.age)"'
    end
end

# __m3age_bindings keys|lists: names the registry's `let` binds to a key or to a list.
function __m3age_bindings --argument-names kind
    set -l rules (__m3age_registry); or return 0
    if test "$kind" = keys
        string replace -rf '^\s*([A-Za-z_][A-Za-z0-9_\'-]*)\s*=\s*"(ssh-|age1|sk-ssh-|ecdsa-).*' '$1' <$rules
    else
        string replace -rf '^\s*([A-Za-z_][A-Za-z0-9_\'-]*)\s*=\s*\[.*' '$1' <$rules
    end
end

function __m3age_hosts
    set -l hosts (__m3age_find hosts); or return 0
    for d in $hosts/*/
        basename $d
    end
end

# The words typed after the program that are not options.
function __m3age_words
    set -l w (commandline -opc)
    set -e w[1]
    for x in $w
        string match -q -- '-*' $x; or echo $x
    end
end

# __m3age_in WORD...: the command line starts with these words (after the program).
function __m3age_in
    set -l w (__m3age_words)
    test (count $w) -ge (count $argv); or return 1
    for i in (seq (count $argv))
        test "$w[$i]" = "$argv[$i]"; or return 1
    end
end

# __m3age_at WORD...: exactly these words so far (so the next one is a subcommand).
function __m3age_at
    set -l w (__m3age_words)
    test (count $w) -eq (count $argv); and __m3age_in $argv
end

# m3age: commands
complete -c m3age -f
complete -c m3age -n __m3age_at -a encrypt -d 'encrypt to recipients'
complete -c m3age -n __m3age_at -a decrypt -d 'decrypt a file'
complete -c m3age -n __m3age_at -a keygen -d 'generate an age identity'
complete -c m3age -n __m3age_at -a keys -d 'convert and inspect keys'
complete -c m3age -n __m3age_at -a registry -d 'read and edit secrets.nix'
complete -c m3age -n __m3age_at -a edit -d 'edit a secret'
complete -c m3age -n __m3age_at -a rekey -d 're-encrypt secrets to the registry'
complete -c m3age -n __m3age_at -a audit -d 'find drift and missing recipients'
complete -c m3age -n __m3age_at -a diff -d 'recipient plan or plaintext diff'
complete -c m3age -n __m3age_at -a check -d 'pre-deploy gate for one host'
complete -c m3age -n __m3age_at -a affected -d 'hosts a change touches'
complete -c m3age -n __m3age_at -a git -d 'run git with a decryption agent'
complete -c m3age -n __m3age_at -a git-setup -d 'git diff driver and pre-commit hook'
complete -c m3age -n __m3age_at -a hosts -d 'host keys in the registry'
complete -c m3age -n __m3age_at -a version -d 'print the version'
complete -c m3age -n __m3age_at -a help -d 'help on a command'
complete -c m3age -n 'not __m3age_at' -l help -d 'show help'

# m3age with an option first behaves as age
complete -c m3age -n __m3age_at -s e -l encrypt -d 'age: encrypt'
complete -c m3age -n __m3age_at -s d -l decrypt -d 'age: decrypt'
complete -c m3age -n __m3age_at -s a -l armor -d 'age: armored output'
complete -c m3age -n __m3age_at -s p -l passphrase -d 'age: passphrase'
complete -c m3age -n __m3age_at -s r -l recipient -x -d 'age: recipient'
complete -c m3age -n __m3age_at -s R -l recipients-file -r -F -d 'age: recipients file'
complete -c m3age -n __m3age_at -s i -l identity -r -F -d 'identity file'
complete -c m3age -n __m3age_at -s o -l output -r -F -d 'output file'
complete -c m3age -n __m3age_at -l version -d 'print the version'

# subcommands
complete -c m3age -n '__m3age_at keys' -a 'convert inspect'
complete -c m3age -n '__m3age_at registry' -a 'eval add set-key rm rm-key hosts'
complete -c m3age -n '__m3age_at hosts' -a 'list sync add rm'
complete -c m3age -n '__m3age_at help' -a 'encrypt decrypt keygen keys registry edit rekey audit diff check affected git git-setup hosts version'

# options
complete -c m3age -n '__m3age_in encrypt' -s r -l recipient -x
complete -c m3age -n '__m3age_in encrypt' -s R -l recipients-file -r -F
complete -c m3age -n '__m3age_in encrypt' -s p -l passphrase
complete -c m3age -n '__m3age_in encrypt' -s a -l armor
complete -c m3age -n '__m3age_in encrypt' -F
complete -c m3age -n '__m3age_in encrypt; or __m3age_in decrypt; or __m3age_in keygen' -s o -l output -r -F
complete -c m3age -n '__m3age_in keygen' -s y -r -F -d 'print the public key of an identity'
complete -c m3age -n '__m3age_in keys convert' -l private -F
complete -c m3age -n '__m3age_in keys convert' -F
for c in decrypt edit rekey audit diff git 'keys inspect' 'hosts rm'
    complete -c m3age -n "__m3age_in $c" -s i -l identity -r -F -d 'identity file'
end
for c in 'keys inspect' edit rekey audit diff check affected git-setup registry
    complete -c m3age -n "__m3age_in $c" -l rules -r -F -d 'registry file'
end
complete -c m3age -n '__m3age_in registry eval' -l json
for c in 'keys inspect' edit rekey audit diff check affected 'registry eval'
    complete -c m3age -n "__m3age_in $c" -l nix -d 'evaluate the registry with nix-instantiate'
    complete -c m3age -n "__m3age_in $c" -l no-nix -d 'never evaluate the registry with Nix'
end
complete -c m3age -n '__m3age_in registry hosts; or __m3age_in audit; or __m3age_in check; or __m3age_in affected' -l json
complete -c m3age -n '__m3age_in audit' -l require-pq -d 'every secret not post-quantum is an error'
complete -c m3age -n '__m3age_in affected' -l format -x -a 'text json matrix'
complete -c m3age -n '__m3age_in affected' -x -a '(__fish_git_branches 2>/dev/null; echo HEAD~1)'
complete -c m3age -n '__m3age_in edit' -l editor -x
complete -c m3age -n '__m3age_in edit' -l unsafe-tmp
complete -c m3age -n '__m3age_in edit' -l allow-empty -d 'let an empty stdin blank a secret'
complete -c m3age -n '__m3age_in rekey; or __m3age_in diff; or __m3age_in keys inspect' -l json -d 'JSON output'
complete -c m3age -n '__m3age_in audit; or __m3age_in check; or __m3age_in diff' -l color -x -a 'always never auto'
complete -c m3age -n '__m3age_in rekey' -l force
complete -c m3age -n '__m3age_in rekey; or __m3age_in hosts sync' -l dry-run
complete -c m3age -n '__m3age_in rekey' -l jobs -x
complete -c m3age -n '__m3age_in rekey' -l partial
complete -c m3age -n '__m3age_in rekey' -l allow-lockout
complete -c m3age -n '__m3age_in rekey; or __m3age_in audit; or __m3age_in check' -l host -x -a '(__m3age_hosts)'
complete -c m3age -n '__m3age_in diff' -l textconv
complete -c m3age -n '__m3age_in check' -l key -r -F
complete -c m3age -n '__m3age_in check; or __m3age_in hosts sync; or __m3age_in hosts add' -l scan
complete -c m3age -n '__m3age_in check; or __m3age_in hosts sync; or __m3age_in hosts add' -l timeout -x
complete -c m3age -n '__m3age_in hosts sync' -l from -x -a '(__fish_complete_directories)'
complete -c m3age -n '__m3age_in hosts sync' -l known-hosts
complete -c m3age -n '__m3age_in hosts sync' -l accept-new
complete -c m3age -n '__m3age_in hosts sync' -l pq -d 'collect post-quantum recipients'
complete -c m3age -n '__m3age_in hosts sync' -l rekey
complete -c m3age -n '__m3age_in hosts add' -l to -x -a '(__m3age_bindings lists)'
complete -c m3age -n '__m3age_in registry add; and test (count (__m3age_words)) -ge 3' -a '(__m3age_bindings keys)'
complete -c m3age -n '__m3age_at registry set-key; or __m3age_at registry rm-key' -a '(__m3age_bindings keys)'

# arguments: secret names and host names
for c in decrypt edit rekey diff 'keys inspect' 'registry rm'
    complete -c m3age -n "__m3age_in $c" -a '(__m3age_secrets)'
end
complete -c m3age -n '__m3age_at registry add' -a '(__m3age_secrets)'
for c in 'hosts sync' 'hosts add' 'hosts rm'
    complete -c m3age -n "__m3age_in $c" -a '(__m3age_hosts)'
end

# agenix
complete -c agenix -f
complete -c agenix -s e -l edit -x -a '(__m3age_secrets)' -d 'edit FILE'
complete -c agenix -s d -l decrypt -x -a '(__m3age_secrets)' -d 'decrypt FILE to stdout'
complete -c agenix -s r -l rekey -d 're-encrypt all secrets'
complete -c agenix -s i -l identity -r -F -d 'identity to decrypt with'
complete -c agenix -s v -l verbose -d 'verbose output'
complete -c agenix -s h -l help -d 'show help'
