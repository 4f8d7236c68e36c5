# MAC-GK-001 detect: are Gatekeeper assessments enabled?
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
a=$(spctl --status 2>&1 | sed -n 's/^assessments \([a-z]*\)$/\1/p' | head -n 1)
case "$a" in enabled) d=false ;; disabled) d=true ;; *) d=true; a=unknown ;; esac
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"assessments":"%s"}}\n' "$d" "$a"
