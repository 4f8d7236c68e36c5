# LIN-LOG-001 detect: journal persistent (journal directory present) or our forwarding drop-in?
jd=$(msp_param journal_dir); rd=$(msp_param rsyslog_dropin_dir)
jp=false; [ -d "$jd" ] && jp=true
fw=false; [ -f "$rd/60-msp-agent-forward.conf" ] && fw=true
d=true; { [ "$jp" = true ] || [ "$fw" = true ]; } && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"journal_persistent":%s,"forwarding":%s}}\n' "$d" "$jp" "$fw"
