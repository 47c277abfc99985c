# orchflow shell integration for zsh: zsh starts with ZDOTDIR pointing here, so it reads
# these files, and each of them reads the user's own file of the same name (never edited)
# from the user's ZDOTDIR (or $HOME) first. The hooks are added at the end of .zshrc;
# the user's ZDOTDIR is put back once zsh has read its start-up files.
__orchflow_zdotdir=$ZDOTDIR
if [[ -n "${ORCHFLOW_USER_ZDOTDIR:-}" ]]; then ZDOTDIR=$ORCHFLOW_USER_ZDOTDIR; else ZDOTDIR=$HOME; fi
unset ORCHFLOW_USER_ZDOTDIR
[[ -r "$ZDOTDIR/.zshenv" ]] && source "$ZDOTDIR/.zshenv"
__orchflow_user_zdotdir=$ZDOTDIR
if [[ -o interactive ]]; then ZDOTDIR=$__orchflow_zdotdir; fi
