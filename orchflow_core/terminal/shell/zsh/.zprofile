# orchflow: the user's .zprofile (see .zshenv beside this file).
ZDOTDIR=$__orchflow_user_zdotdir
[[ -r "$ZDOTDIR/.zprofile" ]] && source "$ZDOTDIR/.zprofile"
__orchflow_user_zdotdir=$ZDOTDIR
ZDOTDIR=$__orchflow_zdotdir
