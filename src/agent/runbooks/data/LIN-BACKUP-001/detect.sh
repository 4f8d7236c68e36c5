# LIN-BACKUP-001 detect: did `job_name` last succeed within `max_age_hours`?
u=$(msp_param job_name); mx=$(msp_param max_age_hours)
r=unknown; age=-1
if [ -d /run/systemd/system ]; then
  r=$(systemctl show -p Result --value "$u" 2>/dev/null | tr -cd 'a-z-'); [ -n "$r" ] || r=unknown
  ts=$(systemctl show -p ExecMainExitTimestamp --value "$u" 2>/dev/null)
  e=$(date -d "$ts" +%s 2>/dev/null) && [ -n "$ts" ] && age=$(( ($(date +%s) - e) / 3600 ))
fi
d=true; [ "$r" = success ] && [ "$age" -ge 0 ] && [ "$age" -le "$mx" ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"unit":"%s","result":"%s","age_hours":%d}}\n' "$d" "$u" "$r" "$age"
