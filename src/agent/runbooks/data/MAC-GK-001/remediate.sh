# MAC-GK-001 remediate: enable Gatekeeper assessments (idempotent).
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
command -v spctl >/dev/null 2>&1 || { res not_applicable false '' "spctl not found: not a macOS host"; exit 0; }
[ "$(spctl --status 2>&1)" = "assessments enabled" ] && { res ok false '' "already enabled"; exit 0; }
if spctl --global-enable >/dev/null 2>&1; then act="spctl --global-enable"
elif spctl --master-enable >/dev/null 2>&1; then act="spctl --master-enable"
else res failed false '' "spctl could not enable assessments"; exit 0; fi
res ok true "\"$act\"" ""
