# capture.zsh: sourced by an interactive zsh inside a zpty (complete.zsh): every candidate
# completion offers is also appended to $M3_ZOUT, one per line.
PS1='' RPS1='' PROMPT_EOL_MARK=''
fpath=($M3_ZFPATH $fpath)
autoload -Uz compinit
compinit -u -d $M3_ZDUMP
compadd() {
    # calls that only compute matches (-O/-A/-D) are not offers
    if [[ " ${(j: :)@[1,(i)(-|--)]} " == *\ -[OAD]* ]]; then
        builtin compadd "$@"
        return
    fi
    local -a __m
    builtin compadd -A __m "$@"
    (( $#__m )) && print -rl -- $__m >>$M3_ZOUT
    builtin compadd "$@"
}
zstyle ':completion:*' list-prompt ''
zstyle ':completion:*' select-prompt ''
bindkey '^I' complete-word
