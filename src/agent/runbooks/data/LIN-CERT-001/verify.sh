# LIN-CERT-001 verify: re-read notAfter; at least 30 days must remain.
p=$(msp_param path)
end=$(openssl x509 -noout -enddate -in "$p" 2>/dev/null | sed -n 's/^notAfter=//p')
e=$(date -d "$end" +%s 2>/dev/null); now=$(date +%s)
left=-99999; [ -n "$end" ] && [ -n "$e" ] && left=$(( (e - now) / 86400 ))
v=false; [ "$left" -ge 30 ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"path":"%s","days_left":%d}}\n' "$v" "$p" "$left"
