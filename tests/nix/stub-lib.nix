# The few nixpkgs `lib` functions nix/module.nix uses, written out so the module can be evaluated
# with Debian's nix-bin alone (no nixpkgs): options become plain records with their default,
# mkIf/mkMerge are applied at once (a merge concatenates lists and merges attribute sets
# recursively, as the module system does for the options used here), types are names only.
let
  isOption = x: builtins.isAttrs x && (x._type or null) == "option";
  merge = a: b:
    if builtins.isAttrs a && builtins.isAttrs b then
      a // builtins.mapAttrs (k: v: if a ? ${k} then merge a.${k} v else v) b
    else if builtins.isList a && builtins.isList b then a ++ b
    else b;
  type = name: { inherit name; };
in
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = what: mkOption { default = false; description = "Whether to enable ${what}."; };
  mkIf = cond: value: if cond then value else { };
  mkMerge = builtins.foldl' merge { };
  mkForce = x: x;
  optional = cond: x: if cond then [ x ] else [ ];
  elem = builtins.elem;
  concatStringsSep = builtins.concatStringsSep;
  optionalAttrs = cond: attrs: if cond then attrs else { };
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  removePrefix = prefix: s:
    if hasPrefix prefix s then
      builtins.substring (builtins.stringLength prefix) (builtins.stringLength s) s
    else s;
  types = {
    package = type "package";
    path = type "path";
    str = type "str";
    bool = type "bool";
    int = type "int";
    port = type "port";
    listOf = t: type "listOf ${t.name}";
    attrsOf = t: type "attrsOf ${t.name}";
  };
  # The defaults of an option tree, with `settings` laid over them (for the harness).
  defaults = opts: if isOption opts then opts.default or null else builtins.mapAttrs (_: defaults) opts;
  inherit merge;
}
