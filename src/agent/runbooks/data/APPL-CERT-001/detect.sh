# APPL-CERT-001 detect: does the certificate expire within min_days days?
p=$(msp_param cert_path); days=$(msp_param min_days)
readable=false; ok=false
if [ -r "$p" ] && openssl x509 -noout -in "$p" >/dev/null 2>&1; then
  readable=true
  openssl x509 -noout -checkend $(( days * 86400 )) -in "$p" >/dev/null 2>&1 && ok=true
fi
[ "$readable" = true ] || { echo "certificate unreadable: $p" >&2; exit 3; }
r=true; [ "$ok" = true ] && r=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"readable":%s,"valid_long_enough":%s}}\n' "$r" "$readable" "$ok"
