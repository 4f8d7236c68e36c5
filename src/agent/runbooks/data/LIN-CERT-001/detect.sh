# LIN-CERT-001 detect: does the certificate at `path` expire within 30 days?
p=$(msp_param path)
end=$(openssl x509 -noout -enddate -in "$p" 2>/dev/null | sed -n 's/^notAfter=//p')
e=$(date -d "$end" +%s 2>/dev/null); now=$(date +%s)
left=-99999; [ -n "$end" ] && [ -n "$e" ] && left=$(( (e - now) / 86400 ))
d=true; [ "$left" -ge 30 ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"path":"%s","days_left":%d}}\n' "$d" "$p" "$left"
