# LIN-NTP-001 detect: is the clock reported as synchronised?
s=$(timedatectl show -p NTPSynchronized --value 2>/dev/null)
case "$s" in yes) d=false; sv=true ;; no) d=true; sv=false ;; *) d=true; sv=false ;; esac
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"synchronized":%s}}\n' "$d" "$sv"
