# orchflow shell integration for bash, loaded as `bash --rcfile <this file> -i`.
# It reads what bash itself would have read (a login shell's profile files, as tmux starts
# login shells, or ~/.bashrc), never editing them, then adds hooks that print OSC 133 marks
# and orchflow's own marks (doc/architecture.md, "Shell integration"). The hooks add
# nothing to the history and keep $? for the user's own prompt.
if [[ -n "${ORCHFLOW_SHELL_LOGIN:-}" ]]; then
    unset ORCHFLOW_SHELL_LOGIN
    [[ -r /etc/profile ]] && . /etc/profile
    for __orchflow_f in ~/.bash_profile ~/.bash_login ~/.profile; do
        if [[ -r "$__orchflow_f" ]]; then
            . "$__orchflow_f"
            break
        fi
    done
    unset __orchflow_f
else
    [[ -r ~/.bashrc ]] && . ~/.bashrc
fi

if [[ -z "${__orchflow_loaded:-}" ]]; then
__orchflow_loaded=1
__orchflow_seq=0
__orchflow_armed=
__orchflow_running=
__orchflow_histnum=
__orchflow_prompts=0
__orchflow_read=
__orchflow_empty=
# PS0 is expanded once a command line is read, before it runs (bash >= 4.4; never for an
# empty line): without a fork, its arithmetic notes that a line was read and when
# (EPOCHREALTIME without its separator: microseconds). The expansion itself is empty.
PS0='${__orchflow_empty:$((__orchflow_read = 1, __orchflow_t0 = 10#0${EPOCHREALTIME//[!0-9]/}, 0)):0}'"${PS0:-}"

