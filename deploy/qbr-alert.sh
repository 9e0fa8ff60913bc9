#!/bin/sh
# qbr-alert.sh UNIT — report a failed unit: the journal (tag qbr-alert, priority err),
# and mail to $QBR_ALERT_EMAIL when set and a `mail` command exists. Started by
# qbr-alert@.service (OnFailure= of qbr-refresh.service); safe to run by hand.
unit="${1:?usage: qbr-alert.sh UNIT}"
qbr="${QBR_BIN:-/opt/qbr/.venv/bin/qbr}"
result="$(systemctl show -P Result "$unit" 2>/dev/null)"
status="$(systemctl show -P ExecMainStatus "$unit" 2>/dev/null)"
case "$status" in
    1) meaning="failed: the build failed, the previous marts stay" ;;
    2) meaning="bad option or configuration: nothing ran" ;;
    4) meaning="partial: a source failed, its data is as of its last good load" ;;
    130) meaning="interrupted" ;;
    *) meaning="" ;;
esac
msg="$(hostname): $unit failed (result ${result:-unknown}, exit status ${status:-unknown}${meaning:+: $meaning})"
report="$("$qbr" status 2>&1)"
printf '%s\n%s\n' "$msg" "$report" | systemd-cat -t qbr-alert -p err
if [ -n "$QBR_ALERT_EMAIL" ] && command -v mail >/dev/null 2>&1; then
    {
        printf '%s\n\n%s\n\nLast lines of its log:\n' "$msg" "$report"
        journalctl -u "$unit" -n 40 --no-pager -o cat 2>&1
    } | mail -s "[qbr] $unit failed on $(hostname)" "$QBR_ALERT_EMAIL"
fi
exit 0
