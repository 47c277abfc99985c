# orchflow shell integration for fish, loaded as `fish --init-command 'source <this file>'`,
# which fish runs after the user's own configuration (never edited). The hooks print OSC 133
# marks and orchflow's own marks (doc/architecture.md, "Shell integration") and add nothing
# to the history.
if not set -q __orchflow_loaded
    set -g __orchflow_loaded 1
    set -g __orchflow_seq 0
    set -g __orchflow_running 0
    set -g __orchflow_prompts 0

    function __orchflow_esc --description 'escape a mark field'
        set -l s (string replace -a -- '\\' '\\\\' $argv[1] | string collect)
        set s (string replace -a -- \n '\\n' $s | string collect)
        set s (string replace -a -- ';' '\\;' $s | string collect)
        set s (string replace -a -- \r '\\r' $s | string collect)
        set s (string replace -a -- \a '\\a' $s | string collect)
        string replace -a -- \e '\\e' $s
    end

    function __orchflow_preexec --on-event fish_preexec
        set -g __orchflow_seq (math $__orchflow_seq + 1)
        set -g __orchflow_running 1
        printf '\e]7717;orchflow;C;%s;%s;%s;%s\a\e]133;C\a' $fish_pid $__orchflow_seq \
            (__orchflow_esc $PWD) (__orchflow_esc $argv[1])
    end

    function __orchflow_postexec --on-event fish_postexec
        set -l st $status
        if test $__orchflow_running = 1
            set -g __orchflow_running 0
            # CMD_DURATION: the command's time in milliseconds
            printf '\e]133;D;%s\a\e]7717;orchflow;D;%s;%s;%s;%s\a' $st $fish_pid $__orchflow_seq \
                $st (math "$CMD_DURATION * 1000")
        end
    end

    function __orchflow_posterror --on-event fish_posterror --on-event fish_cancel
        # The line did not parse (fish keeps it for editing), or C-c cleared it: fish shows
        # no new prompt event, so say "a new prompt" here (nothing ran).
        set -g __orchflow_prompts (math $__orchflow_prompts + 1)
        printf '\e]7717;orchflow;P;%s;%s;fish;%s\a' $fish_pid $__orchflow_seq $__orchflow_prompts
    end

    function __orchflow_prompt --on-event fish_prompt
        set -g __orchflow_prompts (math $__orchflow_prompts + 1)
        printf '\e]7717;orchflow;P;%s;%s;fish;%s\a\e]133;A\a' $fish_pid $__orchflow_seq \
            $__orchflow_prompts
    end
end
