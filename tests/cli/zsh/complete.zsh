# complete.zsh LINE: type LINE and a Tab into an interactive zsh (in a zpty) that has
# capture.zsh loaded, and print the candidates completion offered, sorted, one per line.
# Environment: M3_ZOUT (scratch file), M3_ZCAP (capture.zsh), M3_ZFPATH, M3_ZDUMP.
zmodload zsh/zpty || exit 2
line=$1
: >$M3_ZOUT
wait_for() {
    local i
    for i in {1..150}; do
        grep -q "^$1\$" $M3_ZOUT && return 0
        sleep 0.1
    done
    return 1
}
zpty z zsh -f -i
# zle drops what is typed before it starts: wait until the shell is ready
zpty -w z "source ${(q)M3_ZCAP}; print __ready__ >>${(q)M3_ZOUT}"
wait_for __ready__ || { print -u2 "complete.zsh: zsh did not start"; zpty -d z; exit 2 }
zpty -w -n z "$line"$'\t'
zpty -w -n z $'\C-u'
zpty -w z "print __done__ >>${(q)M3_ZOUT}"
wait_for __done__ || { print -u2 "complete.zsh: completion did not finish"; zpty -d z; exit 2 }
zpty -d z
grep -v '^__\(ready\|done\)__$' $M3_ZOUT | sort -u