__orchflow_esc() {  # $1 escaped for a mark field, in __orchflow_out (no fork)
    local s=$1
    s=${s//\\/\\\\}
    s=${s//;/\\;}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\a'/\\a}
    s=${s//$'\e'/\\e}
    __orchflow_out=$s
}

# The newest history entry is read through a private file, not $(history 1): a command
# substitution forks, and these hooks run for every command.
__orchflow_hist_file=$(umask 077 && mktemp "${TMPDIR:-/tmp}/orchflow-hist.XXXXXX" 2>/dev/null)
__orchflow_cleanup() { [[ -n "$__orchflow_hist_file" ]] && builtin command rm -f -- "$__orchflow_hist_file"; }
__orchflow_prev_exit=$(builtin trap -p EXIT)
__orchflow_prev_exit=${__orchflow_prev_exit#"trap -- '"}
__orchflow_prev_exit=${__orchflow_prev_exit%"' EXIT"}
__orchflow_prev_exit=${__orchflow_prev_exit//"'\\''"/"'"}
builtin trap "__orchflow_cleanup${__orchflow_prev_exit:+; $__orchflow_prev_exit}" EXIT

__orchflow_histline() {  # "<number> <line>" of the newest history entry
    local h=
    __orchflow_hnum= __orchflow_hline=
    [[ -n "$__orchflow_hist_file" ]] || return 0
    HISTTIMEFORMAT='' builtin history 1 >|"$__orchflow_hist_file" 2>/dev/null || return 0
    IFS= builtin read -r -d '' h <"$__orchflow_hist_file"
    h=${h%$'\n'}
    h=${h#"${h%%[![:space:]]*}"}
    __orchflow_hnum=${h%%[[:space:]]*}
    h=${h#"$__orchflow_hnum"}
    __orchflow_hline=${h#"${h%%[![:space:]]*}"}
}

__orchflow_preexec() {
    [[ -n "$__orchflow_armed" && -z "${COMP_LINE:-}" && -z "${READLINE_LINE:-}" ]] || return 0
    __orchflow_armed=
    # An empty line runs PROMPT_COMMAND again: that is a new prompt, not a command.
    [[ "$BASH_COMMAND" != __orchflow_precmd ]] || return 0
    local cmd=$BASH_COMMAND
    if [[ -o history ]]; then
        __orchflow_histline
        # A line left out of the history (ignorespace, ignoredups) leaves the number as it was.
        if [[ "$__orchflow_hnum" != "$__orchflow_histnum" ]]; then
            cmd=$__orchflow_hline
        fi
    fi
    __orchflow_seq=$((__orchflow_seq + 1))
    __orchflow_running=1
    __orchflow_esc "$PWD"
    local cwd=$__orchflow_out
    __orchflow_esc "$cmd"
    builtin printf '\e]7717;orchflow;C;%s;%s;%s;%s\a\e]133;C\a' \
        "$$" "$__orchflow_seq" "$cwd" "$__orchflow_out"
}

__orchflow_precmd() {
    local status=$? t1=${EPOCHREALTIME//[!0-9]/} us=
    if [[ -n "$__orchflow_read" && -z "$__orchflow_running" ]]; then
        # A line ran whose first command is not a simple one (a subshell "( … )"): the
        # DEBUG trap never fired for it; PS0 saw it read. Its start mark comes now.
        local cmd=
        if [[ -o history ]]; then
            __orchflow_histline
            [[ "$__orchflow_hnum" != "$__orchflow_histnum" ]] && cmd=$__orchflow_hline
        fi
        __orchflow_seq=$((__orchflow_seq + 1))
        __orchflow_running=1
        __orchflow_esc "$PWD"
        local cwd=$__orchflow_out
        __orchflow_esc "$cmd"
        builtin printf '\e]7717;orchflow;C;%s;%s;%s;%s\a' \
            "$$" "$__orchflow_seq" "$cwd" "$__orchflow_out"
    fi
    __orchflow_read=
    if [[ -n "$__orchflow_running" ]]; then
        __orchflow_running=
        # EPOCHREALTIME (bash >= 5) with its separator removed: microseconds.
        [[ -n "$t1" && -n "${__orchflow_t0:-}" ]] && us=$((t1 - __orchflow_t0))
        builtin printf '\e]133;D;%s\a\e]7717;orchflow;D;%s;%s;%s;%s\a' \
            "$status" "$$" "$__orchflow_seq" "$status" "$us"
    fi
    return $status
}

__orchflow_arm() {
    local status=$?
    # The prompt mark goes at the end of PS1, so readline prints it once it reads input:
    # a command typed after it is not echoed twice. PS1 may have been rebuilt by the
    # user's PROMPT_COMMAND; the old mark is taken off first.
    local start='\[\e]133;A\a\]'
    PS1=${PS1#"$start"}
    PS1=${PS1%"${__orchflow_ps1_mark:-}"}
    __orchflow_prompts=$((__orchflow_prompts + 1))
    __orchflow_ps1_mark="\[\e]7717;orchflow;P;$$;$__orchflow_seq;bash;$__orchflow_prompts\a\e]133;B\a\]"
    PS1="$start$PS1$__orchflow_ps1_mark"
    if [[ -o history ]]; then
        __orchflow_histline
        __orchflow_histnum=$__orchflow_hnum
    fi
    __orchflow_armed=1
    return $status
}

if [[ -n "${bash_preexec_imported:-}" ]]; then
    # bash-preexec owns the DEBUG trap and PROMPT_COMMAND: join its function lists.
    __orchflow_bp_preexec() { __orchflow_armed=1; __orchflow_preexec; }
    precmd_functions=(__orchflow_precmd "${precmd_functions[@]}" __orchflow_arm)
    preexec_functions+=(__orchflow_bp_preexec)
else
    __orchflow_prev_debug=$(builtin trap -p DEBUG)
    __orchflow_prev_debug=${__orchflow_prev_debug#"trap -- '"}
    __orchflow_prev_debug=${__orchflow_prev_debug%"' DEBUG"}
    __orchflow_prev_debug=${__orchflow_prev_debug//"'\\''"/"'"}
    if [[ -n "$__orchflow_prev_debug" ]]; then
        builtin trap "__orchflow_preexec; $__orchflow_prev_debug" DEBUG
    else
        builtin trap '__orchflow_preexec' DEBUG
    fi
    if [[ "$(builtin declare -p PROMPT_COMMAND 2>/dev/null)" == "declare -a"* ]]; then
        PROMPT_COMMAND=(__orchflow_precmd "${PROMPT_COMMAND[@]}" __orchflow_arm)
    else
        # Newlines, not ';': a user's PROMPT_COMMAND often ends with ';' already.
        PROMPT_COMMAND=$'__orchflow_precmd\n'"${PROMPT_COMMAND:-}"$'\n__orchflow_arm'
    fi
fi
fi
