# APPL-CERT-001 verify: the certificate file is valid for at least min_days more days.
p=$(msp_param cert_path); days=$(msp_param min_days)
readable=false; ok=false
if [ -r "$p" ] && openssl x509 -noout -in "$p" >/dev/null 2>&1; then
  readable=true
  openssl x509 -noout -checkend $(( days * 86400 )) -in "$p" >/dev/null 2>&1 && ok=true
fi
r=$ok
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"readable":%s,"valid_long_enough":%s}}\n' "$r" "$readable" "$ok"
