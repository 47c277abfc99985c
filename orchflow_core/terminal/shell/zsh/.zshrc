# orchflow: the user's .zshrc, then the hooks (see .zshenv beside this file).
ZDOTDIR=$__orchflow_user_zdotdir
[[ -r "$ZDOTDIR/.zshrc" ]] && source "$ZDOTDIR/.zshrc"
__orchflow_user_zdotdir=$ZDOTDIR
if [[ -o login ]]; then ZDOTDIR=$__orchflow_zdotdir; else ZDOTDIR=$__orchflow_user_zdotdir; fi

if [[ -z "${__orchflow_loaded:-}" ]]; then
    typeset -g __orchflow_loaded=1 __orchflow_seq=0 __orchflow_running= __orchflow_t0= \
        __orchflow_prompts=0
    zmodload -F zsh/datetime p:EPOCHREALTIME 2>/dev/null

    __orchflow_esc() {  # $1 escaped for a mark field, in REPLY
        local s=$1
        s=${s//\\/\\\\}
        s=${s//;/\\;}
        s=${s//$'\n'/\\n}
        s=${s//$'\r'/\\r}
        s=${s//$'\a'/\\a}
        s=${s//$'\e'/\\e}
        REPLY=$s
    }

    __orchflow_preexec() {
        (( __orchflow_seq++ ))
        __orchflow_running=1
        __orchflow_t0=${EPOCHREALTIME-}
        __orchflow_esc "$PWD"
        local cwd=$REPLY
        __orchflow_esc "$1"
        builtin printf '\e]7717;orchflow;C;%s;%s;%s;%s\a\e]133;C\a' \
            "$$" "$__orchflow_seq" "$cwd" "$REPLY"
    }

    __orchflow_precmd() {
        local st=$? us=
        local -i micros
        if [[ -n "$__orchflow_running" ]]; then
            __orchflow_running=
            if [[ -n "$__orchflow_t0" && -n "${EPOCHREALTIME-}" ]]; then
                (( micros = (EPOCHREALTIME - __orchflow_t0) * 1000000 ))
                us=$micros
            fi
            builtin printf '\e]133;D;%s\a\e]7717;orchflow;D;%s;%s;%s;%s\a' \
                "$st" "$$" "$__orchflow_seq" "$st" "$us"
        fi
        return $st
    }

    __orchflow_prompt_mark() {  # last precmd: the prompt mark goes inside the prompt, so
        # ZLE prints it once it reads input (a command typed then is not echoed twice)
        local st=$? start=$'%{\e]133;A\a%}'
        PS1=${PS1#"$start"}
        PS1=${PS1%"${__orchflow_ps1_mark-}"}
        (( __orchflow_prompts++ ))
        __orchflow_ps1_mark=$'%{\e]7717;orchflow;P;'"$$;$__orchflow_seq;zsh;$__orchflow_prompts"$'\a\e]133;B\a%}'
        PS1="$start$PS1$__orchflow_ps1_mark"
        return $st
    }

    preexec_functions+=(__orchflow_preexec)
    precmd_functions=(__orchflow_precmd $precmd_functions __orchflow_prompt_mark)
fi
