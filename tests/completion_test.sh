#!/usr/bin/env bash
# The bash completion and the man pages, against the program they describe:
# sourced in bash, the completion completes `xsched po<TAB>` to `policy`,
# `xsched set --pr<TAB>` to `--priority`, policy names and option values;
# xsched.1 names every command of `xsched help` and every option of each
# command's --help, xschedd.8 every option of `xschedd --help`.
#
#   completion_test.sh XSCHED SOURCE_DIR
set -u
xsched=$1 source=$2
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
PATH=$(dirname "$xsched"):$PATH
# shellcheck source=/dev/null
source "$source/dist/completion/xsched.bash"
complete -p xsched | grep -q -- "-F _xsched xsched"; check "complete -p xsched names _xsched" $?

# complete WORD...: what _xsched offers for the last word, sorted, on one line.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="${COMP_WORDS[*]}"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _xsched xsched "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {  # expect "WORDS" WANT
  local got
  read -r -a words <<<"$1"
  [[ $1 == *" " ]] && words+=("")
  got=$(complete_words "${words[@]}")
  [ "$got" = "$2" ] || echo "     '$1<TAB>' gave '$got'"
  check "'$1<TAB>' -> '$2'" "$([ "$got" = "$2" ]; echo $?)"
}
expect "xsched po" "policy"
expect "xsched set --pr" "--priority"
expect "xsched s" "samples set"
expect "xsched set --de" "--deadline-us --device"
expect "xsched policy ba" "bandwidth"
expect "xsched run --policy fa" "fair"
expect "xsched run --level " "1 2 3 auto"
expect "xsched samples --su" "--summary"
expect "xsched help li" "list"
expect "xsched run --tr" "--trace --trace-file"

# ---- the man pages name what the program has ----
man1=$source/dist/man/xsched.1 man8=$source/dist/man/xschedd.8
for cmd in $(_xsched_commands "$xsched"); do
  grep -q "^\.SS $cmd\b" "$man1"; check "xsched.1 has a section for '$cmd'" $?
  for opt in $(_xsched_options "$xsched" "$cmd"); do
    [ "$opt" = --help ] && continue
    grep -qF -- "${opt//-/\\-}" "$man1"; check "xsched.1 names $cmd's $opt" $?
  done
done
xschedd=$(dirname "$xsched")/xschedd
if [ -x "$xschedd" ]; then
  for opt in $("$xschedd" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    grep -qF -- "${opt//-/\\-}" "$man8"; check "xschedd.8 names $opt" $?
  done
fi
if command -v groff >/dev/null; then
  for m in "$man1" "$man8"; do
    out=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
    [ -z "$out" ]; st=$?  # taken before the message's $(...) resets $?
    check "groff reads $(basename "$m") without a warning" $st
  done
fi

[ $fail -eq 0 ] && echo "completion_test: all passed" || echo "completion_test: failures"
exit $fail
