# LIN-KERN-001 detect: runtime values of the hardened parameters.
rd() { v=$(cat "/proc/sys/net/$1" 2>/dev/null | tr -cd '0-9'); [ -n "$v" ] && echo "$v" || echo -1; }
f=$(rd ipv4/ip_forward); s=$(rd ipv4/tcp_syncookies); r=$(rd ipv4/conf/all/accept_redirects)
d=true; [ "$f" = 0 ] && [ "$s" = 1 ] && [ "$r" = 0 ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"ip_forward":%d,"tcp_syncookies":%d,"accept_redirects":%d}}\n' "$d" "$f" "$s" "$r"
