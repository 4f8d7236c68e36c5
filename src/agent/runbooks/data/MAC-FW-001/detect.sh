# MAC-FW-001 detect: is the application firewall on? (State 1 = on, 2 = on and blocking all)
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
s=$(socketfilterfw --getglobalstate 2>&1 | sed -n 's/.*(State = \([0-9]\)).*/\1/p' | head -n 1)
case "$s" in 1|2) d=false; e=true ;; 0) d=true; e=false ;; *) d=true; e=false; s=-1 ;; esac
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"enabled":%s,"state":%s}}\n' "$d" "$e" "$s"
