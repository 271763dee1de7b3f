# bash completion for xsched. Nothing here lists xsched's commands or options:
# they come from the program itself, so that they stay true -- the commands
# from `xsched help`, a command's options from `xsched CMD --help`, the policy
# names from `xsched help policy`, and running programs' pids (for --pid)
# from `xsched list --json`.

# The words of `xsched help`'s command list ("  name  summary").
_xsched_commands() {
  "$1" help 2>/dev/null | sed -n 's/^  \([a-z][a-z0-9-]*\)  .*/\1/p'
}

# The options of one command: the first option of each line of its help
# that starts with one ("  -h,--help  ...", "  --priority N  ...").
_xsched_options() {
  "$1" "$2" --help 2>/dev/null | sed -n 's/^ \{1,\}\(-[a-z],\)\{0,1\}\(--[a-z][a-z0-9-]*\).*/\2/p'
}

# The policies, as `xsched help policy` lists them after "The policies:".
_xsched_policies() {
  "$1" help policy 2>/dev/null | sed -n '/^The policies:/,$s/^  \([a-z][a-z0-9_]*\)  .*/\1/p'
}

_xsched() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=""
  [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}
  local xsched=${COMP_WORDS[0]}
  COMPREPLY=()
  if [ "$COMP_CWORD" -le 1 ]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_xsched_commands "$xsched") --help --version" -- "$cur")
    return 0
  fi
  local cmd=${COMP_WORDS[1]} i
  if [ "$cmd" = run ]; then
    # After `--` comes the program and its arguments.
    for ((i = 2; i < COMP_CWORD; i++)); do
      if [ "${COMP_WORDS[i]}" = "--" ]; then
        if [ "$i" -eq $((COMP_CWORD - 1)) ]; then
          mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        else
          mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
        return 0
      fi
    done
  fi
  # The value of the option before.
  case $prev in
    --pid)
      mapfile -t COMPREPLY < <(compgen -W "$("$xsched" list --json 2>/dev/null | grep -o '"pid":[0-9]*' |
                                             cut -d: -f2 | sort -u)" -- "$cur")
      return 0 ;;
    --socket | --trace-file | --timeline)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0 ;;
    --json)
      if [ "$cmd" = demo ]; then mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0; fi ;;
    --policy)
      mapfile -t COMPREPLY < <(compgen -W "$(_xsched_policies "$xsched")" -- "$cur")
      return 0 ;;
    --level)
      mapfile -t COMPREPLY < <(compgen -W "auto 1 2 3" -- "$cur")
      return 0 ;;
    --scheduler)
      mapfile -t COMPREPLY < <(compgen -W "local daemon auto" -- "$cur")
      return 0 ;;
    --log-level)
      mapfile -t COMPREPLY < <(compgen -W "error warn info debug" -- "$cur")
      return 0 ;;
  esac
  if [[ $cur != -* ]]; then
    case $cmd in
      help)
        [ "$COMP_CWORD" -eq 2 ] && mapfile -t COMPREPLY < <(compgen -W "$(_xsched_commands "$xsched")" -- "$cur")
        return 0 ;;
      policy)
        mapfile -t COMPREPLY < <(compgen -W "$(_xsched_policies "$xsched")" -- "$cur")
        return 0 ;;
      run)
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
        return 0 ;;
    esac
  fi
  mapfile -t COMPREPLY < <(compgen -W "$(_xsched_options "$xsched" "$cmd")" -- "$cur")
  return 0
}

complete -F _xsched xsched
