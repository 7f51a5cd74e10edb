# shellcheck shell=sh
# Check helpers shared by dom0 (lib/dom0.sh, bash) and the domU
# (lib/guest.sh, busybox sh). POSIX sh. The includer defines
#   xe_record STATUS NAME [REASON]     STATUS is PASS or FAIL
# which publishes one result (dom0: a results file; domU: its console).
# Every helper returns 0 on PASS and 1 on FAIL, so a scenario can write
#   check lun-visible test -b /dev/sda || return
# SPDX-License-Identifier: GPL-2.0-or-later

: "${XE_CHECK_OUT:=/tmp/xe-check.out}"

# One line, at most 300 characters.
xe_oneline() {
    tr '\r\n\t' '   ' | sed 's/  */ /g; s/^ //; s/ $//' | cut -c1-300
}

pass() { xe_record PASS "$1" "${2:-}"; return 0; }
fail() { xe_record FAIL "$1" "$(printf '%s' "${2:-failed}" | xe_oneline)"; return 1; }

# check NAME COMMAND [ARGS...]: PASS if COMMAND exits 0. On failure the
# reason holds the exit status, the command and its last output line.
check() {
    _xe_n=$1
    shift
    if "$@" > "$XE_CHECK_OUT" 2>&1; then
        pass "$_xe_n"
    else
        _xe_rc=$?
        _xe_last=$(grep -v '^[[:space:]]*$' "$XE_CHECK_OUT" | tail -n 2 | xe_oneline)
        fail "$_xe_n" "exit $_xe_rc from: $*${_xe_last:+ -- $_xe_last}"
    fi
}

# check_sh NAME 'shell code': like check, for pipelines and conditions.
check_sh() {
    check "$1" sh -c "$2"
}

# check_eq NAME ACTUAL EXPECTED [WHAT]
check_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1" "${4:+$4: }got '$2', expected '$3'"
    fi
}

# check_ge NAME ACTUAL MINIMUM [WHAT]   (integers)
check_ge() {
    if [ -n "$2" ] && [ "$2" -eq "$2" ] 2>/dev/null && [ "$2" -ge "$3" ]; then
        pass "$1"
    else
        fail "$1" "${4:+$4: }got '$2', expected >= $3"
    fi
}

# check_match NAME STRING EXTENDED-REGEX [WHAT]
check_match() {
    if printf '%s\n' "$2" | grep -Eq -- "$3"; then
        pass "$1"
    else
        fail "$1" "${4:+$4: }'$(printf '%s' "$2" | xe_oneline)' does not match /$3/"
    fi
}
