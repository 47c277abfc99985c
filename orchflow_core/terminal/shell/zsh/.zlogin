# orchflow: the user's .zlogin, then the user's ZDOTDIR is put back (see .zshenv).
ZDOTDIR=$__orchflow_user_zdotdir
[[ -r "$ZDOTDIR/.zlogin" ]] && source "$ZDOTDIR/.zlogin"
unset __orchflow_zdotdir __orchflow_user_zdotdir
if [[ "$ZDOTDIR" == "$HOME" ]]; then unset ZDOTDIR; fi
