# LIN-BACKUP-001 verify: the unit's last run ended with Result=success within `max_age_hours`.
u=$(msp_param job_name); mx=$(msp_param max_age_hours)
r=unknown; age=-1
if [ -d /run/systemd/system ]; then
  r=$(systemctl show -p Result --value "$u" 2>/dev/null | tr -cd 'a-z-'); [ -n "$r" ] || r=unknown
  ts=$(systemctl show -p ExecMainExitTimestamp --value "$u" 2>/dev/null)
  e=$(date -d "$ts" +%s 2>/dev/null) && [ -n "$ts" ] && age=$(( ($(date +%s) - e) / 3600 ))
fi
rc=false; [ "$age" -ge 0 ] && [ "$age" -le "$mx" ] && rc=true
v=false; [ "$r" = success ] && [ "$rc" = true ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"unit":"%s","result":"%s","recent":%s,"age_hours":%d}}\n' "$v" "$u" "$r" "$rc" "$age"
