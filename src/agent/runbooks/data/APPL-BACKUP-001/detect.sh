# APPL-BACKUP-001 detect: the backup unit's last run failed or is older than max_age_hours?
lim=$(msp_param max_age_hours)
unit=$(msp_param job_name)
out=$(systemctl show -p Result -p ExecMainExitTimestamp --timestamp=unix "$unit.service" 2>/dev/null)
res=$(printf '%s\n' "$out" | sed -n 's/^Result=//p' | head -n1 | tr -cd 'a-z-')
ts=$(printf '%s\n' "$out" | sed -n 's/^ExecMainExitTimestamp=@//p' | head -n1 | tr -cd '0-9')
[ -n "$res" ] || res=unknown
age=999999; [ -n "$ts" ] && age=$(( ($(date +%s) - ts) / 3600 ))
[ "$age" -ge 0 ] || age=0
rc=false; [ "$age" -le "$lim" ] && rc=true
r=true; [ "$res" = success ] && [ "$age" -le "$lim" ] && r=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"result":"%s","age_hours":%d,"recent":%s}}\n' "$r" "$res" "$age" "$rc"
