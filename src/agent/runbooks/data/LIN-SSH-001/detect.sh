# LIN-SSH-001 detect: effective global PermitRootLogin / PasswordAuthentication (first value wins).
cfg=$(msp_param config)
msp_first() { awk -v k="$1" 'tolower($1)=="match"{exit} tolower($1)==k{print tolower($2); exit}' "$cfg" | tr -cd 'a-z0-9-'; }
if [ ! -r "$cfg" ]; then
  printf 'MSP_RESULT {"phase":"detect","drifted":false,"observed":{"readable":false}}\n'; exit 0
fi
rl=$(msp_first permitrootlogin); [ -n "$rl" ] || rl=prohibit-password
pa=$(msp_first passwordauthentication); [ -n "$pa" ] || pa=yes
d=false; { [ "$rl" = yes ] || [ "$pa" = yes ]; } && d=true
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"readable":true,"root_login":"%s","password_auth":"%s"}}\n' "$d" "$rl" "$pa"
