# MAC-GK-001 verify: spctl --status reads back "assessments enabled".
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
a=$(spctl --status 2>&1 | sed -n 's/^assessments \([a-z]*\)$/\1/p' | head -n 1)
v=false; [ "$a" = enabled ] && v=true
[ -n "$a" ] || a=unknown
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"assessments":"%s"}}\n' "$v" "$a"
